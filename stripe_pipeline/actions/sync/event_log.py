"""Each account's events, read once per run for every table of the run.

Every table's incremental run needs the events since its cursor. Read by each table on its own,
a run of the default job read an account's Events API 24 times, and a platform with 1,000 quiet
connected accounts paid 24,000 requests for a run that found nothing. Instead, the first step
of a run to need an account's events reads all of them (every type: one request when the account
was quiet) and stages them in the warehouse (`_stripe_events`); every step of the same run then
takes its own types from there. A step of the next run reads only what is new since.

What a step is owed: every event created since its own cursor (less the overlap). The staged
events cover a span of `created` (`_stripe_shared_reads`, `events <account>`: from, through); a
step whose cursor is older than the span reads from its cursor instead. One reader per account
at a time (a lock): the others wait for it and then read the warehouse.

Within one second, Stripe's order is kept: a later read's events first (they became visible
later), then the order Stripe listed them in. Events no table needs any more (older than every
table's cursor) are dropped.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

from ...models.base import account_key
from ...policies import EVENT_OVERLAP_SECONDS, SAFE_EVENT_AGE_SECONDS
from ...stripe_api.events import EventReader

if TYPE_CHECKING:
    from .run import SyncRun

LOCK = "_stripe_events"  # the sync lock's object type while an account's events are read
STAGE_EVERY = 500


def staged_events_since(
    run: SyncRun, run_key: str, since: int, *, any_type: bool = False, limit: int | None = None
) -> tuple[list[dict], int]:
    """The events of the action's types (`any_type`: of every type) created at or after `since`,
    newest first, `limit` at most, and Stripe's time at which they were read (completely, up to then)."""
    warehouse, account = run.warehouse, run.stripe_account
    name = f"events {account_key(account) or 'platform'}"
    wait = lambda seconds: run.log.info(  # noqa: E731
        f"{run.log_name}: waiting {seconds:.0f} s for another step reading the account's events"
    )
    with warehouse.sync_lock(LOCK, account, wait):
        shared = warehouse.shared_read(name)
        span = shared["value"] if shared else None
        covered = span is not None and span["from"] <= since
        if not (covered and shared["run_key"] == run_key):  # type: ignore[index]
            read_from = since
            if not covered:
                # From what every table of the account needs, not only this one: the tables' cursors
                # differ by how long the first run took, and each older one would read again.
                oldest = warehouse.oldest_events_cursor(account)
                read_from = min(since, oldest - EVENT_OVERLAP_SECONDS) if oldest is not None else since
            span = _read(run, name, run_key, read_from, span if covered else None)
    types = None if any_type else run.action.watched_events()
    return warehouse.staged_events(account, types, since, limit), span["through"]  # type: ignore[index]


def _read(run: SyncRun, name: str, run_key: str, since: int, span: dict | None) -> dict:
    """Read the account's events after what is staged (all since `since` if `span` is None)."""
    warehouse, account, client = run.warehouse, run.stripe_account, run.client
    gte = span["through"] - EVENT_OVERLAP_SECONDS if span else since
    read, position, batch = warehouse.last_event_read(account) + 1, 0, []
    started = time.monotonic()
    for event in EventReader(client, None).since(gte):
        batch.append(event)
        if len(batch) >= STAGE_EVERY:
            warehouse.stage_events(account, read, batch, position)
            position, batch = position + len(batch), []
    warehouse.stage_events(account, read, batch, position)
    position += len(batch)
    # Stripe's time when the read began: what was created later may not be in it.
    through = client.server_now() - math.ceil(time.monotonic() - started)
    span = {"from": min(span["from"], gte) if span else gte, "through": through}
    # What no table needs any more: events before every table's cursor, and those Stripe no
    # longer keeps.
    oldest_needed = max((warehouse.oldest_events_cursor(account) or 0) - EVENT_OVERLAP_SECONDS, through - SAFE_EVENT_AGE_SECONDS)
    if oldest_needed > span["from"]:
        warehouse.drop_events_before(account, oldest_needed)
        span["from"] = oldest_needed
    warehouse.save_shared_read(name, run_key, span)
    run.log.info(f"{run.log_name}: read {position:,} events of the account for every table of this run")
    return span
