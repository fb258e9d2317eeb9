"""One multi-row INSERT … ON CONFLICT (id) DO UPDATE per chunk of rows.

Rows whose values did not change are left alone (the WHERE on the update), so a rerun
rewrites nothing and `_synced_at` keeps telling when the data last changed.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from sqlalchemy import Connection, Table, or_, select
from sqlalchemy.dialects import postgresql, sqlite

INSERT_BY_DIALECT = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
# Not compared: the key itself, and the write time that the comparison decides on.
_NOT_COMPARED = {"id", "_synced_at"}


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
    """Upsert rows (unique by id) inside the caller's transaction.

    Executed as an executemany of one cached statement: SQLAlchemy's "insertmanyvalues" sends it
    as multi-row INSERTs, without compiling a new statement for every batch of rows.
    """
    # The same lock order in every writer: overlapping upserts wait for each other instead of deadlocking.
    rows = sorted(rows, key=lambda row: row["id"])
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
        where=or_(
            *(
                column.is_distinct_from(excluded[column.name])
                for column in table.columns
                if column.name not in _NOT_COMPARED
            )
        ),
    ).returning(table.c.id)


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
    return insert.on_conflict_do_update(
        index_elements=[table.c.id],
        set_={"_deleted_at": insert.excluded["_deleted_at"], "_synced_at": insert.excluded["_synced_at"]},
        where=table.c._deleted_at.is_(None),
    ).returning(table.c.id)
