"""The asset checks, evaluated by Dagster's own execution against the emulator and a real warehouse."""

from __future__ import annotations

import dagster as dg

from stripe_pipeline.actions import HAND_WRITTEN, StripeCustomerAction
from stripe_pipeline.dagster_defs.assets import RECONCILE_CHECK, build_sync_asset
from stripe_pipeline.dagster_defs.checks import build_reference_checks
from stripe_pipeline.dagster_defs.factory import build_assets
from stripe_pipeline.dagster_defs.translator import StripeAssetTranslator
from stripe_pipeline.warehouse import Warehouse

from .conftest import dagster_resources


def _evaluations(result) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    return {(e.asset_key.path[-1], e.check_name): e for e in result.get_asset_check_evaluations()}


def test_references_that_do_not_resolve_are_a_warning_with_their_count(emulator, warehouse_config):
    assets = build_assets(HAND_WRITTEN, retry_policy=None)
    checks = build_reference_checks(HAND_WRITTEN, StripeAssetTranslator())
    prices = [p for p in emulator.store.collections["prices"].objects.values() if p["product"]]
    # Prices synced before their products: every price's product is missing.
    alone = dg.materialize(
        [*assets, *checks],
        selection=dg.AssetSelection.assets(["stripe", "prices"]),
        resources=dagster_resources(emulator, warehouse_config),
    )
    found = _evaluations(alone)[("prices", "product_exists")]
    assert not found.passed and found.severity == dg.AssetCheckSeverity.WARN
    assert found.metadata["orphans"].value == len(prices) > 0
    assert set(found.metadata["sample"].value) <= {p["product"] for p in prices} and len(found.metadata["sample"].value) == min(
        5, len({p["product"] for p in prices})
    )
    assert alone.success  # a check reports; it does not fail the sync
    both = dg.materialize(
        [*assets, *checks],
        selection=dg.AssetSelection.assets(["stripe", "prices"], ["stripe", "products"]),
        resources=dagster_resources(emulator, warehouse_config),
    )
    found = _evaluations(both)[("prices", "product_exists")]
    assert found.passed and found.metadata["orphans"].value == 0


class FailsOnTwo(StripeCustomerAction):
    poisoned: set[str] = set()

    def post_set_default(self, defaults):
        if defaults["id"] in self.poisoned:
            raise ValueError("cannot map this one")


def test_a_reconcile_run_compares_the_live_rows_with_what_stripe_lists(emulator, warehouse_config):
    customers = emulator.store.collections["customers"].objects
    asset = build_sync_asset(StripeCustomerAction, StripeAssetTranslator(), retry_policy=None)
    reconcile = {"ops": {"customers": {"config": {"reconcile": True}}}}
    plain = dg.materialize([asset], resources=dagster_resources(emulator, warehouse_config))
    assert ("customers", RECONCILE_CHECK) not in _evaluations(plain)  # nothing was listed to compare with
    assert _evaluations(plain)[("customers", "no_open_sync_errors")].passed

    done = _evaluations(dg.materialize([asset], run_config=reconcile, resources=dagster_resources(emulator, warehouse_config)))
    found = done[("customers", RECONCILE_CHECK)]
    assert found.passed and found.metadata["live_rows"].value == found.metadata["listed_by_stripe"].value == len(customers)

    # Two new objects the hook cannot map: Stripe lists them, the table lacks them.
    before = len(customers)
    FailsOnTwo.poisoned = {emulator.store.create("customer", name=name)["id"] for name in ("Ödön", "李雷")}
    failing = build_sync_asset(FailsOnTwo, StripeAssetTranslator(), retry_policy=None)
    done = _evaluations(dg.materialize([failing], run_config=reconcile, resources=dagster_resources(emulator, warehouse_config)))
    found = done[("customers", RECONCILE_CHECK)]
    assert not found.passed and found.severity == dg.AssetCheckSeverity.WARN
    assert (found.metadata["live_rows"].value, found.metadata["listed_by_stripe"].value) == (before, before + 2)
    assert found.description == f"{before:,} live rows, {before + 2:,} objects listed by Stripe"
    assert not done[("customers", "no_open_sync_errors")].passed


def test_only_the_reconcile_job_plans_the_reconcile_check():
    """A daily run that planned `matches_stripe` would show it skipped, over the weekly result."""
    from stripe_pipeline.dagster_defs.factory import build_definitions

    defs = build_definitions(HAND_WRITTEN, objects="default")

    def planned(job: str) -> set[str]:
        return {key.name for key in defs.resolve_job_def(job).asset_layer.asset_graph.asset_check_keys}

    assert RECONCILE_CHECK in planned("stripe_reconcile")
    assert RECONCILE_CHECK not in planned("stripe_full_sync") and "no_open_sync_errors" in planned("stripe_full_sync")


def test_executing_a_check_alone_checks_and_syncs_nothing(emulator, warehouse_config):
    """The UI's Execute button on a check runs only that check: `matches_stripe` lists Stripe's
    IDs and compares, `no_open_sync_errors` counts; no sync, no events applied, no materialization."""
    customers = emulator.store.collections["customers"].objects
    asset = build_sync_asset(StripeCustomerAction, StripeAssetTranslator(), retry_policy=None)
    resources = dagster_resources(emulator, warehouse_config)
    assert dg.materialize([asset], resources=resources).success
    changed = emulator.store.create("customer", name="Made after the sync")  # the table lacks it now
    emulator.requests.reset()
    checks = [dg.AssetCheckKey(dg.AssetKey(["stripe", "customers"]), name) for name in (RECONCILE_CHECK, "no_open_sync_errors")]
    result = dg.materialize([asset], resources=resources, selection=dg.AssetSelection.checks(*checks))
    assert result.success and result.get_asset_materialization_events() == []
    found = _evaluations(result)
    assert found[("customers", "no_open_sync_errors")].passed
    reconciled = found[("customers", RECONCILE_CHECK)]
    assert not reconciled.passed and reconciled.metadata["listed_by_stripe"].value == len(customers)
    assert reconciled.metadata["live_rows"].value == len(customers) - 1
    assert emulator.requests.by_route.get("GET /v1/events", 0) == 0  # nothing was synced
    assert Warehouse(**_warehouse_args(warehouse_config)).existing_ids(StripeCustomerAction.table(), {changed["id"]}, None) == set()


def _warehouse_args(config: dict) -> dict:
    return {"url": config["url"], "schema": config["schema"] or None}
