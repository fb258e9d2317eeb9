"""The full backfill: every object created up to its start, checkpointed with each flush.

A restart lists again only the windows still outstanding: what is fetched twice is the page
the last flush cut in two and the pages that were queued or in flight, and nothing is skipped.
When the table already had rows (a refresh, a retention fallback, a state row someone
deleted), rows the listing does not return are flagged deleted: their deletions may have
happened where no event can tell any more.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import stripe

from ...policies import SAFE_EVENT_AGE_SECONDS
from ...stripe_api.events import EventCursor, EventReader
from ...stripe_api.windows import Window, initial_windows
from .listing import list_and_sync, list_windows_and_sync
from .times import utc

if TYPE_CHECKING:
    from .run import SyncRun


def backfill(run: SyncRun, resume: dict | None, *, walk: bool = False) -> None:
    """List everything in `created` windows walked in parallel, where the list takes them;
    every flush saves the windows still to list (`_stripe_sync_state.backfill`) in the
    transaction of its rows. Else, or with `walk`, one cursor walk."""
    run.stats.modes.append("backfill")
    if walk or (run.action.stripe_type is not None and not run.action.stripe_type.lists_by_created):
        _backfill_by_cursor(run)
        return
    try:
        _backfill_by_windows(run, resume)
    except stripe.InvalidRequestError as error:
        if not _refuses_created(error):
            raise
        # An older API version, or a proxy, that does not take the filter: the objects are
        # still all there, by one cursor walk (not resumable part-way, and not in parallel).
        run.log.warning(
            f"{run.log_name}: Stripe refused the `created` filter ({error.user_message}); listing everything with one cursor walk instead"
        )
        _backfill_by_cursor(run)


def _refuses_created(error: stripe.InvalidRequestError) -> bool:
    return error.http_status == 400 and (error.param or "").startswith("created")


def _backfill_by_windows(run: SyncRun, resume: dict | None) -> None:
    newest = _newest_event(run)  # where the events take over
    now = run.client.server_now()
    if resume and now - resume["started_at"] > SAFE_EVENT_AGE_SECONDS:
        run.log.info(f"{run.log_name}: the unfinished backfill is older than Stripe's events; starting over")
        resume = None
    if resume:
        checkpoint = dict(resume)
        run.log.info(f"{run.log_name}: resuming the backfill: {len(checkpoint['windows'])} created windows to list")
    else:
        checkpoint = {
            "started_at": now,
            "windows": [[window.gte, window.lte] for window in initial_windows(now)],
            "events_cursor": {"created": newest.created, "id": newest.id} if newest else {"created": now, "id": None},
        }
    windows = [Window(gte, lte) for gte, lte in checkpoint["windows"]]
    # Rows the listing must account for: live rows in what this process lists.
    unlisted = run.warehouse.ids(
        run.action.table(), run.stripe_account, deleted=False, created_in=[(utc(w.gte), utc(w.lte)) for w in windows]
    )
    if resume and unlisted:
        run.log.info(f"{run.log_name}: deletions among the objects listed before the restart are left to the next reconcile")
    run.action.save_state(backfill=checkpoint)

    def checkpoint_state(outstanding: list[Window]) -> dict:
        checkpoint["windows"] = [[window.gte, window.lte] for window in outstanding]
        return {"backfill": checkpoint}

    for page in list_windows_and_sync(run, windows, checkpoint=checkpoint_state):
        unlisted.difference_update(obj["id"] for obj in page)
    cursor = checkpoint["events_cursor"]
    _finish(run, unlisted, EventCursor(cursor["created"], cursor["id"]), checkpoint["started_at"])


def _backfill_by_cursor(run: SyncRun) -> None:
    """A type whose list takes no `created` filter: one cursor walk, newest first. Not resumable
    part-way (such types hold configuration, a few pages at most): a restart lists them again."""
    newest = _newest_event(run)
    started_at = run.client.server_now()
    unlisted = run.warehouse.ids(run.action.table(), run.stripe_account, deleted=False)
    for page in list_and_sync(run, dict(run.action.list_params)):
        unlisted.difference_update(obj["id"] for obj in page)
    _finish(run, unlisted, newest or EventCursor(started_at), started_at)


def _newest_event(run: SyncRun) -> EventCursor | None:
    watched = run.action.watched_events()
    return EventReader(run.client, watched).newest() if watched else None


def _finish(run: SyncRun, unlisted: set[str], cursor: EventCursor, started_at: int) -> None:
    """Flag what the listing did not return, write it all, and hand over to the events."""
    run.action.flag_deleted(unlisted)
    run.action.flush()
    run.action.save_state(
        backfill=None,
        backfill_completed_at=datetime.now(UTC),
        events_cursor_created=cursor.created,
        events_cursor_id=cursor.id,
        events_recent_ids=[cursor.id] if cursor.id else [],  # what the listing saw already
        events_read_at=utc(started_at),
        listed_through=started_at,  # for types without events: recent.py lists from here on
    )
    if unlisted:
        run.log.info(f"{run.log_name}: {len(unlisted):,} rows that Stripe no longer lists flagged deleted")
