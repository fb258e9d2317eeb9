"""Related objects: what synced rows refer to, fetched when the warehouse does not hold it yet.

An ID sync of a few charges is little use when their customers are not in the warehouse. The
references are noted while the rows are staged (`track_references`) and fetched afterwards,
one batch per type (`sync_by_ids`: `concurrency` requests at a time, or one list request per
100 IDs where the type filters by IDs), never one by one inside `sync`. One level deep: the
customers of the charges, not the customers' own references.
"""

from __future__ import annotations

from collections.abc import Callable

from .mixins import StripeSyncActionMixin, SyncStats
from .registry import UnknownObjectType, action_for_type


def sync_related(
    sync: StripeSyncActionMixin,
    actions: list[type[StripeSyncActionMixin]],
    make: Callable[[type[StripeSyncActionMixin]], StripeSyncActionMixin],
) -> dict[type[StripeSyncActionMixin], SyncStats]:
    """Sync the objects that `sync`'s rows refer to and the warehouse lacks; stats by action."""
    done: dict[type[StripeSyncActionMixin], SyncStats] = {}
    for object_name, ids in sorted((sync.references or {}).items()):
        try:
            target = action_for_type(actions, object_name)
        except UnknownObjectType:
            continue  # a type with no table of its own (a discount, a source)
        missing = ids - sync.warehouse.existing_ids(target.table(), ids, sync.stripe_account)
        if missing:
            sync.log.info(f"{sync.log_name}: fetching {len(missing):,} related {object_name} objects the warehouse lacks")
            done[target] = make(target).sync_by_ids(sorted(missing))
    return done
