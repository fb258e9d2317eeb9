"""`stripe-pipeline sync` and `sync-ids`: the assets' runs (actions/runs.py) with a progress bar
per table and a summary table at the end.

rich draws both; Dagster already depends on it. The bar counts objects fetched, as Stripe's
list API gives no total ahead; the sync's own progress lines (with the estimate of what is
left) appear above it with -v.
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import stripe
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, Progress, ProgressColumn, SpinnerColumn, Task, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from .. import settings
from ..actions import ALL_ACTIONS, StripeSyncActionMixin, SyncStats
from ..actions.runs import accounts_to_sync, plan_id_sync, run_table, sync_ids
from ..dagster_defs.selection import chosen_tables
from ..settings import ConfigurationError
from ..stripe_api import StripeAccessError, StripeApiClient
from ..warehouse import Warehouse, WarehouseError, safe_url

REFRESH_SECONDS = 0.2
# What a user fixes by changing a setting: the whole run stops at once, in one line.
SETUP_ERRORS = (ConfigurationError, StripeAccessError, WarehouseError, stripe.AuthenticationError, stripe.PermissionError)


@dataclass
class Row:
    """One line of the summary."""

    table: str
    stats: SyncStats | None = None
    requests: int = 0
    seconds: float = 0.0
    note: str = ""


def tables(args: argparse.Namespace, console: Console) -> bool:
    """Sync the chosen tables, one after the other; True if any failed."""
    config = settings.load()
    settings.required_key(config)
    chosen = chosen_tables(ALL_ACTIONS, ",".join(args.tables) if args.tables else config.stripe_objects)
    warehouse = Warehouse(config=config)
    log = _logger(console, args.verbose)
    client_for = _clients(config, warehouse, log)
    accounts = accounts_to_sync(settings.parse_accounts(config.stripe_accounts), client_for)
    console.print(f"Syncing {_count(len(chosen), 'table')} into {safe_url(warehouse.url)} …", highlight=False)
    rows: list[Row] = []
    with _bars(console) as watch:
        for action in ALL_ACTIONS:
            # A named parent brings the child tables its objects embed: they cost no request.
            named = action.table_name() in chosen
            children = [c.table_name() for c in action.child_actions if c.table_name() in chosen or (named and c.child_table.embedded)]
            if not named and not children:
                continue
            row, child_rows = Row(action.table_name()), []
            started = time.monotonic()
            try:
                run = run_table(
                    action,
                    client_for=client_for,
                    warehouse=warehouse,
                    accounts=accounts,
                    logger=log,
                    children=children,
                    strict=args.strict,
                    on_start=watch,
                    reconcile=args.reconcile,
                    full_refresh=args.full_refresh,
                    trust_event_payloads=args.trust_event_payloads,
                )
                row.stats, row.requests = run.totals, run.requests.requests
                row.note = "; ".join(run.skipped) if not run.synced else ""
                child_rows = [Row(name, stats, note=f"with {action.table_name()}") for name, stats in run.children.items()]
            except SETUP_ERRORS:
                raise
            except Exception as error:  # noqa: BLE001 - one table's failure is reported, the others still sync
                row.note = f"failed: {type(error).__name__}: {error}"
            row.seconds = time.monotonic() - started
            rows += [row, *child_rows]
            watch.finish(row)
    console.print(_summary(rows, "stripe-pipeline sync"))
    return any(row.note.startswith("failed") for row in rows)


def ids(args: argparse.Namespace, console: Console) -> bool:
    """Sync the given IDs by their prefixes; True if any could not be synced."""
    config = settings.load()
    settings.required_key(config)
    groups, problems = plan_id_sync(ALL_ACTIONS, args.ids, args.object_type)
    warehouse = Warehouse(config=config)
    log = _logger(console, args.verbose)
    rows: list[Row] = []
    with _bars(console) as watch:
        started = time.monotonic()
        for run in sync_ids(
            ALL_ACTIONS,
            groups,
            problems,
            client_for=_clients(config, warehouse, log),
            warehouse=warehouse,
            logger=log,
            related=not args.no_related,
            on_start=watch,
        ):
            row = Row(
                run.sync.table_name(), run.stats, run.sync.client.stats.requests, time.monotonic() - started, _count(len(run.synced), "ID")
            )
            watch.finish(row)
            rows.append(row)
            # Child rows come with their parents: an invoice's lines, a subscription's items.
            rows.extend(Row(name, stats, note=f"with {row.table}") for name, stats in run.sync.child_stats.items())
            rows.extend(Row(other.table_name(), stats, note=f"referred to by {row.table}") for other, stats in run.related.items())
            started = time.monotonic()
    console.print(_summary(rows, "stripe-pipeline sync-ids"))
    for object_id, reason in problems.items():
        console.print(f"[yellow]{object_id}[/]: {reason}", highlight=False)
    return bool(problems)


def _count(number: int, noun: str, width: int = 0) -> str:
    """The number and its noun, "1 table" or "2,000 objects"; `width` right-aligns the number, for a column."""
    return f"{number:>{width},} {noun}" + ("" if number == 1 else "s")


def _clients(config: settings.Settings, warehouse: Warehouse, log: logging.Logger):
    def client_for(account: str | None) -> StripeApiClient:
        return StripeApiClient(config=config, stripe_account=account, logger=log, slot_store=warehouse.slot_store())

    return client_for


def _logger(console: Console, verbose: bool) -> logging.Logger:
    """The actions' log, printed above the bars: warnings, or everything with -v."""
    log = logging.getLogger("stripe_pipeline.cli")
    log.handlers = [RichHandler(console=console, show_path=False, show_time=False, markup=False)]
    log.setLevel(logging.INFO if verbose else logging.WARNING)
    log.propagate = False
    return log


class _Watch:
    """Moves the current table's bar from its actions' stats, on a thread of its own: the
    objects fetched for the accounts done so far, plus the current account's."""

    def __init__(self, progress: Progress):
        self._progress = progress
        self._current: tuple[TaskID, int, StripeSyncActionMixin] | None = None  # task, fetched before, action
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="stripe-pipeline-progress", daemon=True)
        self._thread.start()

    def __call__(self, sync: StripeSyncActionMixin) -> None:
        """A table's action (of one account) starts."""
        current = self._current
        if current is None or current[2].table_name() != sync.table_name():
            self._current = (self._progress.add_task(sync.table_name(), total=None, fetched=0), 0, sync)
        else:
            task, before, previous = current
            self._current = (task, before + previous.stats.fetched, sync)

    def finish(self, row: Row) -> None:
        if self._current is not None and self._current[2].table_name() == row.table:
            task, before, sync = self._current
            fetched = row.stats.fetched if row.stats else before + sync.stats.fetched  # a failed table: as far as it got
            self._progress.update(task, total=max(fetched, 1), completed=max(fetched, 1), fetched=fetched)
            self._current = None

    def close(self) -> None:
        self._stop.set()
        self._thread.join()

    def _follow(self) -> None:
        while not self._stop.wait(REFRESH_SECONDS):
            current = self._current
            if current is not None:
                task, before, sync = current
                self._progress.update(task, fetched=before + sync.stats.fetched)


class _Fetched(ProgressColumn):
    """Objects fetched so far, "1 object" or "2,000 objects": a format string cannot choose the noun."""

    def render(self, task: Task) -> Text:
        return Text(_count(task.fields["fetched"], "object", width=10))


@contextmanager
def _bars(console: Console) -> Iterator[_Watch]:
    progress = Progress(
        SpinnerColumn(finished_text="[green]✓[/]"),
        TextColumn("{task.description:<28}"),
        BarColumn(),
        _Fetched(),
        TimeElapsedColumn(),
        console=console,
    )
    with progress:
        watch = _Watch(progress)
        try:
            yield watch
        except BaseException:
            # The error that stops the run is printed next; a bar stopped midway above it only confuses.
            progress.live.transient = True
            raise
        finally:
            watch.close()


def _summary(rows: list[Row], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for name, justify in (
        ("table", "left"),
        ("mode", "left"),
        ("fetched", "right"),
        ("inserted", "right"),
        ("updated", "right"),
        ("unchanged", "right"),
        ("deleted", "right"),
        ("failed", "right"),
        ("requests", "right"),
        ("seconds", "right"),
        ("note", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in rows:
        s = row.stats
        numbers = (
            [f"{n:,}" for n in (s.fetched, s.written.inserted, s.written.updated, s.written.unchanged, s.deleted, s.failed)]
            if s
            else [""] * 6
        )
        mode = ", ".join(dict.fromkeys(s.modes)) or "by ID" if s else ""
        style = "red" if row.note.startswith("failed") else None
        table.add_row(
            row.table,
            mode,
            *numbers,
            f"{row.requests:,}" if row.requests else "",
            f"{row.seconds:.1f}" if row.seconds else "",
            row.note,
            style=style,
        )
    return table
