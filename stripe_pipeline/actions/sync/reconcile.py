"""Reconcile: relist every object and compare IDs with the table.

Rows Stripe no longer lists get `_deleted_at` (deletes no event reported); flagged rows that
Stripe lists again are restored. Only rows created before the listing began are judged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .listing import list_and_sync
from .times import utc

if TYPE_CHECKING:
    from .run import SyncRun


def reconcile(run: SyncRun) -> None:
    table, account = run.action.table(), run.stripe_account
    run.stats.modes.append("reconcile")
    flagged = run.warehouse.ids(table, account, deleted=True)

    def live_rows_created_before_now() -> set[str]:
        # Now: when the listing began, by Stripe's clock. Objects created later may be
        # missing from it without being gone.
        if "created" not in table.c:
            return run.warehouse.ids(table, account, deleted=False)
        return run.warehouse.ids(table, account, deleted=False, created_before=utc(run.client.server_now()))

    unlisted: set[str] | None = None
    restored = listed = 0
    for page in list_and_sync(run, dict(run.action.list_params)):
        if unlisted is None:
            unlisted = live_rows_created_before_now()
        ids = {obj["id"] for obj in page}
        unlisted -= ids
        restored += len(flagged & ids)
        listed += len(ids)
    if unlisted is None:  # Stripe lists nothing: every row created before now is gone
        unlisted = live_rows_created_before_now()
    run.action.flag_deleted(unlisted)
    run.stats.restored += restored
    run.stats.listed += listed
    run.log.info(
        f"{run.log_name}: reconciled {listed:,} listed objects: "
        f"{len(unlisted):,} rows Stripe no longer has flagged deleted, {restored:,} restored"
    )
