"""The incremental run: the events after the cursor, each changed object once, newest first.

Events list newest first, so an object's first event is its newest: older ones are skipped
and can never overwrite it, even when they show up late. Stripe does not promise that events
become visible in `created` order, so each run reads again EVENT_OVERLAP_SECONDS before its
cursor; events applied before are recognised by ID (`events_recent_ids`).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from ...policies import EVENT_OVERLAP_SECONDS, MAX_RECENT_EVENT_IDS, SAFE_EVENT_AGE_SECONDS
from ...stripe_api.clock import end_of_second
from ...stripe_api.events import EventCursor, EventReader
from .event_log import staged_events_since
from .listing import RETRIEVE_BATCH, retrieve_each
from .times import unix, utc

if TYPE_CHECKING:
    from .run import SyncRun


def apply_events(run: SyncRun, state: dict, trust_event_payloads: bool, run_key: str | None = None) -> str | None:
    """Apply the events after the cursor; returns why a backfill is needed instead, if it is.
    With a `run_key`, the account's events are read once for every table of that run (event_log.py)."""
    cursor = EventCursor(state["events_cursor_created"], state["events_cursor_id"])
    applied = set(state["events_recent_ids"] or ())
    since = cursor.created - EVENT_OVERLAP_SECONDS
    events: Iterator[dict]
    if run_key is not None:
        staged, read_at = staged_events_since(run, run_key, since)
        events = iter(staged)
        newest = next(events, None)
    else:
        events = EventReader(run.client, run.action.watched_events()).since(since)
        newest = next(events, None)  # the first request; its Date header tells Stripe's time
        read_at = run.client.server_now()
    age = read_at - unix(state["events_read_at"])
    if age > SAFE_EVENT_AGE_SECONDS:
        return (
            f"events were last read {age / 86_400:.1f} days ago and Stripe keeps them for 30 days: "
            "changes in the gap can only be found by listing everything again"
        )
    run.stats.modes.append("incremental")
    recent: list[str] = []
    if newest is not None:
        cursor = EventCursor.of(newest)
        read = _apply_newest_per_object(run, itertools.chain((newest,), events), applied, trust_event_payloads)
        recent = [event_id for event_id, created in read if created >= cursor.created - EVENT_OVERLAP_SECONDS]
    run.action.flush()  # the rows before the cursor that says they are there
    run.action.save_state(
        events_cursor_created=cursor.created,
        events_cursor_id=cursor.id,
        events_recent_ids=recent[:MAX_RECENT_EVENT_IDS],
        events_read_at=utc(read_at),
    )
    run.log.info(f"{run.log_name}: {run.stats.events:,} new events; events cursor at {cursor.id or cursor.created}")
    return None


def _apply_newest_per_object(run: SyncRun, events: Iterable[dict], applied: set[str], trust_event_payloads: bool) -> list[tuple[str, int]]:
    """Apply each object's newest event unless it was applied before; returns (ID, created)
    of every event read."""
    read: list[tuple[str, int]] = []
    seen: set[str] = set()
    to_retrieve: dict[str, int] = {}  # ID -> `created` of the event it is retrieved for
    deletions = run.action.deletion_events()
    watched = set(run.action.watched_events())
    for event in events:
        read.append((event["id"], event["created"]))
        if event.get("type") not in watched or not isinstance(event.get("data", {}).get("object"), dict):
            run.stats.events_skipped += 1  # a proxy or a mock that ignores `types[]`
            continue
        obj = event["data"]["object"]
        kind = obj.get("object", run.action.object_name())
        from_child = kind != run.action.object_name()
        if from_child:
            # A child's event: its parent is synced again, children and all. Any other
            # object is an event named like this type's that carries something else.
            obj = _parent_of(run, kind, obj)
            if obj is None:
                run.stats.events_skipped += 1
                continue
        if event["id"] not in applied:
            run.stats.events += 1
        if obj["id"] in seen:
            continue
        seen.add(obj["id"])
        if event["id"] in applied:
            continue  # this object's newest state is in the table already
        if event["type"] in deletions and not from_child:
            run.observed_at = end_of_second(event["created"])  # of its second: see stripe_api/clock.py
            run.action.flag_deleted([obj["id"]])
        elif trust_event_payloads and not from_child:
            run.observed_at = end_of_second(event["created"])  # the payload is the object as of the event
            run.action.sync(obj)
        else:
            to_retrieve[obj["id"]] = event["created"]
            if len(to_retrieve) >= RETRIEVE_BATCH:
                sync_current(run, to_retrieve)
                to_retrieve = {}
    sync_current(run, to_retrieve)
    return read


def _parent_of(run: SyncRun, kind: str, child: dict) -> dict | None:
    """A stand-in for the parent of a chosen child table's object, or None."""
    for child_action in run.chosen_children:
        table = child_action.child_table
        if child_action.object_name() == kind:
            parent_id = child.get(table.parent_field)
            parent_id = parent_id.get("id") if isinstance(parent_id, dict) else parent_id
            return {"id": parent_id, "object": run.action.object_name()} if isinstance(parent_id, str) else None
    return None


def sync_current(run: SyncRun, ids: dict[str, int]) -> None:
    """Sync the objects as the API renders them now; one that is gone gets `_deleted_at`.

    `ids` maps each ID to the `created` of the event it is retrieved for. What the retrieve
    returns is at least as new as that event, so it counts from the end of the event's second
    too (stripe_api/clock.py): a coupon deleted and made again within one second is live, though
    its retrieve's own time falls before its deletion event's end of second."""
    for object_id, stripe_data in retrieve_each(run, list(ids)):
        floor = end_of_second(ids[object_id])
        if run.observed_at is None or run.observed_at < floor:
            run.observed_at = floor
        if stripe_data is None:
            run.action.flag_deleted([object_id])
        else:
            run.action.sync(stripe_data)
