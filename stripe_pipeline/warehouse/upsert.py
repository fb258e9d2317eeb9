"""Upserts: rows unique by id, written with INSERT … ON CONFLICT (id) DO UPDATE.

Rows whose values did not change are left alone (the WHERE on the update), so a rerun
rewrites nothing and `_synced_at` keeps telling when the data last changed.

PostgreSQL takes a batch as ONE statement with ONE parameter: the rows as a JSON array of
arrays, unpacked by the server (see `_PostgresPlan`). That keeps the client's work to a list
per row and one `json` encode per batch, a tenth of what binding every value costs, and it
counts inserts and updates from the same statement (`xmax = 0` marks a row it inserted).
Other databases, and tables with column types the JSON batch does not cover, take the
portable statement: an executemany that SQLAlchemy sends as multi-row INSERTs.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson
from sqlalchemy import Boolean, Connection, DateTime, Enum, Float, Integer, String, Table, and_, or_, select, true
from sqlalchemy.dialects import postgresql, sqlite

INSERT_BY_DIALECT = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
# Not compared: the key itself, the write time that the comparison decides on, and when the
# data was observed (the same data observed again is no change).
_NOT_COMPARED = {"id", "_synced_at", "_observed_at"}


def _not_older(table: Table, excluded):
    """Newer always wins: a row observed earlier than the one in the table never replaces it,
    whichever path wrote it. Unknown times (rows of older versions) do not block a write."""
    if "_observed_at" not in table.c:
        return true()
    current, incoming = table.c._observed_at, excluded["_observed_at"]
    return or_(incoming.is_(None), current.is_(None), incoming >= current)


@dataclass
class UpsertResult:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    def __iadd__(self, other: UpsertResult) -> UpsertResult:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        return self


def upsert_rows(connection: Connection, table: Table, rows: list[dict]) -> UpsertResult:
    """Upsert rows (unique by id) inside the caller's transaction."""
    if not rows:
        return UpsertResult()
    # The same lock order in every writer: overlapping upserts wait for each other instead of deadlocking.
    rows = sorted(rows, key=_by_id)
    if connection.dialect.name == "postgresql" and connection.dialect.driver in _JSON_BATCH_DRIVERS:
        plan = _postgres_plan(table, qualified_name(connection, table))
        if plan is not None:
            result = plan.upsert(connection, rows)
            if result is not None:
                return result
    return _upsert_portable(connection, table, rows)


_by_id = operator.itemgetter("id")


def _upsert_portable(connection: Connection, table: Table, rows: list[dict]) -> UpsertResult:
    """An executemany of one cached statement: SQLAlchemy's "insertmanyvalues" sends it as
    multi-row INSERTs, without compiling a new statement for every batch of rows."""
    ids = [row["id"] for row in rows]
    existing = set(connection.scalars(select(table.c.id).where(table.c.id.in_(ids))))
    written = set(connection.scalars(_upsert_statement(connection.dialect.name, table), rows))
    inserted = len(written - existing)
    return UpsertResult(inserted=inserted, updated=len(written) - inserted, unchanged=len(rows) - len(written))


@functools.cache
def _upsert_statement(dialect: str, table: Table):
    insert = INSERT_BY_DIALECT[dialect](table)
    excluded = insert.excluded
    return insert.on_conflict_do_update(
        index_elements=[table.c.id],
        set_={column.name: excluded[column.name] for column in table.columns if column.name != "id"},
        where=and_(
            _not_older(table, excluded),
            or_(*(column.is_distinct_from(excluded[column.name]) for column in table.columns if column.name not in _NOT_COMPARED)),
        ),
    ).returning(table.c.id)


# -- PostgreSQL: one JSON batch per statement ---------------------------------------------

# Drivers that take `%s` placeholders from exec_driver_sql.
_JSON_BATCH_DRIVERS = ("psycopg", "psycopg2")
_PG = postgresql.dialect()


def _encode(batch: list) -> str:
    # A tenth of the standard library's time. orjson writes datetimes as ISO 8601, offset and
    # microseconds included: what PostgreSQL's timestamptz input reads, as `isoformat()` would.
    return orjson.dumps(batch, default=_isoformat).decode()


def _isoformat(value: Any) -> str:
    # What orjson does not know itself, e.g. pandas' Timestamp (a datetime subclass).
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


# JSON columns whose value is the very object in `_raw` are read from `_raw` on the server
# instead of being encoded twice; a bigint flags them, so at most this many per table.
_MAX_FLAGGED = 62
_BATCH = "\x00batch\x00"  # where the parameter goes, until the statement is escaped for the driver


def qualified_name(connection: Connection, table: Table) -> str:
    """The table's name as the connection sees it: the engine's schema_translate_map applied."""
    schema = table.schema
    translate = connection.get_execution_options().get("schema_translate_map")
    if translate and schema in translate:
        schema = translate[schema]
    quote = _PG.identifier_preparer
    name = quote.quote(table.name)
    return f"{quote.quote_schema(schema)}.{name}" if schema else name


def _never(_key: str) -> object:
    return _never  # identical to no row value: a `_raw` that is not an object flags nothing


@dataclass(frozen=True)
class _PostgresPlan:
    """How one table's rows become the JSON batch, and the statement that unpacks it.

    Row i of the batch is `[value of column 0, …, value of column n-1, flags]`: SQL values as
    JSON scalars (timestamps as ISO strings), JSON columns as the JSON itself. A JSON column
    whose value is the same object as the key of that name in `_raw` (what `set_default`
    gives) is sent as null with its flag bit set, and read back as `_raw->'name'`: the same
    JSON, encoded and parsed once instead of twice.
    """

    statement: str
    row_to_list: Callable[[dict], list]

    def upsert(self, connection: Connection, rows: list[dict]) -> UpsertResult | None:
        try:
            batch = [self.row_to_list(row) for row in rows]
        except KeyError:
            return None  # rows without some columns: the portable statement decides what that means
        written, inserted = connection.exec_driver_sql(self.statement, (_encode(batch),)).one()
        return UpsertResult(inserted=inserted, updated=written - inserted, unchanged=len(rows) - written)


@functools.cache
def _postgres_plan(table: Table, qualified_name: str) -> _PostgresPlan | None:
    """None when a column's type is not one the JSON batch converts exactly like the driver."""
    columns = list(table.columns)
    names = [column.name for column in columns]
    if [column.name for column in table.primary_key.columns] != ["id"] or not set(names) - _NOT_COMPARED:
        return None
    quote = _PG.identifier_preparer.quote
    raw = names.index("_raw") if "_raw" in names and isinstance(table.c._raw.type.dialect_impl(_PG), postgresql.JSONB) else None

    selects: list[str] = []  # SQL expression per column, over `r` (the row's array), `raw` and `flags`
    items: list[str] = []  # Python expression per column, over `row`
    checks: list[str] = []  # Python statements that flag JSON columns taken from `_raw`
    for index, column in enumerate(columns):
        impl = column.type.dialect_impl(_PG)
        key = repr(column.name)
        if isinstance(impl, postgresql.JSONB):
            if raw is None or index == raw or len(checks) == _MAX_FLAGGED:
                selects.append("raw" if index == raw else f"r->{index}")
                items.append("raw_value" if index == raw else f"row[{key}]")
                continue
            bit = 1 << len(checks)
            checks.append(
                f"    v{index} = row[{key}]\n"
                f"    if v{index} is not None and v{index} is get({key}):\n"
                f"        v{index} = None\n"
                f"        flags |= {bit}\n"
            )
            selects.append(f"CASE WHEN flags & {bit} = 0 THEN r->{index} ELSE raw->{_sql_string(column.name)} END")
            items.append(f"v{index}")
        elif isinstance(impl, String) and not isinstance(impl, Enum):
            selects.append(f"r->>{index}")  # text; a VARCHAR(n) column still checks its length
            items.append(f"row[{key}]")
        elif isinstance(impl, Boolean):
            selects.append(f"CAST(r->>{index} AS BOOLEAN)")
            items.append(f"row[{key}]")
        elif isinstance(impl, Integer):
            selects.append(f"CAST(r->>{index} AS BIGINT)")
            items.append(f"row[{key}]")
        elif isinstance(impl, Float):
            selects.append(f"CAST(r->>{index} AS DOUBLE PRECISION)")
            items.append(f"row[{key}]")
        elif isinstance(impl, DateTime) and impl.timezone:
            selects.append(f"CAST(r->>{index} AS TIMESTAMP WITH TIME ZONE)")
            items.append(f"row[{key}]")
        else:
            return None

    source = "def row_to_list(row):\n"
    if raw is not None:
        source += "    raw_value = row['_raw']\n"
        source += "    get = raw_value.get if type(raw_value) is dict else _never\n"
        source += "    flags = 0\n" + "".join(checks)
    else:
        source += "    flags = 0\n"
    source += f"    return [{', '.join(items)}, flags]\n"
    namespace = {"_never": _never}
    exec(source, namespace)  # one function per table: the per-row work without loops or lookups

    n = len(columns)
    raw_sql = f"r->{raw}" if raw is not None else "NULL::jsonb"
    quoted = [quote(name) for name in names]
    compared = [quote(name) for name in names if name not in _NOT_COMPARED]
    newer_only = (  # see _not_older
        "AND (excluded._observed_at IS NULL OR t._observed_at IS NULL OR excluded._observed_at >= t._observed_at) "
        if "_observed_at" in names
        else ""
    )
    statement = (
        # Counted on the server: one row comes back, not one per row written.
        "WITH written AS ("
        f"INSERT INTO {qualified_name} AS t ({', '.join(quoted)}) "
        f"SELECT {', '.join(selects)} FROM ("
        # OFFSET 0 keeps the subquery: `raw` is extracted once per row, not once per column.
        f"SELECT r, {raw_sql} AS raw, CAST(r->>{n} AS BIGINT) AS flags, n "
        f"FROM jsonb_array_elements(CAST({_BATCH} AS JSONB)) WITH ORDINALITY AS elements(r, n) OFFSET 0"
        # In the order of the array, sorted by id: the lock order.
        f") AS unpacked ORDER BY n "
        f"ON CONFLICT ({quote('id')}) DO UPDATE SET "
        + ", ".join(f"{name} = excluded.{name}" for name in quoted if name != quote("id"))
        + f" WHERE ({', '.join('t.' + name for name in compared)}) IS DISTINCT FROM "
        f"({', '.join('excluded.' + name for name in compared)}) "
        + newer_only
        # xmax is 0 on a row version this statement inserted, and set on one it updated.
        + "RETURNING t.xmax = 0 AS inserted"
        ") SELECT count(*), count(*) FILTER (WHERE inserted) FROM written"
    )
    # A % in a name must not read as a placeholder.
    statement = statement.replace("%", "%%").replace(_BATCH, "%s")
    return _PostgresPlan(statement, namespace["row_to_list"])


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def mark_deleted_rows(connection: Connection, table: Table, tombstones: list[dict]) -> int:
    """Set `_deleted_at` where it is still NULL, leaving the last known data in place.

    A tombstone for an ID the table has never seen becomes a row of its own, so the deletion is
    recorded rather than lost. Returns how many rows were newly marked.
    """
    tombstones = sorted(tombstones, key=lambda row: row["id"])
    return len(list(connection.scalars(_tombstone_statement(connection.dialect.name, table), tombstones)))


@functools.cache
def _tombstone_statement(dialect: str, table: Table):
    insert = INSERT_BY_DIALECT[dialect](table)
    updated = ["_deleted_at", "_synced_at"] + (["_observed_at"] if "_observed_at" in table.c else [])
    return insert.on_conflict_do_update(
        index_elements=[table.c.id],
        set_={name: insert.excluded[name] for name in updated},
        # A deletion observed before the table's row (an ID sync that found it alive later) is old news.
        where=and_(table.c._deleted_at.is_(None), _not_older(table, insert.excluded)),
    ).returning(table.c.id)
