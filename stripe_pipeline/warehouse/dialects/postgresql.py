"""PostgreSQL: tables in a schema of their own (`stripe`), JSONB columns, and everything shared
between processes and machines kept in the database itself.

- Upserts: a flush is ONE statement with ONE parameter, the rows as a JSON array of arrays
  unpacked by the server, which also counts inserts and updates (`xmax = 0` marks a row the
  statement inserted). Measured with `python -m benchmarks.upsert` (docs/performance.md): 7 to
  15 times the rows per second of the portable statement, 2-3 % of its client CPU per row and
  about half its server CPU. Tables with column types the batch does not cover take the
  portable statement (warehouse/upsert.py).
- The sync lock: a session-level advisory lock, dropped by the server when its connection goes
  (server.py's SessionLock).
- The request budget: a row per bucket in `_stripe_rate_budget`, advanced by one
  `UPDATE … RETURNING` (the row lock lasts one statement; server.py's RowSlotStore).
"""

from __future__ import annotations

import functools
import hashlib
import operator
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    Boolean,
    Connection,
    DateTime,
    Engine,
    Enum,
    Float,
    Integer,
    String,
    Table,
    bindparam,
    cast,
    column,
    func,
    inspect,
    literal_column,
    select,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateSchema
from sqlalchemy.sql import ColumnElement

from ..rules import NOT_COMPARED, UpsertResult, key_columns, replaces
from .base import Dialect
from .server import RowSlotStore, SessionLock, qualified_name

# CREATE SCHEMA IF NOT EXISTS still races between two sessions: they take this lock first.
_DDL_LOCK_KEY = zlib.crc32(b"stripe_pipeline.ddl")


class PostgreSQL(Dialect):
    name = "postgresql"
    driver_modules = ("psycopg", "psycopg2")
    kind = "postgres"
    driver = "postgresql+psycopg"  # psycopg (v3) is the driver we ship; a bare postgresql:// URL would ask for psycopg2
    writes_in_background = True
    comments = True
    slots_in_table = True

    def insert(self, table: Table) -> Any:
        return postgresql.insert(table)

    @contextmanager
    def creating_tables(self, connection: Connection, schema: str | None) -> Iterator[None]:
        connection.execute(select(func.pg_advisory_xact_lock(_DDL_LOCK_KEY)))  # until the transaction ends
        if schema:
            connection.execute(CreateSchema(schema, if_not_exists=True))
        yield

    def rekey(self, connection: Connection, table: Table, schema: str | None) -> None:
        # In place: a new index, no copy of the rows.
        name = qualified_name(connection, table)
        pkey = inspect(connection).get_pk_constraint(table.name, schema=schema)["name"]
        connection.exec_driver_sql(f"UPDATE {name} SET _account = '' WHERE _account IS NULL")
        connection.exec_driver_sql(
            f"ALTER TABLE {name} ALTER COLUMN _account SET DEFAULT '', ALTER COLUMN _account SET NOT NULL, "
            f'DROP CONSTRAINT "{pkey}", ADD PRIMARY KEY (id, _account)'
        )
        for index in table.indexes:  # a child table's parent index gains the account
            schema_prefix = f'"{schema}".' if schema else ""
            connection.exec_driver_sql(f'DROP INDEX IF EXISTS {schema_prefix}"{index.name}"')
            index.create(connection)

    def fast_upsert(self, connection: Connection, table: Table, rows: list[dict]) -> UpsertResult | None:
        batch = _json_batch(table, _taken_from_raw(table, rows))
        return batch.upsert(connection, rows) if batch is not None else None

    def session_lock(self, engine: Engine, name: str) -> AdvisoryLock:
        return AdvisoryLock(engine, name)

    def slot_store(self, engine: Engine, retrying: Callable[[Callable[[], float]], float]) -> PostgresSlotStore:
        return PostgresSlotStore(engine, retrying)


# -- upserts: one JSON batch per statement ----------------------------------------------------


def _encode(batch: list) -> str:
    # A tenth of the standard library's time. orjson writes datetimes as ISO 8601, offset and
    # microseconds included: what PostgreSQL's timestamptz input reads, as `isoformat()` would.
    return orjson.dumps(batch, default=_isoformat).decode()


def _isoformat(value: Any) -> str:
    # What orjson does not know itself, e.g. pandas' Timestamp (a datetime subclass).
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


_PG = postgresql.dialect()


@dataclass(frozen=True)
class _JsonBatch:
    """One table's statement that unpacks the JSON batch, and how a row becomes its array."""

    statement: Any
    row_values: Callable[[dict], tuple]

    def upsert(self, connection: Connection, rows: list[dict]) -> UpsertResult | None:
        try:
            batch = [self.row_values(row) for row in rows]
        except KeyError:
            return None  # rows without some columns: the portable statement decides what that means
        written, inserted = connection.execute(self.statement, {"batch": _encode(batch)}).one()
        return UpsertResult(inserted=inserted, updated=written - inserted, unchanged=len(rows) - written)


def _taken_from_raw(table: Table, rows: list[dict]) -> frozenset[str]:
    """JSON columns whose value is, in every row, the very object `_raw` holds under that name
    (what the default `set_default` gives): the server reads them from `_raw` instead of the
    batch carrying the same JSON twice."""
    names = _json_columns(table)
    if not names:
        return frozenset()
    raws = [row["_raw"] if type(row.get("_raw")) is dict else {} for row in rows]
    return frozenset(
        name for name in names if all(row.get(name) is not None and row.get(name) is raw.get(name) for row, raw in zip(rows, raws))
    )


@functools.cache
def _json_columns(table: Table) -> tuple[str, ...]:
    if "_raw" not in table.c:
        return ()
    return tuple(c.name for c in table.columns if c.name != "_raw" and isinstance(c.type.dialect_impl(_PG), postgresql.JSONB))


@functools.cache
def _json_batch(table: Table, from_raw: frozenset[str] = frozenset()) -> _JsonBatch | None:
    """None when a column's type is not one the JSON batch converts exactly like the driver."""
    columns = list(table.columns)
    keys = key_columns(table)
    if [c.name for c in keys] != ["id", "_account"] or not {c.name for c in columns} - NOT_COMPARED:
        return None
    # Row n of the batch is the array of its sent column values: SQL values as JSON scalars
    # (timestamps as ISO strings), JSON columns as the JSON itself.
    sent = [c.name for c in columns if c.name not in from_raw]
    position = {name: index for index, name in enumerate(sent)}
    batch = cast(bindparam("batch", type_=String), postgresql.JSONB)
    elements = (
        func.jsonb_array_elements(batch).table_valued(column("r", postgresql.JSONB), with_ordinality="n").render_derived(name="elements")
    )

    # OFFSET 0 keeps the subquery: `_raw` is taken out of the array once per row, not once per column.
    raw_item = elements.c.r.op("->")(literal_column(str(position["_raw"]))) if "_raw" in position else literal_column("NULL::jsonb")
    rows = select(elements.c.r, raw_item.label("raw"), elements.c.n).select_from(elements).offset(0).subquery("unpacked")

    def item(index: int):
        return rows.c.r.op("->")(literal_column(str(index)))

    values: list[ColumnElement[Any]] = []
    for col in columns:
        if col.name in from_raw:
            values.append(rows.c.raw.op("->")(literal_column("'" + col.name.replace("'", "''") + "'")))
            continue
        index = position[col.name]
        text = rows.c.r.op("->>")(literal_column(str(index)))
        impl = col.type.dialect_impl(_PG)
        if isinstance(impl, postgresql.JSONB):
            values.append(item(index))
        elif isinstance(impl, String) and not isinstance(impl, Enum):
            values.append(text)  # a VARCHAR(n) column still checks its length
        elif isinstance(impl, Boolean):
            values.append(cast(text, Boolean))
        elif isinstance(impl, Integer):
            values.append(cast(text, BigInteger))
        elif isinstance(impl, Float):
            values.append(cast(text, postgresql.DOUBLE_PRECISION))
        elif isinstance(impl, DateTime) and impl.timezone:
            values.append(cast(text, DateTime(timezone=True)))
        else:
            return None
    # In the order of the array, sorted by key: the lock order.
    unpacked = select(*values).select_from(rows).order_by(rows.c.n)
    insert = postgresql.insert(table).from_select([c.name for c in columns], unpacked)
    insert = insert.on_conflict_do_update(
        index_elements=keys,
        set_={c.name: insert.excluded[c.name] for c in columns if c not in keys},
        where=replaces(table, insert.excluded),
    )
    # Counted on the server: one row comes back, not one per row written. xmax is 0 on a row
    # version this statement inserted, and set on one it updated.
    written = insert.returning(literal_column("xmax = 0", Boolean).label("inserted")).cte("written")
    statement = select(func.count(), func.count().filter(written.c.inserted)).select_from(written)
    return _JsonBatch(statement, operator.itemgetter(*sent))


# -- the sync lock and the request budget's slots -----------------------------------------------


class AdvisoryLock(SessionLock):
    """A session-level advisory lock (see SessionLock)."""

    def __init__(self, engine: Engine, name: str):
        super().__init__(engine, name)
        self._key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)

    def _lock(self, connection: Connection) -> bool:
        return bool(connection.scalar(select(func.pg_try_advisory_lock(self._key))))

    def _unlock(self, connection: Connection) -> None:
        connection.scalar(select(func.pg_advisory_unlock(self._key)))


class PostgresSlotStore(RowSlotStore):
    """One statement per reservation; the row lock lasts that long."""

    def _setup(self, cursor: Any) -> None:
        # A slot lost in a crash costs nothing, a commit that waits for the disk holds up
        # the request it is for: this connection's commits do not wait for the WAL flush.
        cursor.execute("SET synchronous_commit TO off")

    def _create(self, cursor: Any, table: str, bucket: str) -> None:
        cursor.execute(f"INSERT INTO {table} (bucket, next_slot) VALUES (%s, 0) ON CONFLICT DO NOTHING", (bucket,))

    def _advance(self, cursor: Any, table: str, bucket: str, not_before: float, interval: float) -> float:
        cursor.execute(
            f"UPDATE {table} SET next_slot = GREATEST(next_slot, %s) + %s WHERE bucket = %s RETURNING next_slot - %s",
            (not_before, interval, bucket, interval),
        )
        return cursor.fetchone()[0]
