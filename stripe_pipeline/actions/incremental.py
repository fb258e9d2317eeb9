"""Keeping a table current: a checkpointed backfill, then the Events API, and a reconcile pass.

Every run mode ends in the same `sync` per object, so users' hooks apply to all of them.
The state that makes runs resumable and incremental is a row in the warehouse
(`_stripe_sync_state`), written after each flush, never before the rows it describes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from typing import Any

from ..stripe_api.events import SAFE_EVENT_AGE_SECONDS, EventCursor, EventReader

RETRIEVE_BATCH = 100


def _utc(unix_time: int) -> datetime:
    return datetime.fromtimestamp(unix_time, timezone.utc)


def _unix(moment: datetime) -> int:
    # SQLite hands timestamps back without a zone; they were written in UTC.
    return int((moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp())


class IncrementalSyncMixin:
    """The run modes of `StripeSyncActionMixin` (which supplies `client`, `warehouse`, `sync`,
    `flush`, `stats` and the class declarations used here)."""

    # -- what the class declares about events ----------------------------------------------

    @classmethod
    def watched_events(cls) -> tuple[str, ...]:
        """Event types whose `data.object` is this type's object (at most 20: one request)."""
        if cls.event_types is not None:
            return tuple(cls.event_types)
        name = cls.object_name()
        return (f"{name}.created", f"{name}.updated", f"{name}.deleted")

    @classmethod
    def deletion_events(cls) -> frozenset[str]:
        """Event types after which the object no longer exists (its row gets `_deleted_at`)."""
        if cls.deletion_event_types is not None:
            return frozenset(cls.deletion_event_types)
        return frozenset(t for t in cls.watched_events() if t.endswith(".deleted"))

    # -- the entry point of the Dagster asset --------------------------------------------

    def sync_incremental(self, *, reconcile: bool = False, trust_event_payloads: bool = False, full_refresh: bool = False):
        """Bring the table up to date at the lowest cost that is still correct.

        - no state yet, an unfinished backfill, `full_refresh`, or an events cursor older than
          Stripe's 30-day event retention: a (resumed) full backfill, checkpointed;
        - otherwise: the events since the cursor, each changed object once, from its newest event;
        - `reconcile`: afterwards, relist every ID and flag rows Stripe no longer has.

        Changed objects are retrieved again by default, so rows hold the current API version's
        shape; `trust_event_payloads` takes them from the events instead and saves the requests.
        """
        with self._batch():
            state = None if full_refresh else self._load_state()
            reason = "a full refresh was asked for" if full_refresh else self._why_backfill(state)
            if reason is None:
                reason = self._apply_events(state, trust_event_payloads)
            if reason is not None:
                self.log.info(f"{self.table_name()}: full backfill, because {reason}")
                self._backfill(resume=state.get("backfill") if state else None)
            if reconcile:
                self.reconcile()
        return self.stats

    # -- backfill --------------------------------------------------------------------------

    def _backfill(self, resume: dict | None) -> None:
        """List everything created up to the backfill's start, newest first, checkpointing the
        `created` bound after every flush. A restart lists from that bound again, so at most one
        flush interval of pages is fetched twice, and nothing is skipped."""
        self.stats.modes.append("backfill")
        if resume:
            checkpoint = dict(resume)
            self.log.info(
                f"{self.table_name()}: resuming the backfill from its checkpoint "
                f"(objects created at or before {_utc(checkpoint['created_lte']).isoformat()})"
            )
        else:
            # Where the events take over when the listing is done: the newest event now.
            newest = EventReader(self.client, self.watched_events()).newest()
            started_at = self.client.server_now()
            checkpoint = {
                "started_at": started_at,
                "created_lte": started_at,
                "events_cursor": {"created": newest.created, "id": newest.id} if newest else {"created": started_at, "id": None},
            }
            self._save_state(backfill=checkpoint)
        params = {**self.list_params, "created": {"lte": checkpoint["created_lte"]}}
        listed_through: list[int] = []  # `created` of the last object of the last fully staged page

        def save_checkpoint() -> None:
            if listed_through and listed_through[-1] != checkpoint["created_lte"]:
                checkpoint["created_lte"] = listed_through[-1]
                self._save_state(backfill=checkpoint)

        self._on_flushed = save_checkpoint
        try:
            for page in self._list(params):
                listed_through.append(page[-1]["created"])
        finally:
            self._on_flushed = None
        self.flush()
        cursor = checkpoint["events_cursor"]
        self._save_state(
            backfill=None,
            backfill_completed_at=datetime.now(timezone.utc),
            events_cursor_created=cursor["created"],
            events_cursor_id=cursor["id"],
            events_read_at=_utc(checkpoint["started_at"]),
        )

    # -- events ----------------------------------------------------------------------------

    def _why_backfill(self, state: dict | None) -> str | None:
        if state is None:
            return f"this is the first run (no row for {self.table_name()} in the sync state)"
        if state["backfill"] is not None:
            return "an earlier backfill did not finish"
        if state["events_read_at"] is None:
            return "there is no events cursor yet"
        return None

    def _apply_events(self, state: dict, trust_event_payloads: bool) -> str | None:
        """Apply the events after the cursor; returns why a backfill is needed instead, if it is."""
        cursor = EventCursor(state["events_cursor_created"], state["events_cursor_id"])
        events = EventReader(self.client, self.watched_events()).since(cursor)
        newest = next(events, None)  # the first request; its Date header tells Stripe's time
        read_at = self.client.server_now()
        age = read_at - _unix(state["events_read_at"])
        if age > SAFE_EVENT_AGE_SECONDS:
            return (
                f"events were last read {age / 86_400:.1f} days ago and Stripe keeps them for 30 days: "
                "changes in the gap can only be found by listing everything again"
            )
        self.stats.modes.append("incremental")
        if newest is not None:
            self._apply_newest_per_object(_prepend(newest, events), trust_event_payloads)
            cursor = EventCursor.of(newest)
        self.flush()  # the rows before the cursor that says they are there
        self._save_state(events_cursor_created=cursor.created, events_cursor_id=cursor.id, events_read_at=_utc(read_at))
        self.log.info(f"{self.table_name()}: {self.stats.events:,} new events; events cursor at {cursor.id or cursor.created}")
        return None

    def _apply_newest_per_object(self, events: Iterable[dict], trust_event_payloads: bool) -> None:
        # Events arrive newest first, so an object's first event is its newest; older ones are
        # skipped and can never overwrite it.
        seen: set[str] = set()
        to_retrieve: list[str] = []
        deletions = self.deletion_events()
        for event in events:
            self.stats.events += 1
            obj = event["data"]["object"]
            if obj["id"] in seen:
                continue
            seen.add(obj["id"])
            if event["type"] in deletions:
                self._stage_deletion({"id": obj["id"], "object": obj.get("object"), "deleted": True})
            elif trust_event_payloads:
                self.sync(obj)
            else:
                to_retrieve.append(obj["id"])
                if len(to_retrieve) >= RETRIEVE_BATCH:
                    self._sync_current(to_retrieve)
                    to_retrieve = []
        self._sync_current(to_retrieve)

    def _sync_current(self, ids: list[str]) -> None:
        """Sync the objects as the API renders them now; one that is gone gets `_deleted_at`."""
        for object_id, stripe_data in self._retrieve_each(ids):
            self.sync(stripe_data if stripe_data is not None else {"id": object_id, "object": self.object_name(), "deleted": True})

    # -- reconcile -------------------------------------------------------------------------

    def reconcile(self):
        """Relist every object and compare IDs with the table: rows Stripe no longer lists get
        `_deleted_at` (deletes no event reported), flagged rows that Stripe lists are restored."""
        with self._batch():
            self.stats.modes.append("reconcile")
            flagged = self.warehouse.ids(self.table(), deleted=True)
            listed: set[str] = set()
            started_at = None
            for page in self._list(dict(self.list_params)):
                started_at = started_at or self.client.server_now()
                listed.update(obj["id"] for obj in page)
            self.flush()
            # Objects created after the listing began may be missing from it without being gone.
            cutoff = _utc(started_at or self.client.server_now())
            gone = self.warehouse.ids(self.table(), deleted=False, created_before=cutoff) - listed
            for object_id in gone:
                self._stage_deletion({"id": object_id, "object": self.object_name(), "deleted": True})
            self.stats.restored += len(flagged & listed)
        self.log.info(
            f"{self.table_name()}: reconciled {len(listed):,} listed objects: "
            f"{len(gone):,} rows Stripe no longer has flagged deleted, {len(flagged & listed):,} restored"
        )
        return self.stats

    # -- state -----------------------------------------------------------------------------

    def _load_state(self) -> dict | None:
        return self.warehouse.load_state(self.table_name(), self.stripe_account)

    def _save_state(self, **values: Any) -> None:
        self.warehouse.save_state(self.table_name(), self.stripe_account, **values)


def _prepend(first: dict, rest: Iterator[dict]) -> Iterator[dict]:
    yield first
    yield from rest
