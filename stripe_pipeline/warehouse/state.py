"""Reading and writing the sync-state rows (see models/sync_state.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, func, select

from ..models.base import account_key
from ..models.sync_state import SyncState
from .dialects import Dialect

_TABLE = SyncState.__table__


def load_state(connection: Connection, object_type: str, account: str | None) -> dict | None:
    row = (
        connection.execute(select(_TABLE).where(_TABLE.c.object_type == object_type, _TABLE.c.account == account_key(account)))
        .mappings()
        .first()
    )
    return dict(row) if row else None


def all_states(connection: Connection) -> list[dict]:
    return [dict(row) for row in connection.execute(select(_TABLE).order_by(_TABLE.c.object_type, _TABLE.c.account)).mappings()]


def oldest_events_cursor(connection: Connection, account: str | None) -> int | None:
    """The oldest events cursor (`created`) among one account's tables, if any has one."""
    query = select(func.min(_TABLE.c.events_cursor_created)).where(_TABLE.c.account == account_key(account))
    return connection.scalar(query)


def save_state(dialect: Dialect, connection: Connection, object_type: str, account: str | None, values: dict) -> None:
    """Set the given columns of the row, creating it if needed; other columns keep their values."""
    values = {**values, "updated_at": datetime.now(UTC)}
    insert = dialect.insert(_TABLE).values(object_type=object_type, account=account_key(account), **values)
    connection.execute(insert.on_conflict_do_update(index_elements=[_TABLE.c.object_type, _TABLE.c.account], set_=values))
