"""`stripe-pipeline sync` and `sync-ids`: the assets' runs (actions/runs.py) with a progress bar
per table and a summary table at the end.

rich draws both; Dagster already depends on it. The bar counts objects fetched, as Stripe's
list API gives no total ahead; the sync's own progress lines (with the estimate of what is
left) appear above it with -v.
"""

from __future__ import annotations

import argparse
import difflib
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from rich.console import Console, RenderableType
from rich.logging import RichHandler
from rich.measure import Measurement
from rich.progress import BarColumn, Progress, ProgressColumn, SpinnerColumn, Task, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from .. import settings
from ..actions import ALL_ACTIONS, StripeSyncActionMixin, SyncStats
from ..actions.registry import UnknownObjectType, action_for_type
from ..actions.runs import accounts_to_sync, plan_id_sync, run_table, sync_ids
from ..dagster_defs.selection import chosen_tables
from ..errors import SETUP_ERRORS
from ..settings import ConfigurationError
from ..stripe_api import StripeApiClient
from ..warehouse import Warehouse, safe_url

REFRESH_SECONDS = 0.2
# Outside a terminal a table is printed as wide as it needs, up to this many columns.
WIDEST = 1_000


@dataclass
class Row:
    """One line of the summary."""

    table: str
    stats: SyncStats | None = None
    requests: int = 0
    seconds: float = 0.0
    note: str = ""
    failed: bool = False  # the table's run raised: the note says what
    skipped: bool = False  # no account has the table's area (the note says why)


def tables(args: argparse.Namespace, console: Console) -> bool:
    """Sync the chosen tables, one after the other; True if any failed."""
    config = settings.load()
    settings.required_key(config)
    if args.tables:
        chosen = chosen_tables(ALL_ACTIONS, ",".join(args.tables), source="The command line")
    else:
        chosen = chosen_tables(ALL_ACTIONS, config.stripe_objects)
    warehouse = Warehouse(config=config)
    log = _logger(console, args.verbose)
    client_for = _clients(config, warehouse, log)
    run_key = f"cli-{uuid.uuid4()}"  # the tables of this command read each account's events once
    accounts = accounts_to_sync(settings.parse_accounts(config.stripe_accounts), client_for)
    say(console, f"Syncing {_count(len(chosen), 'table')} into {safe_url(warehouse.url)} …")
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
                    run_key=run_key,
                )
                row.stats, row.requests = run.totals, run.requests.requests
                row.skipped = not run.synced
                row.note = "; ".join(run.skipped) if row.skipped else ""
                child_rows = [Row(name, stats, note=f"with {action.table_name()}") for name, stats in run.children.items()]
            except SETUP_ERRORS:
                raise
            except Exception as error:  # noqa: BLE001 - one table's failure is reported, the others still sync
                row.failed, row.note = True, f"failed: {type(error).__name__}: {error}"
            row.seconds = time.monotonic() - started
            rows += [row, *child_rows]
            watch.finish(row)
    show(console, _summary(rows), "stripe-pipeline sync")
    return any(row.failed for row in rows)


def ids(args: argparse.Namespace, console: Console) -> bool:
    """Sync the given IDs by their prefixes; True if any could not be synced."""
    config = settings.load()
    settings.required_key(config)
    _check_object_type(args.object_type)
    if args.account is not None and not args.account.startswith("acct_"):
        raise ConfigurationError(f"--account takes a Connect account's ID (acct_…), not {args.account!r}.")
    groups, problems = plan_id_sync(ALL_ACTIONS, args.ids, args.object_type)
    # Only IDs whose prefix tells no type are problems yet: the registry's reason asks for the
    # type "explicitly", which on the command line is --object-type.
    problems = {object_id: _no_type(object_id) for object_id in problems}
    warehouse = Warehouse(config=config)
    log = _logger(console, args.verbose)
    client_for = _clients(config, warehouse, log)
    rows: list[Row] = []
    with _bars(console) as watch:
        # One type at a time, so that one type's failure is reported and the others still sync.
        for action, group in groups.items():
            started = time.monotonic()
            try:
                for run in sync_ids(
                    ALL_ACTIONS,
                    {action: group},
                    problems,
                    client_for=client_for,
                    warehouse=warehouse,
                    logger=log,
                    related=not args.no_related,
                    account=args.account,
                    on_start=watch,
                ):
                    row = Row(
                        run.sync.table_name(),
                        run.stats,
                        run.sync.client.stats.requests,
                        time.monotonic() - started,
                        _count(len(run.synced), "ID"),
                    )
                    watch.finish(row)
                    rows.append(row)
                    # Child rows come with their parents: an invoice's lines, a subscription's items.
                    rows.extend(Row(name, stats, note=f"with {row.table}") for name, stats in run.sync.child_stats.items())
                    rows.extend(Row(other.table_name(), stats, note=f"referred to by {row.table}") for other, stats in run.related.items())
            except SETUP_ERRORS:
                raise
            except Exception as error:  # noqa: BLE001 - one type's failure is reported, the others still sync
                reason = f"{type(error).__name__}: {error}"
                row = Row(action.table_name(), seconds=time.monotonic() - started, note=f"failed: {reason}", failed=True)
                watch.finish(row)
                rows.append(row)
                problems.update({object_id: f"not synced, {reason}" for object_id in group})
    if rows:
        show(console, _summary(rows), "stripe-pipeline sync-ids")
    for object_id, reason in problems.items():
        say(console, Text.assemble((object_id, "yellow"), f": {reason}"))
    return bool(problems)


def _check_object_type(object_type: str | None) -> None:
    """--object-type names a type (`coupon`) or table (`coupons`), or the run stops with one line."""
    if object_type is None:
        return
    try:
        action_for_type(ALL_ACTIONS, object_type)
    except UnknownObjectType:
        names = [name for action in ALL_ACTIONS for name in (action.object_name(), action.table_name())]
        closest = difflib.get_close_matches(object_type.strip().lower(), names, n=1)
        hint = f"did you mean {closest[0]}?" if closest else "it takes an object name (coupon, billing.alert) or a table name (coupons)."
        raise settings.ConfigurationError(f"--object-type {object_type!r} is no object type: {hint}") from None


def _no_type(object_id: str) -> str:
    return (
        f"Cannot tell the object type of {object_id!r} from its prefix (a coupon's ID, say, has none): "
        f"give the type with --object-type, e.g. `stripe-pipeline sync-ids {object_id} --object-type coupon`."
    )


def say(console: Console, message: str | Text) -> None:
    """One message on one line, as written: no markup read into it (`[duckdb]` stays), no
    highlighting, not wrapped by rich (a terminal wraps it; a pipe or a log gets it whole)."""
    console.print(message, markup=False, highlight=False, soft_wrap=True)


def show(console: Console, table: RenderableType, title: str = "") -> None:
    """A table under its title: at the terminal's width in a terminal; elsewhere (a pipe,
    `| tee`, CI) as wide as it needs, since nothing there is 80 columns wide and a squeezed
    table cuts its cells. The title is a line of its own: a table's title wraps at its width."""
    if title:
        say(console, Text(title, style="italic"))
    if console.is_terminal:
        console.print(table)
        return
    needed = Measurement.get(console, console.options.update_width(WIDEST), table).maximum
    width = console.width
    console.width = max(width, min(needed, WIDEST))
    try:
        console.print(table)
    finally:
        console.width = width


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
    handler = RichHandler(console=console, show_path=False, show_time=False, markup=False) if console.is_terminal else _Lines(console)
    log.handlers = [handler]
    log.setLevel(logging.INFO if verbose else logging.WARNING)
    log.propagate = False
    return log


class _Lines(logging.Handler):
    """Outside a terminal: each record on one line, `WARNING  message`, not wrapped at 80
    columns nor padded to them as RichHandler's are."""

    def __init__(self, console: Console):
        super().__init__()
        self._console = console

    def emit(self, record: logging.LogRecord) -> None:
        try:
            say(self._console, f"{record.levelname:<8} {record.getMessage()}")
        except Exception:  # noqa: BLE001 - logging's own rule: a record that cannot be printed is reported, not raised
            self.handleError(record)


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
            outcome = "failed" if row.failed else "skipped" if row.skipped else "done"
            self._progress.update(task, total=max(fetched, 1), completed=max(fetched, 1), fetched=fetched, outcome=outcome)
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


class _Outcome(SpinnerColumn):
    """The spinner while a table syncs, then how it ended: ✓ synced, ✗ failed, – skipped."""

    MARKS = {"done": Text("✓", style="green"), "failed": Text("✗", style="bold red"), "skipped": Text("–", style="yellow")}

    def render(self, task: Task) -> RenderableType:
        if task.finished:
            return self.MARKS[task.fields.get("outcome", "done")]
        return super().render(task)


class _Fetched(ProgressColumn):
    """Objects fetched so far, "1 object" or "2,000 objects": a format string cannot choose the noun."""

    def render(self, task: Task) -> Text:
        return Text(_count(task.fields["fetched"], "object", width=10))


@contextmanager
def _bars(console: Console) -> Iterator[_Watch]:
    progress = Progress(
        _Outcome(),
        TextColumn("{task.description:<28}", markup=False),
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


def _summary(rows: list[Row]) -> Table:
    table = Table()
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
        mode = "skipped" if row.skipped else ", ".join(dict.fromkeys(s.modes)) or "by ID" if s else ""
        # Text, not str: a str cell is read as markup, and a note's `[duckdb]` would vanish.
        table.add_row(
            Text(row.table),
            Text(mode),
            *map(Text, numbers),
            Text(f"{row.requests:,}" if row.requests else ""),
            Text(f"{row.seconds:.1f}" if row.seconds else ""),
            Text(row.note),
            style="red" if row.failed else None,
        )
    return table
