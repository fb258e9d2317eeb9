"""The ID sync job: sync the Stripe objects whose IDs a user pastes into the launchpad."""

from typing import Optional

import dagster as dg
from pydantic import Field

from ..actions import StripeSyncActionMixin
from ..actions.registry import UnknownObjectType
from ..actions.runs import plan_id_sync, sync_ids
from ..settings import ConfigurationError
from .assets import STRIPE_API_POOL, asset_key, no_retry_on_setup_errors
from .metadata import sync_metadata
from .resources import StripeResource, WarehouseResource
from .translator import StripeAssetTranslator

ID_SYNC_JOB = "stripe_sync_by_ids"


class StripeIdSyncConfig(dg.Config):
    ids: list[str] = Field(description="Stripe IDs to sync, e.g. ['cus_…', 'sub_…']. The type comes from the prefix.")
    related: bool = Field(
        default=True,
        description="Also sync the objects they refer to that the warehouse lacks (a charge's customer), in batches.",
    )
    object_type: Optional[str] = Field(
        default=None,
        description="Set it when the prefix cannot tell (coupons, plans), e.g. 'coupon'; it then applies to every ID. "
        "Child rows (invoice lines, …) sync with their parent: give the parent's ID.",
    )
    stripe_account: Optional[str] = Field(
        default=None,
        description="The Connect account the IDs belong to (acct_…), read through the platform key; unset: the platform's own.",
    )


def _table_event(key: dg.AssetKey, target, action, description: str, metadata: dict, account: str | None):
    """A materialization where the table was backfilled; else an observation that says it is
    partial, so the UI does not show a table of a few IDs as materialized."""
    state = target.load_state(action.table_name(), account)
    if state and state["backfill_completed_at"] is not None:
        return dg.AssetMaterialization(asset_key=key, description=description, metadata=metadata)
    metadata = {**metadata, "partial": "only IDs synced by the ID job: the table has not been backfilled yet"}
    return dg.AssetObservation(asset_key=key, description=description, metadata=metadata)


def build_id_sync_job(
    actions: list[type[StripeSyncActionMixin]], translator: StripeAssetTranslator | None = None, problem: ConfigurationError | None = None
) -> dg.JobDefinition:
    @dg.op(pool=STRIPE_API_POOL, tags={"dagster/kind/stripe": ""})
    def sync_stripe_ids(
        context: dg.OpExecutionContext,
        config: StripeIdSyncConfig,
        stripe_api: StripeResource,
        warehouse: WarehouseResource,
    ):
        # A generator, so each table's materialization is recorded even when the step fails at the end.
        try:
            groups, problems = plan_id_sync(actions, config.ids, config.object_type)
        except UnknownObjectType as error:
            raise dg.Failure(description=str(error), allow_retries=False) from None
        synced: dict[str, list[str]] = {}
        with no_retry_on_setup_errors(problem):
            target = warehouse.warehouse()
            runs = sync_ids(
                actions,
                groups,
                problems,
                client_for=lambda account: stripe_api.client(logger=context.log, slot_store=target.slot_store(), stripe_account=account),
                warehouse=target,
                logger=context.log,
                related=config.related,
                account=config.stripe_account,
            )
            for run in runs:
                action = type(run.sync)
                synced[action.table_name()] = run.synced
                yield _table_event(
                    asset_key(action, translator),
                    target,
                    action,
                    f"{len(run.synced)} objects synced by ID",
                    sync_metadata(run.sync, run.stats, run.sync.client.stats, target),
                    config.stripe_account,
                )
                for other, other_stats in run.related.items():
                    yield _table_event(
                        asset_key(other, translator),
                        target,
                        other,
                        f"{other_stats.fetched} objects that {action.table_name()} refer to, synced by ID",
                        sync_metadata(other, other_stats, None, target),
                        config.stripe_account,
                    )
        for object_id, reason in problems.items():
            context.log.warning(f"{object_id}: {reason}")
        if problems:
            raise dg.Failure(
                description=f"{len(problems)} of {len(config.ids)} IDs were not synced; the others were.",
                metadata={"not_synced": dg.MetadataValue.json(problems), "synced": dg.MetadataValue.json(synced)},
                allow_retries=False,
            )
        yield dg.Output(synced)

    @dg.job(name=ID_SYNC_JOB, description="Sync the Stripe objects with the given IDs (any supported type).")
    def stripe_sync_by_ids():
        sync_stripe_ids()

    return stripe_sync_by_ids
