"""The sync's own bookkeeping, kept in the warehouse beside the data it describes.

In the warehouse rather than in Dagster's instance: the state moves with the data, survives a
new Dagster deployment, and is one SQL query away when someone asks how fresh a table is.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from .base import TABLE_OPTIONS, Base, KeyType

SYNC_STATE_TABLE = "_stripe_sync_state"


class SyncState(Base):
    """One row per (object type, account)."""

    __tablename__ = SYNC_STATE_TABLE
    __table_args__ = TABLE_OPTIONS

    object_type: Mapped[str] = mapped_column(KeyType, primary_key=True, comment="the table, e.g. customers")
    account: Mapped[str] = mapped_column(KeyType, primary_key=True, comment="Connect account ID; '' for the platform")
    stripe_account_id: Mapped[str | None] = mapped_column(
        comment="the Stripe account this state was read from (GET /v1/account); another account's key is refused"
    )
    livemode: Mapped[bool | None] = mapped_column(comment="whether it was read with a live-mode key")
    verified_key: Mapped[str | None] = mapped_column(
        comment="a hash (never the key) of the API key last seen reading stripe_account_id: that key's runs skip GET /v1/account"
    )
    backfill: Mapped[dict | None] = mapped_column(
        # SQL NULL, not JSON null, when no backfill runs: `WHERE backfill IS NULL` must find it.
        JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql"),
        comment="the running backfill's checkpoint: where it resumes, and the events cursor it hands over",
    )
    backfill_completed_at: Mapped[datetime | None] = mapped_column(comment="when the last full backfill finished")
    events_cursor_created: Mapped[int | None] = mapped_column(comment="created (Unix time) of the last event applied")
    events_cursor_id: Mapped[str | None] = mapped_column(comment="ID of the last event applied")
    events_recent_ids: Mapped[list | None] = mapped_column(
        comment="IDs of the events applied in the last minutes before the cursor: re-read, but not applied twice"
    )
    listed_through: Mapped[int | None] = mapped_column(
        comment="types without events: created (Unix time) up to which every object was listed; runs list from there on"
    )
    events_read_at: Mapped[datetime | None] = mapped_column(
        comment="Stripe's time when events were last read completely; older than 29 days forces a backfill"
    )
    updated_at: Mapped[datetime] = mapped_column()


class RequestSlot(Base):
    """The shared request budget (stripe_api/budget.py): the next free slot of each bucket."""

    __tablename__ = "_stripe_rate_budget"
    __table_args__ = TABLE_OPTIONS

    bucket: Mapped[str] = mapped_column(KeyType, primary_key=True, comment="a hash of the API key, plus the endpoint for per-endpoint caps")
    next_slot: Mapped[float] = mapped_column(comment="Unix time of the next free request slot")


class SyncError(Base):
    """An object that could not be synced, kept so that nothing is lost and nothing blocks a table."""

    __tablename__ = "_stripe_sync_errors"
    __table_args__ = TABLE_OPTIONS

    object_type: Mapped[str] = mapped_column(KeyType, primary_key=True, comment="the table, e.g. customers")
    account: Mapped[str] = mapped_column(KeyType, primary_key=True, comment="Connect account ID; '' for the platform")
    object_id: Mapped[str] = mapped_column(KeyType, primary_key=True, comment="the Stripe ID")
    error_class: Mapped[str] = mapped_column(comment="e.g. ValueError, or the database's DataError")
    error_message: Mapped[str] = mapped_column(comment="what failed: the hook, or what the database refused")
    raw: Mapped[dict | None] = mapped_column(comment="the object as the API returned it (secrets removed)")
    first_seen_at: Mapped[datetime] = mapped_column()
    last_seen_at: Mapped[datetime] = mapped_column()
    count: Mapped[int] = mapped_column(comment="how many syncs met this error")
    resolved_at: Mapped[datetime | None] = mapped_column(comment="when the object later synced cleanly; NULL while open")


class StagedEvent(Base):
    """An event read from Stripe's Events API by one step of a run, for the run's other steps:
    each account's events are read once per run, and every table applies its own
    (actions/sync/event_log.py). Kept while some table may still need it."""

    __tablename__ = "_stripe_events"
    __table_args__ = TABLE_OPTIONS

    account: Mapped[str] = mapped_column(KeyType, primary_key=True, comment="Connect account ID; '' for the platform")
    id: Mapped[str] = mapped_column(KeyType, primary_key=True, comment="the event's ID (evt_…)")
    created: Mapped[int] = mapped_column(comment="the event's created (Unix time)")
    read: Mapped[int] = mapped_column(comment="which read found it; a later read's events are newer within one second")
    position: Mapped[int] = mapped_column(comment="its place in that read, newest first, as Stripe listed it")
    type: Mapped[str] = mapped_column(comment="e.g. customer.updated")
    event: Mapped[dict] = mapped_column(comment="the event as Stripe sent it")


class SharedRead(Base):
    """What one step of a run read from Stripe for the others (the connected accounts; how far
    each account's events were read), by name, with the run that read it."""

    __tablename__ = "_stripe_shared_reads"
    __table_args__ = TABLE_OPTIONS

    name: Mapped[str] = mapped_column(KeyType, primary_key=True, comment="e.g. 'accounts', or 'events acct_…'")
    run_key: Mapped[str | None] = mapped_column(comment="the run that read it (a Dagster run ID)")
    value: Mapped[dict] = mapped_column(comment="what was read")
    updated_at: Mapped[datetime] = mapped_column()
