"""One multi-row INSERT … ON CONFLICT (id) DO UPDATE per chunk of rows.

Rows whose values did not change are left alone (the WHERE on the update), so a rerun
rewrites nothing and `_synced_at` keeps telling when the data last changed.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Table, or_, select
from sqlalchemy.dialects import postgresql, sqlite

# Both drivers cap bound parameters per statement (SQLite 32,766; PostgreSQL 65,535).
MAX_PARAMETERS = 30_000
_INSERT_BY_DIALECT = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
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
    """Upsert rows (unique by id) inside the caller's transaction."""
    result = UpsertResult()
    chunk = max(1, MAX_PARAMETERS // len(table.columns))
    for start in range(0, len(rows), chunk):
        result += _upsert_chunk(connection, table, rows[start : start + chunk])
    return result


def _upsert_chunk(connection: Connection, table: Table, rows: list[dict]) -> UpsertResult:
    ids = [row["id"] for row in rows]
    existing = set(connection.scalars(select(table.c.id).where(table.c.id.in_(ids))))
    insert = _INSERT_BY_DIALECT[connection.dialect.name](table).values(rows)
    excluded = insert.excluded
    statement = insert.on_conflict_do_update(
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
    written = set(connection.scalars(statement))
    inserted = len(written - existing)
    return UpsertResult(
        inserted=inserted, updated=len(written) - inserted, unchanged=len(rows) - len(written)
    )
