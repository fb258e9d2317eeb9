"""Upserts: rows unique by their key (id, _account), written with INSERT … ON CONFLICT DO UPDATE.

Whether an incoming row replaces the table's is one rule (rules.py), whichever statement
carries it. A dialect may write a flush its own faster way (`Dialect.fast_upsert`: PostgreSQL's
JSON batch, dialects/postgresql.py); otherwise, and for rows its fast path does not take, the
portable statement below: an executemany that SQLAlchemy sends as multi-row INSERTs.
"""

from __future__ import annotations

import functools
import operator
from typing import Any

from sqlalchemy import Connection, Table, bindparam, update

from .dialects import Dialect
from .rules import TOMBSTONE_VALUES, UpsertResult, key_columns, new_rows, not_older, replaces

__all__ = ["UpsertResult", "mark_deleted_rows", "upsert_rows"]


def upsert_rows(dialect: Dialect, connection: Connection, table: Table, rows: list[dict]) -> UpsertResult:
    """Upsert rows (unique by key) inside the caller's transaction."""
    if not rows:
        return UpsertResult()
    # The same lock order in every writer: overlapping upserts wait for each other instead of deadlocking.
    rows = sorted(rows, key=_by_key)
    result = dialect.fast_upsert(connection, table, rows)
    return result if result is not None else _upsert_portable(dialect, connection, table, rows)


_by_key = operator.itemgetter("id", "_account")


def _upsert_portable(dialect: Dialect, connection: Connection, table: Table, rows: list[dict]) -> UpsertResult:
    """An executemany of one cached statement: SQLAlchemy's "insertmanyvalues" (or the driver)
    sends it as multi-row INSERTs, without compiling a new statement for every batch of rows."""
    new = new_rows(connection, table, rows)
    written = dialect.upsert(connection, _upsert_statement(dialect, table), rows, new)
    return UpsertResult.of(len(rows), new, written)


@functools.cache
def _upsert_statement(dialect: Dialect, table: Table):
    insert = dialect.insert(table)
    keys = key_columns(table)
    return insert.on_conflict_do_update(
        index_elements=keys,
        set_={column.name: insert.excluded[column.name] for column in table.columns if column not in keys},
        where=replaces(table, insert.excluded),
    )


def mark_deleted_rows(dialect: Dialect, connection: Connection, table: Table, tombstones: list[dict]) -> int:
    """Set `_deleted_at` where it is still NULL, leaving the last known data in place. Returns
    how many rows were newly marked.

    Only rows the table holds are marked: a deletion of an object it never held writes nothing
    (a row of NULLs would count as a deleted object the warehouse never had).
    """
    tombstones = sorted(tombstones, key=_by_key)
    marked = dialect.mark_deleted(connection, table, tombstones)
    if marked is not None:
        return marked
    parameters = [{f"t_{name}": tombstone[name] for name in TOMBSTONE_VALUES} for tombstone in tombstones]
    return connection.execute(_tombstone_statement(table), parameters).rowcount


@functools.cache
def _tombstone_statement(table: Table):
    observed: dict[str, Any] = {"_observed_at": bindparam("t__observed_at")}
    return (
        update(table)
        .where(
            table.c.id == bindparam("t_id"),
            table.c._account == bindparam("t__account"),
            table.c._deleted_at.is_(None),
            # A deletion observed before the table's row (an ID sync that found it alive later) is old news.
            not_older(table, observed),
        )
        .values(_deleted_at=bindparam("t__deleted_at"), _synced_at=bindparam("t__synced_at"), _observed_at=observed["_observed_at"])
    )
