"""Upserts: rows unique by id, written with INSERT … ON CONFLICT (id) DO UPDATE.

Whether an incoming row replaces the table's is one rule (rules.py), whichever statement
carries it. A dialect may write a flush its own faster way (`Dialect.fast_upsert`: PostgreSQL's
JSON batch, dialects/postgresql.py); otherwise, and for rows its fast path does not take, the
portable statement below: an executemany that SQLAlchemy sends as multi-row INSERTs.
"""

from __future__ import annotations

import functools
import operator

from sqlalchemy import Connection, Table, and_

from .dialects import dialect_of
from .rules import UpsertResult, new_rows, not_older, replaces

__all__ = ["UpsertResult", "mark_deleted_rows", "upsert_rows"]


def upsert_rows(connection: Connection, table: Table, rows: list[dict]) -> UpsertResult:
    """Upsert rows (unique by id) inside the caller's transaction."""
    if not rows:
        return UpsertResult()
    # The same lock order in every writer: overlapping upserts wait for each other instead of deadlocking.
    rows = sorted(rows, key=_by_id)
    result = dialect_of(connection.dialect.name).fast_upsert(connection, table, rows)
    return result if result is not None else _upsert_portable(connection, table, rows)


_by_id = operator.itemgetter("id")


def _upsert_portable(connection: Connection, table: Table, rows: list[dict]) -> UpsertResult:
    """An executemany of one cached statement: SQLAlchemy's "insertmanyvalues" (or the driver)
    sends it as multi-row INSERTs, without compiling a new statement for every batch of rows."""
    new = new_rows(connection, table, rows)
    written = dialect_of(connection.dialect.name).upsert(connection, _upsert_statement(connection.dialect.name, table), rows, new)
    return UpsertResult.of(len(rows), new, written)


@functools.cache
def _upsert_statement(dialect: str, table: Table):
    insert = dialect_of(dialect).insert(table)
    return insert.on_conflict_do_update(
        index_elements=[table.c.id],
        set_={column.name: insert.excluded[column.name] for column in table.columns if column.name != "id"},
        where=replaces(table, insert.excluded),
    )


def mark_deleted_rows(connection: Connection, table: Table, tombstones: list[dict]) -> int:
    """Set `_deleted_at` where it is still NULL, leaving the last known data in place.

    A tombstone for an ID the table has never seen becomes a row of its own, so the deletion is
    recorded rather than lost. Returns how many rows were newly marked.
    """
    tombstones = sorted(tombstones, key=_by_id)
    statement = _tombstone_statement(connection.dialect.name, table)
    return dialect_of(connection.dialect.name).upsert(connection, statement, tombstones, new_rows(connection, table, tombstones))


@functools.cache
def _tombstone_statement(dialect: str, table: Table):
    insert = dialect_of(dialect).insert(table)
    updated = ["_deleted_at", "_synced_at"] + (["_observed_at"] if "_observed_at" in table.c else [])
    return insert.on_conflict_do_update(
        index_elements=[table.c.id],
        set_={name: insert.excluded[name] for name in updated},
        # A deletion observed before the table's row (an ID sync that found it alive later) is old news.
        where=and_(table.c._deleted_at.is_(None), not_older(table, insert.excluded)),
    )
