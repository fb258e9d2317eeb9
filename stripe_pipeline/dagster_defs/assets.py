"""The asset factory: one Dagster asset per sync action."""


from contextlib import contextmanager

import dagster as dg
from pydantic import Field

from ..actions import StripeSyncActionMixin
from ..settings import ConfigurationError
from ..stripe_api import StripeAccessError
from .metadata import column_schema, sync_metadata
from .resources import StripeResource, WarehouseResource

# Every asset and op that calls Stripe runs in this pool; cap it in dagster.yaml to share the rate limit.
STRIPE_API_POOL = "stripe_api"
ASSET_GROUP = "stripe"
# Outages and rate-limit storms pass; a retry a few minutes later usually succeeds.
SYNC_RETRY_POLICY = dg.RetryPolicy(max_retries=3, delay=30, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)


class StripeSyncConfig(dg.Config):
    """Run config of every Stripe asset; the defaults are the cheap, correct incremental run."""

    reconcile: bool = Field(
        default=False,
        description="Also relist every ID: flag rows Stripe no longer has, restore rows wrongly flagged.",
    )
    trust_event_payloads: bool = Field(
        default=False,
        description="Take changed objects from the events instead of retrieving them again. Saves requests, "
        "but an event renders its object in the API version of its time.",
    )
    full_refresh: bool = Field(default=False, description="Backfill everything again, ignoring the events cursor.")


def asset_key(action: type[StripeSyncActionMixin]) -> dg.AssetKey:
    return dg.AssetKey([ASSET_GROUP, action.table_name()])


@contextmanager
def no_retry_on_setup_errors():
    """A wrong key or setting fails the same way on every retry: fail once, clearly."""
    try:
        yield
    except (StripeAccessError, ConfigurationError) as error:
        raise dg.Failure(description=str(error), allow_retries=False) from None


def build_sync_asset(action: type[StripeSyncActionMixin], warehouse_kind: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=asset_key(action),
        group_name=ASSET_GROUP,
        kinds={"stripe", warehouse_kind},
        pool=STRIPE_API_POOL,
        retry_policy=SYNC_RETRY_POLICY,
        description=f"Every Stripe {action.object_name()} ({action.api_path()}), one row each, "
        f"through {action.__name__}'s hooks. Backfills on its first run, then reads only the events since the last run.",
        metadata={"dagster/column_schema": column_schema(action.table())},
    )
    def sync_asset(
        context: dg.AssetExecutionContext, config: StripeSyncConfig, stripe_api: StripeResource, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        with no_retry_on_setup_errors():
            target = warehouse.warehouse()
            client = stripe_api.client(logger=context.log, slot_store=target.slot_store())
            sync = action(client=client, warehouse=target, logger=context.log)
            stats = sync.sync_incremental(
                reconcile=config.reconcile,
                trust_event_payloads=config.trust_event_payloads,
                full_refresh=config.full_refresh,
            )
        return dg.MaterializeResult(metadata=sync_metadata(sync, stats, client.stats, target))

    return sync_asset
