"""What the UI reports on each synced table besides its materializations: freshness, and
checks of references that must resolve.

The sync step reports two checks itself (assets.py): `no_open_sync_errors`, and, in runs that
reconcile, `matches_stripe`. The reference checks here run as steps of their own after both
tables synced. None of them is blocking: a check reports, it never holds up the sync, and a
table with orphans is still worth having.

Freshness is Dagster's `FreshnessPolicy` (it supersedes the freshness asset checks and their
sensor in 1.13): the daemon marks a chosen table stale when its last successful sync is older
than STRIPE_FRESHNESS_HOURS.
"""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

from ..actions import StripeSyncActionMixin
from ..models import MODELS
from ..settings import ConfigurationError
from .assets import no_retry_on_setup_errors
from .resources import WarehouseResource
from .translator import StripeAssetTranslator

# (table, column, referenced table): the references reports are joined on.
REFERENCES = (
    ("prices", "product", "products"),
    ("subscriptions", "customer", "customers"),
    ("invoices", "customer", "customers"),
    ("charges", "payment_intent", "payment_intents"),
)


def with_freshness(assets: list[dg.AssetsDefinition], keys: list[dg.AssetKey], hours: float) -> list[dg.AssetsDefinition]:
    """The assets, with a freshness policy on those of `keys` (the tables the schedules keep fresh)."""
    policy = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=hours))
    chosen = set(keys)
    return [
        asset.map_asset_specs(lambda spec: spec.replace_attributes(freshness_policy=policy) if spec.key in chosen else spec)
        for asset in assets
    ]


def build_reference_checks(
    actions: list[type[StripeSyncActionMixin]], translator: StripeAssetTranslator, problem: ConfigurationError | None = None
) -> list[dg.AssetChecksDefinition]:
    by_table = {action.table_name(): action for action in actions}
    return [
        _reference_check(
            translator.get_asset_spec(by_table[table]).key, table, column, translator.get_asset_spec(by_table[target]).key, target, problem
        )
        for table, column, target in REFERENCES
        if table in by_table and target in by_table
    ]


def _reference_check(
    key: dg.AssetKey, table: str, column: str, target_key: dg.AssetKey, target: str, problem: ConfigurationError | None
) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=key,
        name=f"{column}_exists",
        additional_deps=[target_key],
        description=f"Every {table}.{column} is a row of {target} (live or deleted): a warning with the count of those that are not.",
        blocking=False,
    )
    def check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        with no_retry_on_setup_errors(problem):
            orphans, sample = warehouse.warehouse().orphans(MODELS[table].__table__, column, MODELS[target].__table__)
        return dg.AssetCheckResult(
            passed=orphans == 0,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"orphans": orphans, "sample": dg.MetadataValue.json(sample)},
            description=None
            if not orphans
            else f"{orphans:,} {'row' if orphans == 1 else 'rows'} of {table} {'refers' if orphans == 1 else 'refer'} to a {column} "
            f"that {target} lacks; sync it, or sync those IDs",
        )

    return check
