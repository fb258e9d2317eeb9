"""Connect accounts, parts of Stripe an account does not have, and objects of older API versions."""

from __future__ import annotations

import dagster as dg
import pytest
import sqlalchemy as sa

from stripe_pipeline.actions import StripeCustomerAction, StripeIssuingCardAction, StripeRefundAction
from stripe_pipeline.dagster_defs.factory import build_assets
from stripe_pipeline.dagster_defs.resources import StripeResource, WarehouseResource
from stripe_pipeline.models import MODELS, SyncState
from stripe_pipeline.settings import ConfigurationError

from .conftest import table_rows

ACCOUNTS = {"acct_1Alpha": {"customer": 7}, "acct_1Bravo": {"customer": 4}, "acct_1Charlie": {"customer": 9}}


def _resources(emulator, warehouse_config) -> dict:
    return {
        "stripe_api": StripeResource(api_key=emulator.api_key, api_base=emulator.base_url),
        "warehouse": WarehouseResource(url=warehouse_config["url"], schema_name=warehouse_config["schema"] or None),
    }


def test_every_connected_account_syncs_with_its_own_state_and_one_budget(make_emulator, warehouse_config, warehouse, monkeypatch):
    emulator = make_emulator({"customer": 5}, accounts=ACCOUNTS)
    monkeypatch.setenv("STRIPE_ACCOUNTS", "all")
    [asset] = build_assets([StripeCustomerAction], retry_policy=None)
    result = dg.materialize([asset], resources=_resources(emulator, warehouse_config))
    assert result.success

    rows = table_rows(warehouse, MODELS["customers"].__table__)
    by_account: dict = {}
    for row in rows.values():
        by_account[row["_account"]] = by_account.get(row["_account"], 0) + 1
    assert by_account == {"": 5, **{account: counts["customer"] for account, counts in ACCOUNTS.items()}}  # '' is the platform
    for account in ACCOUNTS:
        assert {i for i, r in rows.items() if r["_account"] == account} == set(emulator.account(account).collections["customers"].objects)
    with warehouse.engine.connect() as connection:
        states = dict(
            connection.execute(sa.select(SyncState.account, SyncState.stripe_account_id).where(SyncState.object_type == "customers")).all()
        )
    # Each state row records the account it was read from (GET /v1/account answers per Stripe-Account).
    assert states == {"": "acct_emulator", **{account: account for account in ACCOUNTS}}
    with warehouse.engine.connect() as connection:
        buckets = (
            connection.execute(
                # Global buckets are the key's hash; an endpoint's cap has a bucket of its own ("<hash> GET /v1/…").
                sa.text(
                    f"SELECT count(*) FROM {warehouse.schema + '.' if warehouse.schema else ''}_stripe_rate_budget WHERE bucket NOT LIKE '% %'"
                )
            ).scalar()
            if warehouse.dialect == "postgresql"
            else 1
        )
    assert buckets == 1  # one request budget for the platform and all its accounts


def test_a_listed_account_is_synced_and_an_unknown_one_fails_clearly(make_emulator, warehouse_config, monkeypatch):
    emulator = make_emulator(accounts=ACCOUNTS)
    monkeypatch.setenv("STRIPE_ACCOUNTS", "acct_1Bravo, acct_1Nobody")
    [asset] = build_assets([StripeCustomerAction], retry_policy=None)
    result = dg.materialize([asset], resources=_resources(emulator, warehouse_config), raise_on_error=False)
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    assert "acct_1Nobody" in failure.step_failure_data.error.message or "acct_1Nobody" in str(failure.step_failure_data.user_failure_data)


def test_an_area_the_account_does_not_have_is_a_skip_not_a_failure(make_emulator, warehouse_config):
    emulator = make_emulator({"customer": 3, "refund": 4}, not_enabled=["issuing"])
    assets = build_assets([StripeIssuingCardAction, StripeRefundAction], retry_policy=None)
    with dg.instance_for_test() as instance:
        result = dg.materialize(assets, resources=_resources(emulator, warehouse_config), instance=instance)
        assert result.success
        materialized = {event.asset_key.to_user_string() for event in result.get_asset_materialization_events()}
        assert materialized == {"stripe/refunds"}
        observations = {
            e.asset_key.to_user_string(): e.asset_observation_data.asset_observation.metadata["skipped"].value
            for e in result.all_events
            if e.event_type == dg.DagsterEventType.ASSET_OBSERVATION
        }
        assert set(observations) == {"stripe/issuing_cards", "stripe/issuing_tokens"}  # the cards' child table too
        assert all("not set up to use Issuing" in reason for reason in observations.values())
    # The backfill's first windows go out together; none is retried.
    assert emulator.requests.by_route["GET /v1/issuing/cards"] <= 2


def test_objects_of_an_older_api_version_sync_with_what_they_have(make_emulator, client_for, warehouse):
    """Fields the catalogue knows may be missing (NULL); fields it does not know are kept in `_raw`."""
    emulator = make_emulator({"customer": 6})
    customers = emulator.store.collections["customers"]
    old_id = next(iter(customers.objects))
    old = {k: v for k, v in customers.objects[old_id].items() if k not in ("invoice_credit_balance", "tax", "business_name")}
    customers.put({**old, "account_balance": 1200, "sources": {"object": "list", "data": [], "has_more": False}})
    StripeCustomerAction(client=client_for(emulator), warehouse=warehouse).sync_all()
    row = table_rows(warehouse, MODELS["customers"].__table__)[old_id]
    assert row["business_name"] is None and row["invoice_credit_balance"] is None
    assert row["_raw"]["account_balance"] == 1200 and "account_balance" not in row
    assert len(table_rows(warehouse, MODELS["customers"].__table__)) == 6


def test_the_sync_state_belongs_to_the_account_and_mode_it_was_read_from(make_emulator, client_for, warehouse):
    first = make_emulator({"customer": 30}, account_id="acct_1First")
    StripeCustomerAction(client=client_for(first), warehouse=warehouse).sync_incremental()
    state = warehouse.load_state("customers", None)
    assert (state["stripe_account_id"], state["livemode"]) == ("acct_1First", False)

    # Another account's key on the same warehouse: its cursor would skip that account's history.
    other = make_emulator({"customer": 40}, account_id="acct_1Other", random_seed=7)
    other.clock.advance(60)  # a minute later by Stripe's one clock (each emulator's starts at 2026-01-01)
    before = table_rows(warehouse, MODELS["customers"].__table__)
    with pytest.raises(
        ConfigurationError,
        match=r"belongs to Stripe account acct_1First \(test mode\), but the API key now reads acct_1Other \(test mode\)",
    ):
        StripeCustomerAction(client=client_for(other), warehouse=warehouse).sync_incremental()
    assert table_rows(warehouse, MODELS["customers"].__table__) == before

    # A full refresh moves the table to the new account on purpose.
    StripeCustomerAction(client=client_for(other), warehouse=warehouse).sync_incremental(full_refresh=True)
    rows = table_rows(warehouse, MODELS["customers"].__table__)
    assert {i for i, row in rows.items() if row["_deleted_at"] is None} == set(other.store.collections["customers"].objects)
    assert {i for i, row in rows.items() if row["_deleted_at"] is not None} == set(first.store.collections["customers"].objects)
    assert warehouse.load_state("customers", None)["stripe_account_id"] == "acct_1Other"
    assert StripeCustomerAction(client=client_for(other), warehouse=warehouse).sync_incremental().modes == ["incremental"]
