"""`stripe-pipeline status`: how fresh each table is, from the sync state the runs keep in the
warehouse (models/sync_state.py), without a request to Stripe."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Console
from rich.table import Table

from .. import settings
from ..actions import ALL_ACTIONS
from ..catalog import TYPES
from ..dagster_defs.selection import chosen_tables, with_children
from ..models import MODELS
from ..warehouse import Warehouse, safe_url


def status(names: list[str], console: Console) -> None:
    warehouse = Warehouse(config=settings.load())
    states: dict[str, list[dict]] = {}
    for state in warehouse.sync_states():
        states.setdefault(state["object_type"], []).append(state)
    tables = chosen_tables(ALL_ACTIONS, ",".join(names)) if names else set(states)
    # A parent's child tables are synced in its runs and keep no state of their own.
    parents = {action.table_name(): TYPES[action.child_table.parent].table for action in with_children(ALL_ACTIONS) if action.child_table}
    tables |= {child for child, parent in parents.items() if parent in tables}
    now = datetime.now(UTC)
    table = Table(title=f"Stripe tables in {safe_url(warehouse.url)}", title_justify="left")
    for column, justify in (
        ("table", "left"),
        ("rows", "right"),
        ("deleted", "right"),
        ("last sync", "left"),
        ("next run", "left"),
        ("events read", "right"),
        ("open errors", "right"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for action in with_children(ALL_ACTIONS):
        name = action.table_name()
        if name not in tables:
            continue
        model = MODELS[name].__table__
        rows, deleted = warehouse.count(model, deleted=False), warehouse.count(model, deleted=True)
        if name in parents and not rows + deleted and name not in names:
            continue  # a child table its parent's runs have not filled
        found = states.get(parents.get(name, name), [])
        last = max((s["updated_at"] for s in found), default=None)
        errors = warehouse.open_errors(name, any_account=True)
        table.add_row(
            name,
            f"{rows:,}",
            f"{deleted:,}",
            _ago(now, last) if last else "never",
            f"with {parents[name]}" if name in parents else _mode(found),
            _ago(now, min((s["events_read_at"] for s in found if s["events_read_at"]), default=None)),
            f"[red]{errors:,}[/]" if errors else "0",
        )
    if not tables:
        console.print(f"No table of {safe_url(warehouse.url)} has been synced yet: run `stripe-pipeline sync`.", highlight=False)
        return
    console.print(table)


def _mode(states: list[dict]) -> str:
    """What the table's next run does."""
    if not states:
        return "backfill"
    if any(s["backfill"] is not None for s in states):
        return "backfill (resumes)"
    if all(s["backfill_completed_at"] is not None for s in states):
        return "events"
    return "backfill"


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
