"""The asset factory: one Dagster multi-asset per sync action, its child tables included."""

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
from pydantic import Field

from .. import policies
from ..actions import StripeSyncActionMixin
from ..actions.runs import accounts_to_sync, count_at_stripe, run_table
from ..catalog.declarations import USUALLY_LARGEST
from ..errors import PERMANENT_ERRORS  # a retry meets them again: no RetryPolicy for them
from ..settings import ConfigurationError
from ..warehouse import Warehouse
from ..warehouse.errors import failed_objects
from .metadata import sync_metadata
from .resources import StripeResource, WarehouseResource
from .translator import StripeAssetTranslator

# Every asset and op that calls Stripe runs in this pool; cap it in dagster.yaml to share the rate limit.
STRIPE_API_POOL = "stripe_api"
# Outages and rate-limit storms pass; a retry a few minutes later usually succeeds.
SYNC_RETRY_POLICY = dg.RetryPolicy(
    max_retries=policies.ASSET_MAX_RETRIES,
    delay=policies.ASSET_RETRY_DELAY_SECONDS,
    backoff=dg.Backoff.EXPONENTIAL,
    jitter=dg.Jitter.PLUS_MINUS,
)


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
    strict: bool = Field(
        default=False,
        description="Fail at the first object that cannot be synced, instead of keeping it in _stripe_sync_errors.",
    )


OPEN_ERRORS_CHECK = "no_open_sync_errors"
RECONCILE_CHECK = "matches_stripe"


def asset_key(action: type[StripeSyncActionMixin], translator: "StripeAssetTranslator | None" = None) -> dg.AssetKey:
    return (translator or StripeAssetTranslator()).get_asset_spec(action).key


@contextmanager
def no_retry_on_setup_errors(problem: ConfigurationError | None = None) -> Iterator[None]:
    """A permanent error fails the same way on every retry: fail once, clearly. `problem`: a bad
    setting met when the code location was built (factory.py), which every run reports."""
    try:
        if problem is not None:
            raise problem
        yield
    except PERMANENT_ERRORS as error:
        raise dg.Failure(description=f"{type(error).__name__}: {error}", allow_retries=False) from None


def _priority(action: type[StripeSyncActionMixin]) -> int:
    """Dagster starts steps of higher priority first: the usually largest types (declarations.py)."""
    largest = USUALLY_LARGEST[::-1]
    return 1 + largest.index(action.object_name()) if action.object_name() in largest else 0


def build_sync_asset(
    action: type[StripeSyncActionMixin],
    translator: StripeAssetTranslator,
    retry_policy: dg.RetryPolicy | None = SYNC_RETRY_POLICY,
    problem: ConfigurationError | None = None,
) -> dg.AssetsDefinition:
    specs = {child: translator.get_asset_spec(child) for child in action.child_actions}
    own = translator.get_asset_spec(action)

    tables = {own.key: action, **{spec.key: child for child, spec in specs.items()}}

    @dg.multi_asset(
        name=action.table_name().replace(".", "_"),
        specs=[own, *specs.values()],
        check_specs=[
            dg.AssetCheckSpec(OPEN_ERRORS_CHECK, asset=key, description="No object of this table is waiting in _stripe_sync_errors.")
            for key in tables
        ]
        + [
            dg.AssetCheckSpec(
                RECONCILE_CHECK,
                asset=own.key,
                description="The table's live rows are the objects Stripe lists, no more, no fewer: evaluated by runs that "
                "reconcile, or on its own (Execute) by listing Stripe's IDs, which writes nothing.",
            )
        ],
        can_subset=True,
        pool=STRIPE_API_POOL,
        op_tags={"dagster/priority": str(_priority(action))},
        retry_policy=retry_policy,
    )
    def sync_asset(context: dg.AssetExecutionContext, config: StripeSyncConfig, stripe_api: StripeResource, warehouse: WarehouseResource):
        with no_retry_on_setup_errors(problem):
            target = warehouse.warehouse()

            def client_for(account: str | None):
                return stripe_api.client(logger=context.log, slot_store=target.slot_store(), stripe_account=account)

            # Listed once per run, and each account's events read once per run: the run's steps share them.
            accounts = accounts_to_sync(stripe_api.connected_accounts(), client_for, warehouse=target, run_key=context.run_id)

            if not context.selected_asset_keys:
                # Only checks were asked for (a check's Execute button): check, do not sync.
                listed = None
                if any(check.name == RECONCILE_CHECK for check in context.selected_asset_check_keys):
                    listed = count_at_stripe(action, client_for=client_for, accounts=accounts)
                yield from _checks(context, tables, target, listed)
                return
            # The chosen child tables, and always those the parent embeds: they cost no request, and
            # they move with the parent's events cursor, so a run without them would leave them behind.
            children = [
                child.table_name() for child, spec in specs.items() if spec.key in context.selected_asset_keys or child.child_table.embedded
            ]
            run = run_table(
                action,
                client_for=client_for,
                warehouse=target,
                accounts=accounts,
                logger=context.log,
                children=children,
                strict=config.strict,
                reconcile=config.reconcile,
                trust_event_payloads=config.trust_event_payloads,
                full_refresh=config.full_refresh,
                run_key=context.run_id,
            )
        if not run.synced:  # no account has this part of Stripe: a skip, not a failure
            for key in context.selected_asset_keys:
                yield dg.AssetObservation(asset_key=key, metadata={"skipped": "; ".join(run.skipped)})
        else:
            if own.key in context.selected_asset_keys:
                yield dg.MaterializeResult(asset_key=own.key, metadata=sync_metadata(action, run.totals, run.requests, target, run.skipped))
            for child, spec in specs.items():
                if spec.key in context.selected_asset_keys:
                    yield dg.MaterializeResult(
                        asset_key=spec.key, metadata=sync_metadata(child, run.children[child.table_name()], None, target, run.skipped)
                    )
        # A reconciling run listed every object: compare with that. Other runs listed nothing.
        yield from _checks(context, tables, target, run.totals.listed if "reconcile" in run.totals.modes else None)

    return sync_asset


def _checks(
    context: dg.AssetExecutionContext, tables: dict[dg.AssetKey, type[StripeSyncActionMixin]], target: Warehouse, listed: int | None
) -> Iterator[dg.AssetCheckResult]:
    """The selected checks: open errors, and the live rows against `listed` (None: not
    evaluated, nothing was listed to compare with)."""
    for check in context.selected_asset_check_keys:
        table = tables[check.asset_key].table()
        if check.name == RECONCILE_CHECK:
            if listed is not None:
                yield _reconciled(check.asset_key, target.count(table, deleted=False), listed)
            continue
        open_errors = target.open_errors(table.name, any_account=True)
        yield dg.AssetCheckResult(
            asset_key=check.asset_key,
            check_name=check.name,
            passed=open_errors == 0,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={"open_errors": open_errors},
            description=None if open_errors == 0 else failed_objects(open_errors),
        )


def _reconciled(key: dg.AssetKey, live: int, listed: int) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=RECONCILE_CHECK,
        passed=live == listed,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"live_rows": live, "listed_by_stripe": listed},
        # More rows than listed: objects created since the listing began; fewer: objects that failed.
        description=None if live == listed else f"{live:,} live rows, {listed:,} objects listed by Stripe",
    )
