"""`stripe-pipeline status`: how fresh each table is, from the sync state the runs keep (in the
warehouse, or the database STATE_URL names: models/sync_state.py), without a request to Stripe.

It only reads. Warehouse's own reads create the tables they read (`ensure_tables`) and a SQLite
or DuckDB file on first connection, so this module checks what exists first and reads with
plain SQLAlchemy: no file, folder or table appears because someone asked for the status.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlalchemy import Connection, func, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from .. import settings
from ..actions import ALL_ACTIONS, StripeSyncActionMixin
from ..catalog import TYPES
from ..dagster_defs.selection import chosen_tables, with_children
from ..models import MODELS
from ..models.sync_state import SyncError, SyncState
from ..warehouse import Warehouse, WarehouseError, safe_url
from ..warehouse.dialects import DIALECTS
from .sync import say, show

_STATE = SyncState.__table__
_ERRORS = SyncError.__table__


# A parent's child tables are synced in its runs and keep no state of their own.
_PARENTS = {action.table_name(): TYPES[action.child_table.parent].table for action in with_children(ALL_ACTIONS) if action.child_table}


@dataclass
class _Read:
    """What status shows, read in one transaction."""

    states: dict[str, list[dict]] = field(default_factory=dict)  # by object type (its table's name)
    tables: set[str] = field(default_factory=set)  # the tables to show
    counts: dict[str, tuple[int, int]] = field(default_factory=dict)  # table: (rows, deleted), of those that exist
    errors: dict[str, int] = field(default_factory=dict)  # table: open errors


def status(names: list[str], console: Console) -> None:
    config = settings.load()
    # Names are checked before the warehouse is touched: a typo is a typo whether or not it exists.
    named = chosen_tables(ALL_ACTIONS, ",".join(names), source="The command line") if names else set()
    url = safe_url(config.warehouse_url)
    if not _exists(config.warehouse_url):
        say(console, f"No warehouse at {url}: run `stripe-pipeline sync` first.")
        return
    warehouse = Warehouse(config=config)
    try:
        warehouse.ping()  # an unreachable server: the one line Warehouse explains it with
        read = _read(warehouse, named)
    finally:
        warehouse.close()
    parents = _PARENTS
    now = datetime.now(UTC)
    table = Table()
    for column, justify in (
        ("table", "left"),
        ("rows", "right"),
        ("deleted", "right"),
        ("last sync", "left"),  # this machine's clock: state rows' updated_at
        ("next run", "left"),
        ("events read\n(Stripe's clock)", "left"),  # events_read_at is Stripe's time, not this machine's
        ("open errors", "right"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for action in with_children(ALL_ACTIONS):
        name = action.table_name()
        if name not in read.tables:
            continue
        rows, deleted = read.counts.get(name, (0, 0))  # a table never created holds no rows
        if name in parents and not rows + deleted and name not in names:
            continue  # a child table its parent's runs have not filled
        found = read.states.get(parents.get(name, name), [])
        last = max((s["updated_at"] for s in found), default=None)
        errors = read.errors.get(name, 0)
        events_read = min((s["events_read_at"] for s in found if s["events_read_at"]), default=None)
        table.add_row(
            Text(name),
            Text(f"{rows:,}"),
            Text(f"{deleted:,}"),
            Text(_ago(now, last) if last else "never"),
            Text(f"with {parents[name]}" if name in parents else _mode(action, found)),
            Text(_stripe_time(events_read)),
            Text(f"{errors:,}", style="red") if errors else Text("0"),
        )
    if not table.row_count:
        say(console, f"No table of {url} has been synced yet: run `stripe-pipeline sync`.")
        return
    show(console, table, f"Stripe tables in {url}")


def _exists(url: str) -> bool:
    """Whether the warehouse is there to read. A SQLite or DuckDB file is made by the first
    connection to it, so a missing one is not connected to; a server's database is checked by
    connecting (which creates nothing)."""
    parsed = make_url(url)
    dialect = DIALECTS.get(parsed.get_backend_name())
    if dialect is None or not dialect.files:
        return True
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return True  # in memory (nothing to create on disk), or a SQLite URI the driver resolves
    return Path(database).exists()


def _read(warehouse: Warehouse, named: set[str]) -> _Read:
    """The sync states, and the row counts and open errors of the tables to show (`named`, else
    those with a sync state, with their child tables), of those that exist; creates nothing."""
    try:
        with warehouse.engine.connect() as connection:
            if not warehouse.state_apart:
                return _read_from(connection, warehouse.schema, connection, warehouse.schema, named)
            if not _exists(warehouse.state.url):
                return _read_from(connection, warehouse.schema, None, None, named)  # no state yet
            with warehouse.state.database.engine.connect() as state:
                return _read_from(connection, warehouse.schema, state, warehouse.state.schema, named)
    except SQLAlchemyError as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()
        raise WarehouseError(
            f"The warehouse {safe_url(warehouse.url)} failed to read the sync state: {reason[0] if reason else error}"
        ) from None


def _read_from(
    connection: Connection, schema: str | None, state_connection: Connection | None, state_schema: str | None, named: set[str]
) -> _Read:
    """`connection` reads the tables, `state_connection` the sync state (the same one unless
    STATE_URL puts the state apart; None: no state database yet)."""
    present = set(inspect(connection).get_table_names(schema=schema))
    read = _Read()
    state_present = set(inspect(state_connection).get_table_names(schema=state_schema)) if state_connection is not None else set()
    if state_connection is not None and _STATE.name in state_present:
        columns = [_STATE.c[name] for name in ("object_type", "updated_at", "events_read_at", "backfill", "backfill_completed_at")]
        for state in state_connection.execute(select(*columns).order_by(_STATE.c.object_type)).mappings():
            read.states.setdefault(state["object_type"], []).append(dict(state))
    read.tables = named or set(read.states)
    read.tables |= {child for child, parent in _PARENTS.items() if parent in read.tables}
    for name in read.tables & present & MODELS.keys():
        model = MODELS[name].__table__
        # COUNT(column) counts the rows where it is not NULL: those flagged deleted.
        total, deleted = connection.execute(select(func.count(), func.count(model.c._deleted_at)).select_from(model)).one()
        read.counts[name] = (total - deleted, deleted)
    if _ERRORS.name in present:
        query = select(_ERRORS.c.object_type, func.count()).where(_ERRORS.c.resolved_at.is_(None)).group_by(_ERRORS.c.object_type)
        read.errors = {object_type: count for object_type, count in connection.execute(query)}
    return read


def _mode(action: type[StripeSyncActionMixin], states: list[dict]) -> str:
    """What the table's next run does."""
    if not states:
        return "backfill"
    if any(s["backfill"] is not None for s in states):
        return "backfill (resumes)"
    if not action.watched_events():
        return "full listing (no events)"  # Stripe sends none about it: every run lists it whole
    if all(s["backfill_completed_at"] is not None for s in states):
        return "events"
    return "backfill"


def _stripe_time(moment: datetime | None) -> str:
    """A time of Stripe's clock as it is, to the minute: Stripe's clock is not this machine's
    (the emulator's starts in 2026), so an age measured on ours would mislead."""
    if moment is None:
        return ""
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # SQLite keeps no zone: written as UTC
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _ago(now: datetime, moment: datetime | None) -> str:
    """How long ago, the way a person reads it: 42 s, 7 min, 3.5 h, 2.0 d."""
    if moment is None:
        return ""
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # SQLite keeps no zone: written as UTC
    seconds = max((now - moment).total_seconds(), 0)
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h ago"
    return f"{seconds / 86_400:.1f} d ago"
