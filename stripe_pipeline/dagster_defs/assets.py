"""The asset factory: one Dagster asset per sync action."""


from contextlib import contextmanager

import dagster as dg

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
        f"through {action.__name__}'s hooks.",
        metadata={"dagster/column_schema": column_schema(action.table())},
    )
    def sync_asset(
        context: dg.AssetExecutionContext, stripe_api: StripeResource, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        with no_retry_on_setup_errors():
            client = stripe_api.client(logger=context.log)
            target = warehouse.warehouse()
            sync = action(client=client, warehouse=target, logger=context.log)
            stats = sync.sync_all()
        return dg.MaterializeResult(metadata=sync_metadata(sync, stats, client.stats, target))

    return sync_asset
