"""Asset metadata: Dagster's standard table keys plus what the sync did."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg
from sqlalchemy import Table

from ..actions import StripeSyncActionMixin, SyncStats
from ..stripe_api import RequestStats
from ..warehouse import Warehouse


def column_schema(table: Table) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[dg.TableColumn(name=column.name, type=str(column.type), description=column.comment) for column in table.columns]
    )


def sync_metadata(
    action: type[StripeSyncActionMixin] | StripeSyncActionMixin,
    stats: SyncStats,
    requests: RequestStats | None,
    warehouse: Warehouse,
    skipped: Sequence[str] = (),
) -> dict:
    """`requests`: the API requests of the run, None for a child table (its parent's asset counts them)."""
    table = action.table()
    metadata = {
        "dagster/row_count": warehouse.count(table),
        "dagster/table_name": warehouse.qualified_name(table),
        "dagster/column_schema": column_schema(table),
        "mode": ", ".join(dict.fromkeys(stats.modes)) or "by ID",
        "events": stats.events,
        "events_skipped": stats.events_skipped,
        "failed": stats.failed,  # objects kept in _stripe_sync_errors
        "drifted_fields": dg.MetadataValue.json(dict(stats.drifted)),
        "fetched": stats.fetched,
        "inserted": stats.written.inserted,
        "updated": stats.written.updated,
        "unchanged": stats.written.unchanged,
        "deleted": stats.deleted,
        "restored": stats.restored,
    }
    if requests is not None:
        metadata.update(api_requests=requests.requests, api_retries=requests.retries, api_rate_limited=requests.rate_limited)
    if skipped:
        metadata["skipped_accounts"] = dg.MetadataValue.json(list(skipped))
    return metadata
