"""Objects kept in `_stripe_sync_errors`, tried again.

An object whose hook raised (or whose row the database refused) is kept aside while the run
goes on, and the cursor moves past it. Nothing would bring it back once the hook is fixed, so
each events run retrieves some of its table's open errors again (SYNC_ERRORS_RETRIED_PER_RUN,
those seen longest ago first) and syncs them: one that now syncs is resolved with its row's
flush, one that still fails counts up, and one Stripe no longer has is resolved as gone. A
child table's errors are tried through their parents, which bring their children along.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...policies import SYNC_ERRORS_RETRIED_PER_RUN
from .listing import retrieve_each

if TYPE_CHECKING:
    from .protocol import ActionType
    from .run import SyncRun


def retry_open_errors(run: SyncRun, limit: int = SYNC_ERRORS_RETRIED_PER_RUN) -> None:
    warehouse, account = run.warehouse, run.stripe_account
    # What to retrieve: the table's own objects, and the parents of its child tables' objects.
    wanted = dict.fromkeys(object_id for object_id, _ in warehouse.open_error_objects(run.action.table_name(), account, limit))
    children = {child: warehouse.open_error_objects(child.table_name(), account, limit) for child in run.chosen_children}
    for child, failed in children.items():
        wanted.update(dict.fromkeys(parent for parent in (_parent(child, raw) for _, raw in failed) if parent is not None))
    ids = list(wanted)[:limit]
    if not ids:
        return
    tables = [run.action.table_name(), *(child.table_name() for child in children)]
    open_before = sum(warehouse.open_errors(table, account) for table in tables)
    gone = []
    for object_id, stripe_data in retrieve_each(run, ids):
        if stripe_data is None or stripe_data.get("deleted") is True:
            gone.append(object_id)
            run.action.flag_deleted([object_id])
        else:
            run.action.sync(stripe_data)
    run.action.flush()  # resolves the errors of the objects that synced or are gone
    if gone:  # nothing left to sync: their children's errors are moot too
        for child, failed in children.items():
            warehouse.resolve_errors(child.table_name(), account, [object_id for object_id, raw in failed if _parent(child, raw) in gone])
    still_open = sum(warehouse.open_errors(table, account) for table in tables)
    run.log.info(
        f"{run.log_name}: retried {len(ids):,} objects for _stripe_sync_errors: "
        f"{open_before - still_open:,} errors resolved, {still_open:,} still open"
    )


def _parent(child: type[ActionType], raw: dict | None) -> str | None:
    """The parent's ID that a child object names (an invoice line's `invoice`)."""
    parent = (raw or {}).get(child.child_table.parent_field)
    parent = parent.get("id") if isinstance(parent, dict) else parent
    return parent if isinstance(parent, str) else None
