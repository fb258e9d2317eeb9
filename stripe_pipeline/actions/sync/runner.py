"""One incremental run of a type (`sync_incremental`): take its sync lock, check whose state it
is, choose the mode, run it.

- no state yet, an unfinished backfill, `full_refresh`, or events last read longer ago than
  Stripe keeps them (30 days): a (resumed) full backfill, checkpointed (backfill.py);
- otherwise: the events since the cursor, each changed object once (events.py), and a batch
  of the objects kept in `_stripe_sync_errors` tried again (quarantine.py); for a type Stripe
  sends no events about, what was created since the last listing (recent.py);
- `reconcile`: afterwards, relist every ID and flag rows Stripe no longer has (reconcile.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...policies import WHOLE_LISTING_MAX_ROWS
from ...settings import ConfigurationError
from .backfill import backfill
from .events import apply_events
from .quarantine import retry_open_errors
from .recent import account_was_quiet, list_recent, lists_recent
from .reconcile import reconcile

if TYPE_CHECKING:
    from .run import SyncRun


def sync_incremental(
    run: SyncRun, *, reconcile_after: bool, trust_event_payloads: bool, full_refresh: bool, run_key: str | None = None
) -> None:
    with run.action.exclusive(), run.action.batched():
        state = run.action.load_state()
        _check_account(run, state, adopt=full_refresh)
        reason = "a full refresh was asked for" if full_refresh else _why_backfill(run, state)
        if reason is None and not run.action.watched_events():  # _why_backfill found it lists recent objects
            list_recent(run, state, run_key)  # type: ignore[arg-type]  # state is set here
        elif reason is None:
            reason = apply_events(run, state, trust_event_payloads, run_key)  # type: ignore[arg-type]
        # A type without events listed before is small or takes no `created`: one cursor walk
        # (one request for up to 100 objects), not the parallel windows' two or more; none when
        # its account sent no event since (recent.py: account_was_quiet).
        relisted = not full_refresh and not run.action.watched_events() and (state or {}).get("listed_through") is not None
        if reason is not None and relisted and state["backfill"] is None and account_was_quiet(run, state, run_key):  # type: ignore[index,arg-type]  # relisted: state is set
            run.stats.modes.append("recent")
            reason = None
        if reason is not None:
            run.log.info(f"{run.log_name}: full backfill, because {reason}")
            backfill(run, resume=None if full_refresh or not state else state["backfill"], walk=relisted)
        else:  # a backfill has just listed every object again, those kept as errors too
            retry_open_errors(run)
        if reconcile_after:
            reconcile(run)


def _why_backfill(run: SyncRun, state: dict | None) -> str | None:
    if state is None:
        return f"this is the first run (no row for {run.action.table_name()} in the sync state)"
    if state["backfill"] is not None:
        return "an earlier backfill did not finish"
    if not run.action.watched_events():
        if not lists_recent(run):
            return (
                f"Stripe sends no events about {run.action.object_name()} objects: a table of at most "
                f"{WHOLE_LISTING_MAX_ROWS:,} rows, or one whose list takes no `created` filter, is listed whole"
            )
        if state.get("listed_through") is None:
            return "there is no listing cursor yet"
        return None
    if state["events_read_at"] is None:
        return "there is no events cursor yet"
    return None


def _check_account(run: SyncRun, state: dict | None, *, adopt: bool) -> None:
    """A state row (cursor, checkpoint) belongs to the Stripe account and mode it was read
    from. Another account's key must not continue it: its events cursor would skip the new
    account's history, and its backfill would flag the old account's rows deleted. So the run
    stops and says so, unless a full refresh adopts the new account."""
    client = run.client
    known_id, known_livemode = (state or {}).get("stripe_account_id"), (state or {}).get("livemode")
    if not adopt and known_id and (state or {}).get("verified_key") == client.key_fingerprint:
        return  # this key was seen reading this account: no request needed (a quiet run's cost)
    account_id, livemode = client.account_id(), client.livemode
    other_account = known_id and account_id and known_id != account_id
    other_mode = known_livemode is not None and known_livemode != livemode  # test and live share an account ID
    if not adopt and (other_account or other_mode):
        raise ConfigurationError(
            f"The sync state of {run.action.table_name()} in this warehouse belongs to Stripe account {known_id} "
            f"({_mode(known_livemode)}), but the API key now reads {account_id} ({_mode(livemode)}). Sync each account "
            "and mode into its own warehouse or schema (WAREHOUSE_URL, WAREHOUSE_SCHEMA). To move this table to "
            "the new account on purpose, run a full refresh: it backfills from the new account and flags the "
            "rows that account does not have as deleted."
        )
    current = (account_id or known_id, livemode)  # a key that may not read its account keeps the known ID
    verified = client.key_fingerprint if account_id else None  # unread (a restricted key): asked again next time
    if (known_id, known_livemode, (state or {}).get("verified_key")) != (*current, verified):
        run.action.save_state(stripe_account_id=current[0], livemode=current[1], verified_key=verified)


def _mode(livemode: bool | None) -> str:
    return "live mode" if livemode else "test mode"
