"""Keeping a table current: a checkpointed backfill, then the Events API, and a reconcile pass.

Every run mode ends in the same `sync` per object, so users' hooks apply to all of them.
The state that makes runs resumable and incremental is a row in the warehouse
(`_stripe_sync_state`), written after each flush, never before the rows it describes. One
run at a time holds a type's state (the warehouse's sync lock), so overlapping runs queue up
instead of overwriting each other's cursors.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from contextlib import contextmanager, nullcontext
from datetime import datetime, timezone
from typing import Any

from ..settings import ConfigurationError
from ..stripe_api.events import MAX_TYPES_PER_REQUEST, SAFE_EVENT_AGE_SECONDS, EventCursor, EventReader
from ..stripe_api.windows import Window, initial_windows

RETRIEVE_BATCH = 100
# Events are read again this far behind the cursor: Stripe does not promise that events become
# visible in `created` order, so a late one must still be found. Already applied ones are
# recognised by ID (state column `events_recent_ids`) and cost nothing but the reading.
EVENT_OVERLAP_SECONDS = 300
MAX_RECENT_EVENT_IDS = 5_000


def _utc(unix_time: int) -> datetime:
    return datetime.fromtimestamp(unix_time, timezone.utc)


def _mode(livemode: bool | None) -> str:
    return "live mode" if livemode else "test mode"


def _unix(moment: datetime) -> int:
    # SQLite hands timestamps back without a zone; they were written in UTC.
    return int((moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp())


class IncrementalSyncMixin:
    """The run modes of `StripeSyncActionMixin` (which supplies `client`, `warehouse`, `sync`,
    `flush`, `stats` and the class declarations used here)."""

    # -- what the class declares about events ----------------------------------------------

    @classmethod
    def watched_events(cls) -> tuple[str, ...]:
        """Event types whose `data.object` is this type's object, or one of its children's (a
        customer's tax ID: the customer is synced again). At most 20: one request."""
        if cls.event_types is not None:
            own = tuple(cls.event_types)
        elif cls.stripe_type is not None:
            own = cls.stripe_type.events
        else:
            name = cls.object_name()
            own = (f"{name}.created", f"{name}.updated", f"{name}.deleted")
        children = [name for child in cls.child_actions for name in child.stripe_type.events if name not in own]
        return tuple(dict.fromkeys([*own, *children]))[:MAX_TYPES_PER_REQUEST]

    @classmethod
    def deletion_events(cls) -> frozenset[str]:
        """Event types after which the object no longer exists (its row gets `_deleted_at`)."""
        if cls.deletion_event_types is not None:
            return frozenset(cls.deletion_event_types)
        if cls.stripe_type is not None:
            return frozenset(cls.stripe_type.deletion_events)
        return frozenset(t for t in cls.watched_events() if t.endswith(".deleted"))

    # -- the entry point of the Dagster asset --------------------------------------------

    def sync_incremental(self, *, reconcile: bool = False, trust_event_payloads: bool = False, full_refresh: bool = False):
        """Bring the table up to date at the lowest cost that is still correct.

        - no state yet, an unfinished backfill, `full_refresh`, or events last read longer ago
          than Stripe keeps them (30 days): a (resumed) full backfill, checkpointed;
        - otherwise: the events since the cursor, each changed object once, from its newest event;
        - `reconcile`: afterwards, relist every ID and flag rows Stripe no longer has.

        Changed objects are retrieved again by default, so rows hold the current API version's
        shape; `trust_event_payloads` takes them from the events instead and saves the requests.
        """
        with self._exclusive(), self._batch():
            state = self._load_state()
            self._check_account(state, adopt=full_refresh)
            reason = "a full refresh was asked for" if full_refresh else self._why_backfill(state)
            if reason is None:
                reason = self._apply_events(state, trust_event_payloads)
            if reason is not None:
                self.log.info(f"{self.table_name()}: full backfill, because {reason}")
                self._backfill(resume=None if full_refresh or not state else state["backfill"])
            if reconcile:
                self.reconcile()
        return self.stats

    def _check_account(self, state: dict | None, *, adopt: bool) -> None:
        """A state row (cursor, checkpoint) belongs to the Stripe account and mode it was read
        from. Another account's key must not continue it: its events cursor would skip the new
        account's history, and its backfill would flag the old account's rows deleted. So the
        run stops and says so, unless a full refresh adopts the new account."""
        account_id, livemode = self.client.account_id(), self.client.livemode
        known_id, known_livemode = (state or {}).get("stripe_account_id"), (state or {}).get("livemode")
        other_account = known_id and account_id and known_id != account_id
        other_mode = known_livemode is not None and known_livemode != livemode  # test and live share an account ID
        if not adopt and (other_account or other_mode):
            raise ConfigurationError(
                f"The sync state of {self.table_name()} in this warehouse belongs to Stripe account {known_id} "
                f"({_mode(known_livemode)}), but the API key now reads {account_id} ({_mode(livemode)}). Sync each account "
                "and mode into its own warehouse or schema (WAREHOUSE_URL, WAREHOUSE_SCHEMA). To move this table to "
                "the new account on purpose, run a full refresh: it backfills from the new account and flags the "
                "rows that account does not have as deleted."
            )
        current = (account_id or known_id, livemode)  # a key that may not read its account keeps the known ID
        if (known_id, known_livemode) != current:
            self._save_state(stripe_account_id=current[0], livemode=current[1])

    @contextmanager
    def _exclusive(self):
        """Hold this type's sync lock (re-entrant within one action)."""
        if self._exclusive_depth == 0:
            wait = lambda seconds: self.log.info(  # noqa: E731
                f"{self.table_name()}: waiting {seconds:.0f} s for another run of this type to finish"
            )
            lock = self.warehouse.sync_lock(self.table_name(), self.stripe_account, wait)
        else:
            lock = nullcontext()
        self._exclusive_depth += 1
        try:
            with lock:
                yield
        finally:
            self._exclusive_depth -= 1

    # -- backfill --------------------------------------------------------------------------

    def _backfill(self, resume: dict | None) -> None:
        """List everything created up to the backfill's start, in `created` windows walked in
        parallel; every flush saves the windows still to list in the transaction of its rows. A
        restart lists those again: what is fetched twice is the page the last flush cut in two
        and the pages that were queued or in flight, and nothing is skipped.

        When the table already had rows (a refresh, a retention fallback, a state row someone
        deleted), rows that the listing does not return are flagged deleted: their deletions may
        have happened where no event can tell any more.
        """
        self.stats.modes.append("backfill")
        if self.stripe_type is not None and not self.stripe_type.lists_by_created:
            self._backfill_by_cursor()
            return
        newest = self._newest_event()  # where the events take over
        now = self.client.server_now()
        if resume and now - resume["started_at"] > SAFE_EVENT_AGE_SECONDS:
            self.log.info(f"{self.table_name()}: the unfinished backfill is older than Stripe's events; starting over")
            resume = None
        if resume:
            checkpoint = dict(resume)
            self.log.info(f"{self.table_name()}: resuming the backfill: {len(checkpoint['windows'])} created windows to list")
        else:
            checkpoint = {
                "started_at": now,
                "windows": [[window.gte, window.lte] for window in initial_windows(now)],
                "events_cursor": {"created": newest.created, "id": newest.id} if newest else {"created": now, "id": None},
            }
        windows = [Window(gte, lte) for gte, lte in checkpoint["windows"]]
        # Rows the listing must account for: live rows in what this process lists.
        unlisted = self.warehouse.ids(
            self.table(), self.stripe_account, deleted=False, created_in=[(_utc(w.gte), _utc(w.lte)) for w in windows]
        )
        if resume and unlisted:
            self.log.info(f"{self.table_name()}: deletions among the objects listed before the restart are left to the next reconcile")
        self._save_state(backfill=checkpoint)

        def checkpoint_state(outstanding: list[Window]) -> dict:
            checkpoint["windows"] = [[window.gte, window.lte] for window in outstanding]
            return {"backfill": checkpoint}

        for page in self._list_windows_and_sync(windows, checkpoint=checkpoint_state):
            unlisted.difference_update(obj["id"] for obj in page)
        cursor = checkpoint["events_cursor"]
        self._finish_backfill(unlisted, EventCursor(cursor["created"], cursor["id"]), checkpoint["started_at"])

    def _backfill_by_cursor(self) -> None:
        """A backfill of a type whose list takes no `created` filter: one cursor walk, newest
        first. Not resumable part-way (such types hold configuration, a few pages at most): a
        restart lists them again. Rows the walk does not return are flagged deleted."""
        newest = self._newest_event()
        started_at = self.client.server_now()
        unlisted = self.warehouse.ids(self.table(), self.stripe_account, deleted=False)
        for page in self._list_and_sync(dict(self.list_params)):
            unlisted.difference_update(obj["id"] for obj in page)
        self._finish_backfill(unlisted, newest or EventCursor(started_at), started_at)

    def _newest_event(self) -> EventCursor | None:
        watched = self.watched_events()
        return EventReader(self.client, watched).newest() if watched else None

    def _finish_backfill(self, unlisted: set[str], cursor: EventCursor, started_at: int) -> None:
        """Flag what the listing did not return, write it all, and hand over to the events."""
        self._flag_deleted(unlisted)
        self.flush()
        self._save_state(
            backfill=None,
            backfill_completed_at=datetime.now(timezone.utc),
            events_cursor_created=cursor.created,
            events_cursor_id=cursor.id,
            events_recent_ids=[cursor.id] if cursor.id else [],  # what the listing saw already
            events_read_at=_utc(started_at),
        )
        if unlisted:
            self.log.info(f"{self.table_name()}: {len(unlisted):,} rows that Stripe no longer lists flagged deleted")

    # -- events ----------------------------------------------------------------------------

    def _why_backfill(self, state: dict | None) -> str | None:
        if state is None:
            return f"this is the first run (no row for {self.table_name()} in the sync state)"
        if not self.watched_events():
            return f"Stripe sends no events about {self.object_name()} objects: every run lists them all"
        if state["backfill"] is not None:
            return "an earlier backfill did not finish"
        if state["events_read_at"] is None:
            return "there is no events cursor yet"
        return None

    def _apply_events(self, state: dict, trust_event_payloads: bool) -> str | None:
        """Apply the events after the cursor; returns why a backfill is needed instead, if it is."""
        cursor = EventCursor(state["events_cursor_created"], state["events_cursor_id"])
        applied = set(state["events_recent_ids"] or ())
        events = EventReader(self.client, self.watched_events()).since(cursor.created - EVENT_OVERLAP_SECONDS)
        newest = next(events, None)  # the first request; its Date header tells Stripe's time
        read_at = self.client.server_now()
        age = read_at - _unix(state["events_read_at"])
        if age > SAFE_EVENT_AGE_SECONDS:
            return (
                f"events were last read {age / 86_400:.1f} days ago and Stripe keeps them for 30 days: "
                "changes in the gap can only be found by listing everything again"
            )
        self.stats.modes.append("incremental")
        recent: list[str] = []
        if newest is not None:
            cursor = EventCursor.of(newest)
            read = self._apply_newest_per_object(itertools.chain((newest,), events), applied, trust_event_payloads)
            recent = [event_id for event_id, created in read if created >= cursor.created - EVENT_OVERLAP_SECONDS]
        self.flush()  # the rows before the cursor that says they are there
        self._save_state(
            events_cursor_created=cursor.created,
            events_cursor_id=cursor.id,
            events_recent_ids=recent[:MAX_RECENT_EVENT_IDS],
            events_read_at=_utc(read_at),
        )
        self.log.info(f"{self.table_name()}: {self.stats.events:,} new events; events cursor at {cursor.id or cursor.created}")
        return None

    def _apply_newest_per_object(
        self, events: Iterable[dict], applied: set[str], trust_event_payloads: bool
    ) -> list[tuple[str, int]]:
        """Apply each object's newest event unless it was applied before; returns (ID, created)
        of every event read.

        Events arrive newest first, so an object's first event is its newest: older ones are
        skipped and can never overwrite it, even when they show up late.
        """
        read: list[tuple[str, int]] = []
        seen: set[str] = set()
        to_retrieve: list[str] = []
        deletions = self.deletion_events()
        watched = set(self.watched_events())
        for event in events:
            read.append((event["id"], event["created"]))
            if event.get("type") not in watched or not isinstance(event.get("data", {}).get("object"), dict):
                self.stats.events_skipped += 1  # a proxy or a mock that ignores `types[]`
                continue
            obj = event["data"]["object"]
            kind = obj.get("object", self.object_name())
            from_child = kind != self.object_name()
            if from_child:
                # A child's event: its parent is synced again, children and all. Any other
                # object is an event named like this type's that carries something else.
                obj = self._parent_of(kind, obj)
                if obj is None:
                    self.stats.events_skipped += 1
                    continue
            if event["id"] not in applied:
                self.stats.events += 1
            if obj["id"] in seen:
                continue
            seen.add(obj["id"])
            if event["id"] in applied:
                continue  # this object's newest state is in the table already
            if event["type"] in deletions and not from_child:
                self._observed_at = _utc(event["created"])
                self._flag_deleted([obj["id"]])
            elif trust_event_payloads and not from_child:
                self._observed_at = _utc(event["created"])  # the payload is the object as of the event
                self.sync(obj)
            else:
                to_retrieve.append(obj["id"])
                if len(to_retrieve) >= RETRIEVE_BATCH:
                    self._sync_current(to_retrieve)
                    to_retrieve = []
        self._sync_current(to_retrieve)
        return read

    def _parent_of(self, kind: str, child: dict) -> dict | None:
        """A stand-in for the parent of a chosen child table's object, or None."""
        for action in self.chosen_children:
            table = action.child_table
            if action.object_name() == kind:
                parent_id = child.get(table.parent_field)
                parent_id = parent_id.get("id") if isinstance(parent_id, dict) else parent_id
                return {"id": parent_id, "object": self.object_name()} if isinstance(parent_id, str) else None
        return None

    def _sync_current(self, ids: list[str]) -> None:
        """Sync the objects as the API renders them now; one that is gone gets `_deleted_at`."""
        for object_id, stripe_data in self._retrieve_each(ids):
            if stripe_data is None:
                self._flag_deleted([object_id])
            else:
                self.sync(stripe_data)

    # -- reconcile -------------------------------------------------------------------------

    def reconcile(self):
        """Relist every object and compare IDs with the table: rows Stripe no longer lists get
        `_deleted_at` (deletes no event reported), flagged rows that Stripe lists are restored."""
        with self._exclusive(), self._batch():
            self.stats.modes.append("reconcile")
            flagged = self.warehouse.ids(self.table(), self.stripe_account, deleted=True)

            def live_rows_created_before_now() -> set[str]:
                # Now: when the listing began, by Stripe's clock. Objects created later may be
                # missing from it without being gone.
                if "created" not in self.table().c:
                    return self.warehouse.ids(self.table(), self.stripe_account, deleted=False)
                cutoff = _utc(self.client.server_now())
                return self.warehouse.ids(self.table(), self.stripe_account, deleted=False, created_before=cutoff)

            unlisted: set[str] | None = None
            restored = listed = 0
            for page in self._list_and_sync(dict(self.list_params)):
                if unlisted is None:
                    unlisted = live_rows_created_before_now()
                ids = {obj["id"] for obj in page}
                unlisted -= ids
                restored += len(flagged & ids)
                listed += len(ids)
            if unlisted is None:  # Stripe lists nothing: every row created before now is gone
                unlisted = live_rows_created_before_now()
            self._flag_deleted(unlisted)
            self.stats.restored += restored
        self.log.info(
            f"{self.table_name()}: reconciled {listed:,} listed objects: "
            f"{len(unlisted):,} rows Stripe no longer has flagged deleted, {restored:,} restored"
        )
        return self.stats

    def _flag_deleted(self, ids: Iterable[str]) -> None:
        for object_id in ids:
            self._stage_deletion({"id": object_id, "object": self.object_name(), "deleted": True})

    # -- state -----------------------------------------------------------------------------

    def _load_state(self) -> dict | None:
        return self.warehouse.load_state(self.table_name(), self.stripe_account)

    def _save_state(self, **values: Any) -> None:
        self.warehouse.save_state(self.table_name(), self.stripe_account, **values)

