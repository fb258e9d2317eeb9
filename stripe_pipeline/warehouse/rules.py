"""The one rule that decides whether an incoming row replaces the table's, whichever
statement carries it (each dialect's upsert, the tombstones): its data must differ (unchanged
rows are not rewritten, so a rerun rewrites nothing and `_synced_at` keeps telling when the data
last changed), and it must not have been observed earlier than the table's row (newer always
wins).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Column, Connection, Table, and_, or_, select, true
from sqlalchemy.sql import ColumnElement

# Not compared: the key itself, the write time that the comparison decides on, and when the
# data was observed (the same data observed again is no change).
NOT_COMPARED = {"id", "_account", "_synced_at", "_observed_at"}
# What a tombstone carries (upsert.py's mark_deleted_rows, or a dialect's mark_deleted).
TOMBSTONE_VALUES = ("id", "_account", "_deleted_at", "_synced_at", "_observed_at")


def not_older(table: Table, excluded) -> ColumnElement[bool]:
    """Newer always wins: a row observed earlier than the one in the table never replaces it,
    whichever path wrote it. Unknown times (rows of older versions) do not block a write."""
    if "_observed_at" not in table.c:
        return true()
    current, incoming = table.c._observed_at, excluded["_observed_at"]
    return or_(incoming.is_(None), current.is_(None), incoming >= current)


def replaces(table: Table, excluded) -> ColumnElement[bool]:
    """Whether the incoming row (`excluded`) replaces the table's: it changed, and it is not older."""
    changed = or_(*(c.is_distinct_from(excluded[c.name]) for c in table.columns if c.name not in NOT_COMPARED))
    return and_(not_older(table, excluded), changed)


@dataclass
class UpsertResult:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    @classmethod
    def of(cls, rows: int, new: int, written: int) -> UpsertResult:
        """The counts of an upsert of `rows` rows, `new` of whose IDs the table lacked, that
        inserted or replaced `written` of them."""
        inserted = min(new, written)  # a row another writer inserted meanwhile was updated instead
        return cls(inserted=inserted, updated=written - inserted, unchanged=rows - written)

    def __iadd__(self, other: UpsertResult) -> UpsertResult:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        return self


def key_columns(table: Table) -> list[Column]:
    """The columns of a row's key: (id, _account) on a Stripe table."""
    return list(table.primary_key.columns)


def new_rows(connection: Connection, table: Table, rows: list[dict]) -> int:
    """How many of the rows have a key the table lacks (read to the end: DuckDB wants that)."""
    by_account: dict[str, list[str]] = {}
    for row in rows:
        by_account.setdefault(row["_account"], []).append(row["id"])
    present = 0
    for account, ids in by_account.items():  # one account per flush, in practice
        query = select(table.c.id).where(table.c.id.in_(ids), table.c._account == account)
        present += len(connection.scalars(query).all())
    return len(rows) - present
