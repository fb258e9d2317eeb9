"""The incremental run of a type Stripe sends no events about: what was created since the last
listing, and again what may still have changed since (`declarations.STILL_CHANGING`).

Without events, a change to an older object can only be seen by listing it again. Relisting
the whole type on every run made its cost follow the table's size (5 million balance
transactions are 50,000 pages, 33 minutes at one endpoint's 25 requests a second, every run).
A balance transaction changes only while it is `pending`, so a run lists again from the oldest
pending row on: the days of the payout schedule, not the years of the account. Other changes
and deletions of such types are found by the weekly reconcile, which lists everything. Tables of
a few pages are listed whole on every run, as before: exact at the cost of those pages.

A balance transaction is never made or settled alone: the charge, refund or payout that makes
it sends events, and so do its funds settling (`declarations.ANNOUNCED_BY`). When the account
sent no event at all since the last listing, there is nothing to list: a quiet connected
account's run costs its one events request, not one more for its balance transactions.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

from ...catalog.declarations import ANNOUNCED_BY, STILL_CHANGING
from ...policies import EVENT_OVERLAP_SECONDS, MAX_SETTLING_LOOKBACK_SECONDS, QUIET_LISTING_MAX_AGE_SECONDS, WHOLE_LISTING_MAX_ROWS
from ...stripe_api.windows import Window
from .event_log import staged_events_since
from .listing import list_windows_and_sync
from .times import unix, utc

DAY = 86_400

if TYPE_CHECKING:
    from .run import SyncRun


def lists_recent(run: SyncRun) -> bool:
    """Whether the type's runs list only what is recent: it has no events, its list filters by
    `created`, and its table is larger than a few pages. A small one (most are configuration:
    shipping rates, value lists) is listed whole, a request or a few, and so stays exact, its
    changes and deletions included, without waiting for the reconcile."""
    if run.action.watched_events() or run.action.stripe_type is None or not run.action.stripe_type.lists_by_created:
        return False
    return run.warehouse.count(run.action.table(), deleted=False, account=run.stripe_account) > WHOLE_LISTING_MAX_ROWS


def list_recent(run: SyncRun, state: dict, run_key: str | None = None) -> None:
    run.stats.modes.append("recent")
    started = time.monotonic()
    listed_through = state["listed_through"]  # Stripe's time, as of the last run
    # Objects may become visible a little after their `created`, as events do: the same overlap.
    since = listed_through - EVENT_OVERLAP_SECONDS
    if account_was_quiet(run, state, run_key):
        return
    settling = STILL_CHANGING.get(run.action.object_name())
    if settling is not None:
        oldest = run.warehouse.oldest_created(run.action.table(), run.stripe_account, *settling)
        if oldest is not None:
            since = min(since, max(unix(oldest), listed_through - MAX_SETTLING_LOOKBACK_SECONDS))
    # No request has told Stripe's time yet, and this machine's may differ: up to a day ahead of
    # either (nothing is created in the future).
    until = max(listed_through, int(time.time())) + DAY
    run.log.info(f"{run.log_name}: listing what was created from {utc(since):%Y-%m-%d %H:%M:%S} on (Stripe sends no events about these)")
    for _ in list_windows_and_sync(run, [Window(since, until)]):
        pass
    run.action.flush()  # the rows before the cursor that says they are there
    # Stripe's time when the listing began: what was created later may not be in it.
    run.action.save_state(listed_through=run.client.server_now() - math.ceil(time.monotonic() - started))


def account_was_quiet(run: SyncRun, state: dict, run_key: str | None) -> bool:
    """Whether the type changes only along with other events (ANNOUNCED_BY), was listed within
    QUIET_LISTING_MAX_AGE_SECONDS, and its account sent no event since (the run's shared read of
    the account's events: event_log.py). Then there is nothing to list, and the last listing
    stays where it was: the next run that lists starts from there."""
    if run.action.object_name() not in ANNOUNCED_BY or run_key is None:
        return False
    listed_through = state["listed_through"]
    events, read_through = staged_events_since(run, run_key, listed_through - EVENT_OVERLAP_SECONDS, any_type=True, limit=1)
    quiet = not events and read_through - listed_through <= QUIET_LISTING_MAX_AGE_SECONDS  # both Stripe's time
    if quiet:
        run.log.info(f"{run.log_name}: the account sent no event since the last listing: nothing new to list")
    return quiet
