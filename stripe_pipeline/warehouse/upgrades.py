"""Tables made by an older version, brought to this version's shape in place when a run first
meets them (inside the dialect's `creating_tables`, so that processes take turns).

- Columns a newer catalogue has: a `stripe` upgrade adds fields, and the tables users already
  have must gain their columns, or every write would fail. Columns are only ever added:
  nothing a user's SQL reads disappears.
- The key (0.7): up to 0.6 a row's key was `id` alone, and the platform's rows had a NULL
  `_account`; two Connect accounts holding an object of the same ID (a coupon `SUMMER25`)
  overwrote each other. From 0.7 the key is (id, _account), with '' for the platform. Each
  dialect changes the key its own way (Dialect.rekey); every row and column is kept.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection, Table

from .dialects import Dialect
from .rules import key_columns

log = logging.getLogger(__name__)


def upgrade(dialect: Dialect, connection: Connection, tables: list[Table]) -> None:
    """Everything below, for each table (that exists: create them first)."""
    add_missing_columns(dialect, connection, tables)
    rekey_by_account(dialect, connection, tables)


def add_missing_columns(dialect: Dialect, connection: Connection, tables: list[Table]) -> list[str]:
    """Add each table's columns that the database's table lacks; returns them as `table.column`."""
    schema = _schema(connection)
    added = []
    for table in tables:
        existing = dialect.existing_columns(connection, table.name, schema)
        for column in table.columns:
            if column.name in existing:
                continue
            dialect.add_column(connection, table, column, schema)
            added.append(f"{table.name}.{column.name}")
    return added


def rekey_by_account(dialect: Dialect, connection: Connection, tables: list[Table]) -> list[str]:
    """Key each Stripe table made by 0.6 or earlier by (id, _account); returns the tables changed."""
    schema = _schema(connection)
    changed = []
    for table in tables:
        if [c.name for c in key_columns(table)] != ["id", "_account"]:
            continue  # not a Stripe object's table (the sync state, the errors)
        if dialect.primary_key(connection, table.name, schema) != ["id"]:
            continue
        dialect.rekey(connection, table, schema)
        log.info(f"{table.name}: rows are now keyed by (id, _account), '' for the platform's own (was id alone, and NULL)")
        changed.append(table.name)
    return changed


def _schema(connection: Connection) -> str | None:
    return connection.get_execution_options().get("schema_translate_map", {}).get(None)
