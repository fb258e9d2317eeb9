"""`_stripe_sync_errors`: objects that could not be synced, until they sync cleanly."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, func, literal_column, null, select, update

from ..models.base import account_key
from ..models.sync_state import SyncError
from .dialects import Dialect

_TABLE = SyncError.__table__


def failed_objects(count: int) -> str:
    """How the sync's log and the asset check say that objects wait here."""
    return f"{count:,} {'object' if count == 1 else 'objects'} failed, see _stripe_sync_errors"


def record_errors(dialect: Dialect, connection: Connection, object_type: str, account: str | None, failures: list[dict]) -> None:
    """Each failure: object_id, error_class, error_message, raw. A known one counts up and opens again."""
    now = datetime.now(UTC)
    rows = [
        {
            **failure,
            "object_type": object_type,
            "account": account_key(account),
            "first_seen_at": now,
            "last_seen_at": now,
            "count": 1,
            "resolved_at": None,
        }
        for failure in {failure["object_id"]: failure for failure in failures}.values()
    ]
    insert = dialect.insert(_TABLE)
    connection.execute(
        insert.on_conflict_do_update(
            index_elements=[_TABLE.c.object_type, _TABLE.c.account, _TABLE.c.object_id],
            set_={
                "error_class": insert.excluded.error_class,
                "error_message": insert.excluded.error_message,
                "raw": insert.excluded.raw,
                "last_seen_at": insert.excluded.last_seen_at,
                # No parameters in the update clause: MySQL's driver sends an executemany as one
                # multi-row INSERT only when that clause has none.
                "count": _TABLE.c.count + literal_column("1"),
                "resolved_at": null(),
            },
        ),
        rows,
    )


def resolve_errors(connection: Connection, object_type: str, account: str | None, object_ids: list[str]) -> None:
    connection.execute(
        update(_TABLE)
        .where(
            _TABLE.c.object_type == object_type,
            _TABLE.c.account == account_key(account),
            _TABLE.c.object_id.in_(object_ids),
            _TABLE.c.resolved_at.is_(None),
        )
        .values(resolved_at=datetime.now(UTC))
    )


def open_errors(connection: Connection, object_type: str, account: str | None = None, *, any_account: bool = False) -> int:
    query = select(func.count()).select_from(_TABLE).where(_TABLE.c.object_type == object_type, _TABLE.c.resolved_at.is_(None))
    if not any_account:
        query = query.where(_TABLE.c.account == account_key(account))
    return connection.scalar(query) or 0


def open_error_objects(connection: Connection, object_type: str, account: str | None, limit: int) -> list[tuple[str, dict | None]]:
    """(object ID, raw) of up to `limit` open errors, those seen longest ago first, so that
    every error gets its turn across runs."""
    query = (
        select(_TABLE.c.object_id, _TABLE.c.raw)
        .where(_TABLE.c.object_type == object_type, _TABLE.c.account == account_key(account), _TABLE.c.resolved_at.is_(None))
        .order_by(_TABLE.c.last_seen_at, _TABLE.c.object_id)
        .limit(limit)
    )
    return [(object_id, raw) for object_id, raw in connection.execute(query)]
