"""What one step of a run reads from Stripe for the others: staged events and shared reads
(see models/sync_state.py's StagedEvent and SharedRead, and actions/sync/event_log.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from sqlalchemy import Connection, delete, func, select

from ..models.base import account_key
from ..models.sync_state import SharedRead, StagedEvent
from .dialects import Dialect

EVENTS = StagedEvent.__table__
READS = SharedRead.__table__
# Events per INSERT: a page of events is 100; a read of many pages goes in a few statements.
STAGE_BATCH = 500


def load_read(connection: Connection, name: str) -> dict | None:
    row = connection.execute(select(READS).where(READS.c.name == name)).mappings().first()
    return dict(row) if row else None


def save_read(dialect: Dialect, connection: Connection, name: str, run_key: str | None, value: dict) -> None:
    values = {"run_key": run_key, "value": value, "updated_at": datetime.now(UTC)}
    insert = dialect.insert(READS).values(name=name, **values)
    connection.execute(insert.on_conflict_do_update(index_elements=[READS.c.name], set_=values))


def stage_events(dialect: Dialect, connection: Connection, account: str | None, read: int, events: list[dict], first_position: int) -> None:
    """Add events not staged yet; one staged before keeps its place (it was visible earlier)."""
    key = account_key(account)
    rows = [
        {
            "account": key,
            "id": e["id"],
            "created": e["created"],
            "read": read,
            "position": first_position + n,
            "type": e.get("type") or "",
            "event": e,
        }
        for n, e in enumerate(events)
    ]
    for start in range(0, len(rows), STAGE_BATCH):
        connection.execute(dialect.insert(EVENTS).values(rows[start : start + STAGE_BATCH]).on_conflict_do_nothing())


def last_read(connection: Connection, account: str | None) -> int:
    return connection.scalar(select(func.max(EVENTS.c.read)).where(EVENTS.c.account == account_key(account))) or 0


def staged_events(
    connection: Connection, account: str | None, types: tuple[str, ...] | None, since: int, limit: int | None = None
) -> Iterator[dict]:
    """The staged events of these types (None: of every type) created at or after `since`,
    newest first: by `created`, then within a second the later read first, then as Stripe
    listed them; `limit` of them at most."""
    query = (
        select(EVENTS.c.event)
        .where(EVENTS.c.account == account_key(account), EVENTS.c.created >= since)
        .order_by(EVENTS.c.created.desc(), EVENTS.c.read.desc(), EVENTS.c.position)
        .limit(limit)
    )
    if types is not None:
        query = query.where(EVENTS.c.type.in_(types))
    yield from connection.scalars(query)


def drop_events_before(connection: Connection, account: str | None, created: int) -> int:
    result = connection.execute(delete(EVENTS).where(EVENTS.c.account == account_key(account), EVENTS.c.created < created))
    return result.rowcount or 0
