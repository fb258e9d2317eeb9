"""Asset metadata: Dagster's standard table keys plus what the sync did."""

from __future__ import annotations

import dagster as dg
from sqlalchemy import Table

from ..actions import StripeSyncActionMixin, SyncStats
from ..stripe_api import RequestStats
from ..warehouse import Warehouse


def column_schema(table: Table) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name=column.name, type=str(column.type), description=column.comment)
            for column in table.columns
        ]
    )


def sync_metadata(action: StripeSyncActionMixin, stats: SyncStats, requests: RequestStats, warehouse: Warehouse) -> dict:
    table = action.table()
    return {
        "dagster/row_count": warehouse.count(table),
        "dagster/table_name": warehouse.qualified_name(table),
        "dagster/column_schema": column_schema(table),
        "mode": ", ".join(stats.modes) or "by ID",
        "events": stats.events,
        "fetched": stats.fetched,
        "inserted": stats.written.inserted,
        "updated": stats.written.updated,
        "unchanged": stats.written.unchanged,
        "deleted": stats.deleted,
        "restored": stats.restored,
        "api_requests": requests.requests,
        "api_retries": requests.retries,
        "api_rate_limited": requests.rate_limited,
    }
