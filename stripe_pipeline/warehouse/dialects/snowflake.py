"""Snowflake (`snowflake://user:…@account/database/schema?warehouse=…&role=…`, through
snowflake-sqlalchemy and snowflake-connector-python: the `snowflake` extra). Tables go in schema
`stripe` (WAREHOUSE_SCHEMA) of the URL's database; JSON columns are VARIANT, timestamps
TIMESTAMP_TZ, keys VARCHAR.

- Loads: a statement costs Snowflake a round trip and a warehouse's time, so a flush is four
  statements whatever its size (10,000 rows: `least_flush`). Its rows are staged with one array-bound INSERT into a
  temporary table (the connector sends the values apart from the SQL text, and past
  CLIENT_STAGE_ARRAY_BINDING_THRESHOLD uploads them to a stage itself: the text stays far below
  Snowflake's 1 MB statement limit), then ONE `MERGE INTO t USING (SELECT … FROM stage) s ON
  key WHEN MATCHED AND <the rule> THEN UPDATE … WHEN NOT MATCHED THEN INSERT …`, under the same
  rule as everywhere (rules.py). The other two keep the staging table: CREATE TEMPORARY TABLE IF
  NOT EXISTS and DELETE. The MERGE reports the rows it inserted and updated: no query
  for the new keys beforehand.
- A flush's deletions (`mark_deleted`) are staged the same way and applied by ONE MERGE with
  no insert clause, under upsert.py's conditions: a statement each would cost a round trip each.
- Every value is staged as text and converted in the MERGE: JSON by PARSE_JSON (an array
  binding carries no VARIANT; None is JSON null, as the portable statement writes it),
  timestamps by CAST(… AS TIMESTAMP_TZ), which keeps the offset ISO 8601 gives (a datetime
  would be bound zoneless), numbers and booleans by CAST (fakesnow fails an array binding with
  a NULL number or boolean; Snowflake takes both forms).
- The sync's own state (sync state, locks, the request budget) cannot live here: a row update
  per API request, or a lock held on a session, would cost a running warehouse all day. A
  Snowflake warehouse needs STATE_URL (`keeps_state`, checked in warehouse.py); hence no session lock, no slot
  store and no lock around table creation: each table is one CREATE TABLE IF NOT EXISTS, atomic
  in Snowflake (`create_tables`).
- The staging table is temporary, so it needs the session's current database and schema: the
  URL names them (`/database/schema`). It is created unqualified because fakesnow, the emulator
  the tests run against, refuses a temporary table in a named schema (Snowflake takes both).

What fakesnow 0.12.1 (tests/integration/test_snowflake.py) lacks, and how this module and the
tests live with it: no temporary table in a named schema (unqualified, above); no COMMENT ON
COLUMN (comments inline, `configure`); no TO_TIMESTAMP_TZ (CAST, the same in Snowflake); no
NULL in an array binding of a number or boolean (all staged as text, above); a NULL
TIMESTAMP_TZ is sent without its null mask, and its login answer lacks fields connector 5 needs
(tests/emulators/fakesnow_server.py corrects both answers); every offset reads back as UTC; no
DROP DATABASE (the tests drop the schema). Two MERGEs of other sessions inserting the same key:
DuckDB refuses the second (Snowflake takes them in turn, and enforces no primary key); fakesnow
answers HTTP 500, which the connector retries (the test of processes writing at once passes
through such retries). And it rewrites each statement with sqlglot
(up to a second for a MERGE of a wide table) and runs an array binding row by row (its
CLIENT_STAGE_ARRAY_BINDING_THRESHOLD is 0, where Snowflake's connector stages anything past
65,280 values): the launcher keeps rewritten DML statements by their text, which brings a
staged row to about 2 ms, but the portable statement (a MERGE per row, each of its own text)
stays slow. So the tests write flushes of tens to hundreds of rows (the metrics' a smaller
account, the portable path's a few rows); the benchmark (`benchmarks/backfill.py --targets
snowflake`) runs full 10,000-row flushes.
"""

from __future__ import annotations

import functools
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    URL,
    BigInteger,
    Boolean,
    Connection,
    DateTime,
    Engine,
    MetaData,
    String,
    Table,
    and_,
    bindparam,
    cast,
    column,
    func,
    select,
)
from sqlalchemy import table as table_clause
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.schema import CreateColumn, CreateTable
from sqlalchemy.sql.expression import ClauseElement, Executable

from ...models.base import KeyText
from ...settings import Settings
from ..rules import TOMBSTONE_VALUES, UpsertResult, key_columns, not_older, replaces
from .base import Dialect


class Snowflake(Dialect):
    name = "snowflake"
    kind = "snowflake"
    extra = "snowflake"
    keeps_state = False
    # A statement costs Snowflake a round trip and compile time whatever its size: 10,000 rows a
    # flush (20 times the default) is one MERGE. Not more: a flush's rows are held in memory, and
    # a killed run lists again the pages since its last flush.
    least_flush = 10_000
    # One flush is one MERGE; writing it on a thread while the next rows are read would give a
    # running warehouse two statements at once for no gain in the rows per statement.
    writes_in_background = False
    driver_modules = ("snowflake.connector",)

    def connection_url(self, url: URL) -> tuple[URL, dict[str, Any]]:
        # snowflake-sqlalchemy refuses `host` in the URL's query (a URL from elsewhere could send
        # the password to another host); WAREHOUSE_URL is the operator's own setting, and a
        # private-link or proxy host, or the emulator in the tests (`?host=127.0.0.1&port=…&protocol=http`),
        # needs one.
        taken: dict[str, Any] = {name: url.query[name] for name in _CONNECTION_PARAMETERS if name in url.query}
        if "port" in taken:
            taken["port"] = int(taken["port"])
        return url.difference_update_query(taken), taken

    def credentials(self, config: Settings) -> dict[str, Any]:
        # Key pair (`?authenticator=SNOWFLAKE_JWT` in the URL) or a token (`?authenticator=oauth`,
        # or PROGRAMMATIC_ACCESS_TOKEN): the connector's own parameters, from settings that never
        # reach a log. snowflake-sqlalchemy refuses `private_key_file` in a URL's query anyway.
        secret = lambda value: value.get_secret_value() if value is not None else None  # noqa: E731
        given = {
            "private_key": secret(config.snowflake_private_key),
            "private_key_file": config.snowflake_private_key_file,
            "private_key_file_pwd": secret(config.snowflake_private_key_passphrase),
            "token": secret(config.snowflake_token),
        }
        return {name: value for name, value in given.items() if value}

    def configure(self, engine: Engine) -> None:
        # Column comments inside CREATE TABLE (`_create_column` below), not as a COMMENT ON COLUMN
        # per column afterwards: one statement per table instead of one per column, and the form
        # fakesnow parses (it refuses COMMENT ON COLUMN; Snowflake takes both).
        engine.dialect.inline_comments = True

    def create_tables(self, connection: Connection, metadata: MetaData, tables: list[Table]) -> None:
        # Without their indexes: a standard Snowflake table has none (it prunes by micro-partition
        # instead), and snowflake-sqlalchemy refuses to create one that declares any. Copies, so
        # that the models' tables keep theirs for the other warehouses of the process.
        # CREATE TABLE IF NOT EXISTS, not create_all's look then CREATE: processes that start
        # at once would both find a table missing, and the second CREATE would fail.
        bare = MetaData()
        for table in tables:
            copy = table.to_metadata(bare)
            copy.indexes.clear()
            connection.execute(CreateTable(copy, if_not_exists=True))

    def primary_key(self, connection: Connection, table: str, schema: str | None) -> list[str]:
        # No Snowflake table predates 0.7's key (id, _account): nothing to rekey, and no SHOW
        # PRIMARY KEYS round trip for each table a process first writes.
        return []

    def json_value(self, column: Any, *path: str, kind: str = "string") -> Any:
        # GET_PATH(variant, 'a.b'): a VARIANT, cast to the kind (a VARIANT string casts to its
        # text, without the quotes). snowflake-sqlalchemy compiles no JSON subscript.
        value = func.get_path(column, ".".join(path), type_=column.type)
        return value if kind == "json" else cast(value, {"string": String, "integer": BigInteger, "boolean": Boolean}[kind])

    def insert(self, table: Table) -> Any:
        return _MergeInsert(table)

    def upsert(self, connection: Connection, statement: Any, rows: list[dict], new: int) -> int:
        # The portable path (rows lacking some columns, sync errors): the connector runs a
        # MERGE's executemany row by row; its row count is the rows inserted or updated.
        return connection.execute(statement, rows).rowcount

    def fast_upsert(self, connection: Connection, table: Table, rows: list[dict]) -> UpsertResult | None:
        try:
            _stage(connection, table, list(table.columns), rows)
        except KeyError:
            return None  # rows without some columns: the portable statement decides what that means
        inserted, updated = connection.execute(_merge_from_stage(table)).one()[:2]
        return UpsertResult(inserted=inserted, updated=updated, unchanged=len(rows) - inserted - updated)

    def mark_deleted(self, connection: Connection, table: Table, tombstones: list[dict]) -> int | None:
        # A flush's deletions staged like its rows, then ONE MERGE that only updates (upsert.py's
        # conditions): an UPDATE per tombstone would cost a statement each. One tombstone a key:
        # Snowflake refuses a MERGE that two source rows update the same target row by.
        unique = list({(t["id"], t["_account"]): t for t in tombstones}.values())
        _stage(connection, table, [table.c[name] for name in TOMBSTONE_VALUES], unique)
        return connection.execute(_tombstone_merge(table)).scalar() or 0


def _stage(connection: Connection, table: Table, columns: list[Any], rows: list[dict]) -> None:
    """`rows`' values of `columns` in the session's temporary staging table for them."""
    staged = [tuple(_staged_value(column, row[column.name]) for column in columns) for row in rows]
    stage = _stage_name(table, columns)
    # IF NOT EXISTS, then DELETE: a pooled session keeps its temporary table, and DELETE,
    # unlike CREATE OR REPLACE or TRUNCATE, is DML that stays in this transaction. The DDL
    # comes first in the flush's transaction, so Snowflake's implicit commit before DDL
    # commits nothing of it.
    connection.exec_driver_sql(f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} ({_stage_columns(connection, columns)})")
    connection.exec_driver_sql(f"DELETE FROM {stage}")
    # Array binding: the connector binds an INSERT's rows apart from its text only with the
    # qmark paramstyle, while snowflake-sqlalchemy sets pyformat for the connection, which
    # would write every value into the SQL text; `_force_qmark_paramstyle` is the
    # connector's switch for one call.
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        marks = ", ".join("?" for _ in columns)
        cursor.executemany(f"INSERT INTO {stage} VALUES ({marks})", staged, _force_qmark_paramstyle=True)
    finally:
        cursor.close()


_CONNECTION_PARAMETERS = ("host", "port", "protocol")


def _stage_name(table: Table, columns: list[Any]) -> str:
    # The tombstones' stage (fewer columns) is a table apart from the rows'.
    return f"stripe_pipeline_stage_{table.name}" + ("" if len(columns) == len(table.columns) else "_deleted")


def _stage_columns(connection: Connection, columns: list[Any]) -> str:
    quote = connection.dialect.identifier_preparer.quote
    return ", ".join(f"{quote(c.name)} {_stage_type(c, connection)}" for c in columns)


def _stage_type(column: Any, connection: Connection) -> str:
    return "VARCHAR"  # every value staged as text, converted in the MERGE (the module's docstring says why)


def _staged_value(column: Any, value: Any) -> str | None:
    if isinstance(column.type, JSON):
        # None as JSON null, as the portable statement writes it (SQLAlchemy's JSON does): the
        # two paths must store the same value, or each would find the other's rows changed.
        return None if value is None and column.type.none_as_null else orjson.dumps(value).decode()
    if value is None:
        return None
    if isinstance(column.type, DateTime):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)  # an integer's digits; a float's shortest text that reads back the same


def _converted(column: Any, value: Any) -> Any:
    """A staged or bound value as its column's type."""
    if isinstance(column.type, JSON):
        return func.parse_json(value)
    if isinstance(column.type, DateTime):
        # CAST (TIMESTAMP_TZ, compiled below), not TO_TIMESTAMP_TZ: the same in Snowflake, and
        # fakesnow knows only the CAST.
        return cast(value, DateTime(timezone=True))
    if isinstance(column.type, String):
        return value
    return cast(value, column.type)  # numbers, booleans


def _from_stage(table: Table, columns: list[Any]) -> Any:
    """The staged rows, converted to their columns' types."""
    stage = table_clause(_stage_name(table, columns), *(column(c.name) for c in columns))
    return select(*(_converted(c, stage.c[c.name]).label(c.name) for c in columns))


@functools.cache
def _merge_from_stage(table: Table) -> Merge:
    return _merge(table, _from_stage(table, list(table.columns)))


@functools.cache
def _tombstone_merge(table: Table) -> Merge:
    """Flag the staged tombstones' rows deleted where upsert.py's UPDATE would: rows the table
    holds (no insert), not yet deleted, observed no later than the deletion."""
    s = _from_stage(table, [table.c[name] for name in TOMBSTONE_VALUES]).subquery("s")
    set_ = {name: s.c[name] for name in ("_deleted_at", "_synced_at", "_observed_at")}
    where = and_(table.c._deleted_at.is_(None), not_older(table, s.c))
    return Merge(table, s, key_columns(table), set_, where, inserts=False)


def _merge(table: Table, source: Any, set_: dict[str, Any] | None = None, where: Any = None, rule: bool = True) -> Merge:
    s = source.subquery("s")
    keys = key_columns(table)
    if set_ is None:
        set_ = {c.name: s.c[c.name] for c in table.columns if c not in keys}
    if rule and where is None:
        where = replaces(table, s.c)
    return Merge(table, s, keys, set_, where)


class Merge(Executable, ClauseElement):
    """MERGE INTO table USING (source) s ON key WHEN MATCHED [AND where] THEN UPDATE SET …
    WHEN NOT MATCHED THEN INSERT …: Snowflake's upsert (SQLAlchemy has no MERGE construct)."""

    inherit_cache = False  # compiled each time: once per flush

    def __init__(self, table: Table, source: Any, keys: list, set_: dict[str, Any], where: Any, inserts: bool = True):
        self.inserts = inserts  # False: WHEN NOT MATCHED is left out (a key the table lacks makes no row)
        self.table = table
        self.source = source
        self.keys = keys
        self.set_ = set_
        self.where = where


@compiles(Merge, "snowflake")
def _compile_merge(merge: Merge, compiler: Any, **kw: Any) -> str:
    quote = compiler.preparer.quote
    target = compiler.process(merge.table, asfrom=True, **kw)
    source = compiler.process(merge.source, asfrom=True, **kw)
    on = " AND ".join(f"{compiler.process(k, **kw)} = s.{quote(k.name)}" for k in merge.keys)
    sets = ", ".join(f"{quote(name)} = {compiler.process(value, **kw)}" for name, value in merge.set_.items())
    matched = f" AND ({compiler.process(merge.where, **kw)})" if merge.where is not None else ""
    names = [c.name for c in merge.table.columns if c.name in merge.source.c]
    columns = ", ".join(quote(n) for n in names)
    values = ", ".join(f"s.{quote(n)}" for n in names)
    update = f" WHEN MATCHED{matched} THEN UPDATE SET {sets}" if merge.set_ else ""
    insert = f" WHEN NOT MATCHED THEN INSERT ({columns}) VALUES ({values})" if merge.inserts else ""
    return f"MERGE INTO {target} USING {source} ON {on}{update}{insert}"


class _MergeInsert:
    """The `insert(table)` the rest of the package calls (`values`, `excluded`,
    `on_conflict_do_update`, `on_conflict_do_nothing`: sync errors, the portable upsert) as a
    MERGE whose source is one row of bound parameters: run for each row of an executemany."""

    def __init__(self, table: Table, values: dict[str, Any] | None = None):
        self.table = table
        self._values = values
        names = list(values) if values is not None else [c.name for c in table.columns]
        self._source = select(*(_converted(table.c[n], self._value(table.c[n])).label(n) for n in names)).subquery("s")
        self.excluded = self._source.c

    def _value(self, column: Any) -> Any:
        if self._values is not None:
            value = self._values[column.name]
            return bindparam(f"v_{column.name}", value, type_=column.type) if not isinstance(value, ClauseElement) else value
        # Not required: a row without some columns writes them NULL, as an INSERT of those
        # columns alone would.
        return bindparam(column.name, None, type_=column.type, required=False)

    def values(self, *args: Any, **kwargs: Any) -> _MergeInsert:
        return _MergeInsert(self.table, {**(args[0] if args else {}), **kwargs})

    def on_conflict_do_update(self, index_elements: list, set_: dict[str, Any], where: Any = None) -> Merge:
        return Merge(self.table, self._source, key_columns(self.table), set_, where)

    def on_conflict_do_nothing(self) -> Merge:
        return Merge(self.table, self._source, key_columns(self.table), {}, None)


@compiles(KeyText, "snowflake")
def _key_text(type_: KeyText, compiler: Any, **kw: Any) -> str:
    return "VARCHAR"


@compiles(JSON, "snowflake")
def _variant(type_: JSON, compiler: Any, **kw: Any) -> str:
    """The models' JSONType: semi-structured data, queried with `_raw:field`."""
    return "VARIANT"


@compiles(DateTime, "snowflake")
def _timestamp(type_: DateTime, compiler: Any, **kw: Any) -> str:
    """Timestamps keep their instant with the zone: TIMESTAMP_TZ. (Snowflake's DATETIME is
    TIMESTAMP_NTZ, which would drop the offset.)"""
    return "TIMESTAMP_TZ" if type_.timezone else "TIMESTAMP_NTZ"


@compiles(CreateColumn, "snowflake")
def _create_column(create: CreateColumn, compiler: Any, **kw: Any) -> str:
    """A column with its comment inline: `name TYPE … COMMENT '…'` (see Snowflake.configure)."""
    text = compiler.visit_create_column(create, **kw)
    comment = create.element.comment
    if text is None or not comment:
        return text
    return f"{text} COMMENT {compiler.sql_compiler.render_literal_value(comment, String())}"
