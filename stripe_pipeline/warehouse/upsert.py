"""Upserts: rows unique by id, written with INSERT … ON CONFLICT (id) DO UPDATE.

One rule decides whether an incoming row replaces the table's (`_replaces`), whichever
statement carries it: its data must differ (unchanged rows are not rewritten, so a rerun
rewrites nothing and `_synced_at` keeps telling when the data last changed), and it must not
have been observed earlier than the table's row (newer always wins).

PostgreSQL takes a flush as ONE statement with ONE parameter: the rows as a JSON array of
arrays, unpacked by the server, which also counts inserts and updates (`xmax = 0` marks a row
the statement inserted). Measured with `python -m benchmarks.upsert` (docs/performance.md):
7 to 15 times the rows per second of the portable statement, 2-3 % of its client CPU per row
and about half its server CPU. Other databases, and tables with column types the JSON batch does not cover,
take the portable statement: an executemany that SQLAlchemy sends as multi-row INSERTs.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    Boolean,
    Connection,
    DateTime,
    Enum,
    Float,
    Integer,
    String,
    Table,
    and_,
    bindparam,
    cast,
    column,
    func,
    literal_column,
    or_,
    select,
    true,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import ColumnElement

# Both dialects' INSERTs have ON CONFLICT with `excluded`.
NativeInsert = postgresql.Insert | sqlite.Insert
INSERT_BY_DIALECT: dict[str, Callable[[Table], NativeInsert]] = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
# Not compared: the key itself, the write time that the comparison decides on, and when the
# data was observed (the same data observed again is no change).
_NOT_COMPARED = {"id", "_synced_at", "_observed_at"}


def _not_older(table: Table, excluded) -> ColumnElement[bool]:
    """Newer always wins: a row observed earlier than the one in the table never replaces it,
    whichever path wrote it. Unknown times (rows of older versions) do not block a write."""
    if "_observed_at" not in table.c:
        return true()
    current, incoming = table.c._observed_at, excluded["_observed_at"]
    return or_(incoming.is_(None), current.is_(None), incoming >= current)


def _replaces(table: Table, excluded) -> ColumnElement[bool]:
    """Whether the incoming row (`excluded`) replaces the table's: it changed, and it is not older."""
    changed = or_(*(c.is_distinct_from(excluded[c.name]) for c in table.columns if c.name not in _NOT_COMPARED))
    return and_(_not_older(table, excluded), changed)


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
    if connection.dialect.name == "postgresql":
        batch = _json_batch(table, _taken_from_raw(table, rows))
        if batch is not None:
            result = batch.upsert(connection, rows)
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
    return insert.on_conflict_do_update(
        index_elements=[table.c.id],
        set_={column.name: insert.excluded[column.name] for column in table.columns if column.name != "id"},
        where=_replaces(table, insert.excluded),
    ).returning(table.c.id)


# -- PostgreSQL: one JSON batch per statement ---------------------------------------------


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


def qualified_name(connection: Connection, table: Table) -> str:
    """The table's name as the connection sees it: the engine's schema_translate_map applied."""
    schema = table.schema
    translate = connection.get_execution_options().get("schema_translate_map")
    if translate and schema in translate:
        schema = translate[schema]
    quote = _PG.identifier_preparer
    name = quote.quote(table.name)
    return f"{quote.quote_schema(schema)}.{name}" if schema else name


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
    if [c.name for c in table.primary_key.columns] != ["id"] or not {c.name for c in columns} - _NOT_COMPARED:
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
    # In the order of the array, sorted by id: the lock order.
    unpacked = select(*values).select_from(rows).order_by(rows.c.n)
    insert = postgresql.insert(table).from_select([c.name for c in columns], unpacked)
    insert = insert.on_conflict_do_update(
        index_elements=[table.c.id],
        set_={c.name: insert.excluded[c.name] for c in columns if c.name != "id"},
        where=_replaces(table, insert.excluded),
    )
    # Counted on the server: one row comes back, not one per row written. xmax is 0 on a row
    # version this statement inserted, and set on one it updated.
    written = insert.returning(literal_column("xmax = 0", Boolean).label("inserted")).cte("written")
    statement = select(func.count(), func.count().filter(written.c.inserted)).select_from(written)
    return _JsonBatch(statement, operator.itemgetter(*sent))


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
