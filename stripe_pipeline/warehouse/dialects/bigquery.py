"""BigQuery (`bigquery://project/dataset`, through sqlalchemy-bigquery and google-cloud-bigquery):
tables go in the dataset the URL names, made if missing. Credentials are found the way Google's
libraries find them (GOOGLE_APPLICATION_CREDENTIALS, gcloud's, the metadata server); with
BIGQUERY_EMULATOR_HOST set, Google's convention for an emulator, the client talks to it
anonymously.

- Tables are made through the client's table API, not DDL: JSON columns are JSON, timestamps
  TIMESTAMP (sqlalchemy-bigquery would make them zoneless DATETIME, compiled below), column
  descriptions are the models' comments, tables with `created` are partitioned by its month
  (daily partitions would pass BigQuery's 4,000 per table for accounts older than 11 years) and
  clustered by their key, which every MERGE and ID lookup filters on.
- A flush is one load job into a staging table, then ONE `MERGE` under the rule every warehouse
  applies (rules.py: unchanged rows are not rewritten, an older `_observed_at` never replaces a
  newer one). A statement per row would cost a DML job each and hit BigQuery's DML quotas.
- A flush's deletions are one load job and one MERGE too (`mark_deleted`); objects that failed
  to sync are a MERGE each in `_stripe_sync_errors` (`_MergeInsert`): few per run.
- The portable upsert (`upsert`), which only a caller asking for it takes, is a MERGE a row too:
  the DB-API runs an executemany as a job a row.
- A new field's column is added through the table API too (`add_column`): typed and described as
  a new table's, NULLABLE (BigQuery takes no REQUIRED column on a table holding rows).
- The metric tables are replaced by one load job that truncates (`replace_table`): pandas'
  multi-row INSERTs would bind past BigQuery's 10,000 query parameters, a DML job a chunk.
- JSON paths (the metrics'): JSON_VALUE for text, LAX_INT64 and LAX_BOOL of JSON_QUERY for numbers
  and booleans, JSON_QUERY for JSON.
- The sync's own state cannot live here (a row update per API request, locks): a BigQuery
  warehouse requires STATE_URL (Dialect.keeps_state, checked in warehouse.py).
- google-cloud-bigquery's DB-API cannot bind a JSON parameter (it knows no JSON scalar type):
  JSON values go as text through PARSE_JSON (`_MergeInsert`), or in a load job.

Gaps of the emulator the tests run against (bqemulator 1.4), and what the code does about them:
- `CREATE TABLE` DDL loses JSON (made STRING), descriptions, partitioning and clustering: the
  table API, which real BigQuery also takes, keeps them all.
- A load job's multipart upload is refused (its data part's `*/*` content type): the load goes
  as a resumable upload (`size=None`), which real BigQuery takes as well.
- Queries by `jobs.query` (the client's query_and_wait, which the DB-API cursor uses) come back
  without rows or schema when they read a table: the emulator's client sends each as a job and
  fetches its results (EmulatorClient), as the client does for a job ID; the rows a DML
  statement changed, which the emulator's query results omit, are taken from the job's statistics.
- A job's `dml_stats` (inserted and updated rows) is empty: the new keys are counted with a
  SELECT on the staging table first; real BigQuery could spare that query.
- A table's schema update (tables.patch) that adds fields changes the emulator's catalog but not
  its DuckDB table, and `ALTER TABLE … ADD COLUMN` the reverse: its launcher
  (tests/emulators/bqemulator_server.py) adds the new fields' columns to the DuckDB table too.
- A statement naming a dataset that does not exist fails as DuckDB's `Catalog Error: Schema …
  does not exist` (400 invalidQuery), where BigQuery answers 404 notFound; nothing here depends on it.
- A MERGE costs the emulator 0.2-0.5 s (a query ~20 ms): the contract tests give BigQuery smaller
  data (test_metrics' account, test_warehouse's concurrent writers and portable upserts).
"""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    URL,
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    Engine,
    MetaData,
    String,
    Table,
    TypeDecorator,
    bindparam,
    func,
    text,
)
from sqlalchemy.ext.compiler import compiles

from ..rules import TOMBSTONE_VALUES, UpsertResult, key_columns, not_older, replaces
from .base import Dialect

EMULATOR_HOST = "BIGQUERY_EMULATOR_HOST"
MAX_DESCRIPTION = 1024  # BigQuery's limit on a column description, in characters
STAGING_HOURS = 1  # a staging table a crash left behind expires by itself


class BigQuery(Dialect):
    name = "bigquery"
    kind = "bigquery"
    extra = "bigquery"
    schemas = False  # the dataset is the URL's: bigquery://project/dataset
    comments = True
    keeps_state = False
    # A flush of 20,000 rows: each costs a load job and two queries (seconds, and against the DML
    # quotas) whatever its size. The rows wait in memory until then: a few kB each.
    least_flush = 20_000
    json_codec = False  # sqlalchemy-bigquery takes no json_serializer: the client encodes JSON itself
    driver_modules = ("google.cloud.bigquery", "google.api_core", "sqlalchemy_bigquery")

    def lost_without_sqlstate(self, driver_error: BaseException) -> bool:
        return False  # the client retries its own HTTP calls; what reaches us is not a lost session

    def connection_url(self, url: URL) -> tuple[URL, dict[str, Any]]:
        host = os.environ.get(EMULATOR_HOST)
        if not host:
            return url, {}
        # sqlalchemy-bigquery would build its client from google.auth.default(), which finds no
        # credentials for an emulator: an anonymous client of the emulator is handed to it instead.
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import bigquery

        client = _emulator_client()(
            project=url.host,
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": host if "://" in host else f"http://{host}"},
            # What sqlalchemy-bigquery sets on the client it builds, so that unqualified tables are the dataset's.
            default_query_job_config=bigquery.QueryJobConfig(default_dataset=f"{url.host}.{url.database}"),
        )
        return url.update_query_dict({"user_supplied_client": "true"}), {"client": client}

    def configure(self, engine: Engine) -> None:
        # The client hands JSON columns back decoded; SQLAlchemy's JSON type would decode them again.
        engine.dialect._json_deserializer = lambda value: orjson.loads(value) if isinstance(value, (str, bytes)) else value

    @contextmanager
    def creating_tables(self, connection: Connection, schema: str | None) -> Iterator[None]:
        _client(connection).create_dataset(_dataset(connection), exists_ok=True)
        yield  # exists_ok makes each creation idempotent: no lock needed for processes racing

    def create_tables(self, connection: Connection, metadata: MetaData, tables: list[Table]) -> None:
        from google.cloud import bigquery

        client = _client(connection)
        for table in tables:
            made = bigquery.Table(f"{_dataset(connection)}.{table.name}", schema=_schema(connection, table.columns))
            if "created" in table.c and isinstance(table.c.created.type, DateTime):
                made.time_partitioning = bigquery.TimePartitioning(type_=bigquery.TimePartitioningType.MONTH, field="created")
            made.clustering_fields = [column.name for column in key_columns(table)][:4] or None
            client.create_table(made, exists_ok=True)

    def column_types(self, connection: Connection, table: str, schema: str | None) -> dict[str, str]:
        # From the table's schema: sqlalchemy-bigquery's reflection does not know JSON.
        return {field.name: field.field_type for field in _client(connection).get_table(f"{_dataset(connection)}.{table}").schema}

    def add_column(self, connection: Connection, table: Table, column: Column, schema: str | None) -> None:
        # Through the table API, as tables are made: its type and description as a new table's
        # (sqlalchemy-bigquery would compile the description as COMMENT ON, which BigQuery lacks).
        from google.cloud import bigquery

        client = _client(connection)
        made = client.get_table(f"{_dataset(connection)}.{table.name}")
        [field] = _schema(connection, [column])
        # NULLABLE whatever the model says: the rows already there have no value (BigQuery refuses a REQUIRED one).
        made.schema = [*made.schema, bigquery.SchemaField(field.name, field.field_type, mode="NULLABLE", description=field.description)]
        client.update_table(made, ["schema"])

    def primary_key(self, connection: Connection, table: str, schema: str | None) -> list[str]:
        return []  # no BigQuery table predates 0.7's key (id, _account), BigQuery came later: nothing to rekey

    def json_value(self, column: Any, *path: str, kind: str = "string") -> Any:
        where = "$." + ".".join(path)
        if kind == "string":
            return func.json_value(column, where)
        found = func.json_query(column, where)
        if kind == "json":
            return found
        # LAX_: a value of another JSON type converts, or is NULL, where CAST would fail the query.
        return func.lax_int64(found, type_=BigInteger) if kind == "integer" else func.lax_bool(found, type_=Boolean)

    def insert(self, table: Table) -> Any:
        # Taken by `_stripe_sync_errors` (errors.py), the one table still written this way: a
        # MERGE a row, fine for the few objects a run fails on. Stripe's tables take fast_upsert.
        return _MergeInsert(table)

    def upsert(self, connection: Connection, statement: Any, rows: list[dict], new: int) -> int:
        # The portable path, which fast_upsert leaves to nobody but a caller asking for it: the
        # DB-API runs the MERGE's executemany row by row and sums the rows each changed.
        return connection.execute(statement, rows).rowcount

    def fast_upsert(self, connection: Connection, table: Table, rows: list[dict]) -> UpsertResult | None:
        with _staged(connection, table, list(table.columns), rows) as staging:
            new = connection.exec_driver_sql(_new_keys_sql(connection, table, staging)).scalar() or 0
            written = connection.exec_driver_sql(_merge_sql(connection, table, staging)).rowcount
        return UpsertResult.of(len(rows), new, max(written, 0))

    def mark_deleted(self, connection: Connection, table: Table, tombstones: list[dict]) -> int | None:
        # A flush's deletions as one load job and one MERGE, under upsert.py's conditions.
        columns = [table.c[name] for name in TOMBSTONE_VALUES]
        with _staged(connection, table, columns, tombstones) as staging:
            return max(connection.exec_driver_sql(_tombstone_sql(connection, table, staging)).rowcount, 0)

    def replace_table(self, connection: Connection, name: str, schema: str | None, frame: Any) -> None:
        # One load job that truncates: pandas' INSERTs bind a parameter a value, past BigQuery's
        # 10,000 a query for a metric table of a few thousand rows, and a DML job each chunk.
        from google.cloud import bigquery

        fields = [bigquery.SchemaField(str(column), _frame_type(frame[column])) for column in frame.columns]
        rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
        data = b"".join(orjson.dumps(row, default=_isoformat, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n" for row in rows)
        config = bigquery.LoadJobConfig(
            schema=fields, source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON, write_disposition="WRITE_TRUNCATE"
        )
        client = _client(connection)
        client.load_table_from_file(io.BytesIO(data), f"{_dataset(connection)}.{name}", job_config=config, size=None).result()


def _frame_type(values: Any) -> str:
    """The BigQuery type of a pandas column (dates, as the metrics keep them, are objects)."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(values):
        return "BOOL"
    if pd.api.types.is_integer_dtype(values):
        return "INT64"
    if pd.api.types.is_float_dtype(values):
        return "FLOAT64"
    if pd.api.types.is_datetime64_any_dtype(values):
        return "TIMESTAMP"
    inferred = pd.api.types.infer_dtype(values, skipna=True)
    types = {"date": "DATE", "datetime": "TIMESTAMP", "integer": "INT64", "floating": "FLOAT64", "mixed-integer-float": "FLOAT64"}
    return types.get(inferred, "BOOL" if inferred == "boolean" else "STRING")


def _isoformat(value: Any) -> Any:
    if hasattr(value, "isoformat"):  # pandas' Timestamp, which orjson takes for no datetime
        return value.isoformat()
    raise TypeError(type(value).__name__)


@contextmanager
def _staged(connection: Connection, table: Table, columns: list[Any], rows: list[dict]) -> Iterator[str]:
    """A staging table of `columns` holding `rows`, loaded by one load job; dropped after."""
    from google.cloud import bigquery

    client = _client(connection)
    staging = f"{_dataset(connection)}._stripe_staging_{table.name}_{uuid.uuid4().hex[:12]}"
    made = bigquery.Table(staging, schema=_schema(connection, columns))
    made.expires = datetime.now(UTC) + timedelta(hours=STAGING_HOURS)
    client.create_table(made)
    try:
        data = b"".join(orjson.dumps({str(c.name): row.get(c.name) for c in columns}) + b"\n" for row in rows)
        config = bigquery.LoadJobConfig(source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON, write_disposition="WRITE_APPEND")
        # size=None: a resumable upload (the emulator refuses the multipart one; see above).
        client.load_table_from_file(io.BytesIO(data), staging, job_config=config, size=None).result()
        yield staging
    finally:
        client.delete_table(staging, not_found_ok=True)


def _tombstone_sql(connection: Connection, table: Table, staging: str) -> str:
    quote = connection.dialect.identifier_preparer.quote
    target, source = table.alias("T"), table.alias("S")
    rule = not_older(target, source.c).compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True})  # type: ignore[arg-type]
    on = " AND ".join(f"T.{quote(c.name)} = S.{quote(c.name)}" for c in key_columns(table))
    updates = ", ".join(f"{quote(name)} = S.{quote(name)}" for name in ("_deleted_at", "_synced_at", "_observed_at"))
    return (
        f"MERGE {quote(table.name)} AS T USING `{staging}` AS S ON {on} "
        f"WHEN MATCHED AND T.`_deleted_at` IS NULL AND ({rule}) THEN UPDATE SET {updates}"
    )


def _emulator_client() -> type:
    from google.cloud import bigquery

    class EmulatorClient(bigquery.Client):
        """The DB-API cursor's queries as jobs whose results are fetched: bqemulator answers the
        short path (`jobs.query`, the client's query_and_wait) without rows or schema when the
        query reads a table."""

        def query_and_wait(self, query: str, *, job_config: Any = None, page_size: int | None = None, **kw: Any) -> Any:
            job = self.query(query, job_config=job_config)
            rows = job.result(page_size=page_size)
            if rows.num_dml_affected_rows is None:  # the emulator's query results omit it; its job's statistics have it
                rows._num_dml_affected_rows = job.num_dml_affected_rows
            return rows

    return EmulatorClient


class _MergeInsert:
    """`INSERT … ON CONFLICT DO UPDATE` as BigQuery's MERGE, behind the call the rest of the
    package makes (as mysql.py does for ON DUPLICATE KEY): the incoming row is the source `S`
    (`excluded`), the table is the target, named as itself so that `set_` may read its columns."""

    def __init__(self, table: Table):
        self.table = table
        self.excluded = table.alias("S").c

    def on_conflict_do_update(self, index_elements: list, set_: dict[str, Any], where: Any = None) -> Any:
        table = self.table
        row = ", ".join(f"{_parameter(c)} AS `{c.name}`" for c in table.columns)
        compiled = lambda expression: str(expression.compile(dialect=_DIALECT(), compile_kwargs={"literal_binds": True}))  # noqa: E731
        on = " AND ".join(f"`{table.name}`.`{c.name}` = S.`{c.name}`" for c in index_elements)
        # An incoming column alone compiles without its table's name: name it, or MERGE finds it ambiguous.
        value_sql = lambda value: f"S.`{value.name}`" if any(value is c for c in self.excluded) else compiled(value)  # noqa: E731
        updates = ", ".join(f"`{name}` = {value_sql(value)}" for name, value in set_.items())
        matched = f"WHEN MATCHED AND ({compiled(where)}) " if where is not None else "WHEN MATCHED "
        columns = ", ".join(f"`{c.name}`" for c in table.columns)
        return text(
            f"MERGE `{table.name}` USING (SELECT {row}) AS S ON {on} {matched}THEN UPDATE SET {updates} "
            f"WHEN NOT MATCHED THEN INSERT ({columns}) VALUES ({', '.join(f'S.`{c.name}`' for c in table.columns)})"
        ).bindparams(*(bindparam(c.name, type_=_JSONText() if isinstance(c.type, JSON) else c.type) for c in table.columns))


def _parameter(column: Any) -> str:
    # A JSON value goes as its text, parsed in the statement: a JSON query parameter is newer than
    # some clients and emulators.
    return f"PARSE_JSON(:{column.name})" if isinstance(column.type, JSON) else f":{column.name}"


def _DIALECT() -> Any:
    from sqlalchemy.dialects import registry

    return registry.load("bigquery")()  # sqlalchemy-bigquery's, by its entry point


class _JSONText(TypeDecorator[Any]):
    impl = String
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        return None if value is None else orjson.dumps(value).decode()


def _client(connection: Connection) -> Any:
    """The google.cloud.bigquery Client behind the connection (sqlalchemy-bigquery's DB-API one)."""
    return connection.connection.driver_connection._client  # type: ignore[union-attr]


def _dataset(connection: Connection) -> str:
    url = connection.engine.url
    return f"{url.host}.{url.database}"


def _schema(connection: Connection, columns: Any) -> list[Any]:
    from google.cloud import bigquery

    return [
        bigquery.SchemaField(
            column.name,
            column.type.compile(dialect=connection.dialect),
            mode="NULLABLE" if column.nullable else "REQUIRED",
            description=_description(column.comment),
        )
        for column in columns
    ]


def _description(comment: str | None) -> Any:
    """The column's description, cut to BigQuery's limit (Dagster's column schema keeps it whole)."""
    if not comment:
        return None
    return comment if len(comment) <= MAX_DESCRIPTION else comment[: MAX_DESCRIPTION - 1] + "…"


def _new_keys_sql(connection: Connection, table: Table, staging: str) -> str:
    quote = connection.dialect.identifier_preparer.quote
    on = " AND ".join(f"T.{quote(c.name)} = S.{quote(c.name)}" for c in key_columns(table))
    return f"SELECT COUNT(*) FROM `{staging}` AS S WHERE NOT EXISTS (SELECT 1 FROM {quote(table.name)} AS T WHERE {on})"


def _merge_sql(connection: Connection, table: Table, staging: str) -> str:
    """ONE MERGE of the staging table into the table, under rules.py's `replaces`."""
    quote = connection.dialect.identifier_preparer.quote
    keys = key_columns(table)
    target, source = _Comparable(table.alias("T")), _Comparable(table.alias("S"))
    rule = replaces(target, source.c).compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True})  # type: ignore[arg-type]  # a Table by its shape
    on = " AND ".join(f"T.{quote(c.name)} = S.{quote(c.name)}" for c in keys)
    updates = ", ".join(f"{quote(c.name)} = S.{quote(c.name)}" for c in table.columns if c not in keys)
    columns = ", ".join(quote(c.name) for c in table.columns)
    values = ", ".join(f"S.{quote(c.name)}" for c in table.columns)
    return (
        f"MERGE {quote(table.name)} AS T USING `{staging}` AS S ON {on} "
        f"WHEN MATCHED AND ({rule}) THEN UPDATE SET {updates} "
        f"WHEN NOT MATCHED THEN INSERT ({columns}) VALUES ({values})"
    )


class _Comparable:
    """A table's alias whose JSON columns compare as their text: BigQuery's JSON type has no
    equality, and the rule asks whether each column IS DISTINCT FROM the incoming one."""

    def __init__(self, alias: Any):
        self.columns = [_as_text(column) for column in alias.columns]
        self.c = _Columns({column.name: column for column in self.columns})


class _Columns(dict):
    """Columns by name, as `table.c` gives them: `c["name"]`, `c.name` and `"name" in c`."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _as_text(column: Any) -> Any:
    # A label keeps the column's name, by which rules.py leaves out its NOT_COMPARED columns;
    # in a condition it renders as the expression alone.
    return func.to_json_string(column).label(column.name) if isinstance(column.type, JSON) else column


@compiles(DateTime, "bigquery")
def _timestamp(type_: DateTime, compiler: Any, **kw: Any) -> str:
    """A timestamp that keeps its instant: TIMESTAMP (sqlalchemy-bigquery makes every DateTime a
    zoneless DATETIME)."""
    return "TIMESTAMP" if type_.timezone else "DATETIME"
