"""A bad object never blocks a table: it is kept in _stripe_sync_errors, named, and the run goes on."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from stripe_pipeline.actions import StripeCustomerAction, StripeInvoiceAction, StripeInvoiceLineItemAction
from stripe_pipeline.actions.mixins import ObjectSyncError
from stripe_pipeline.models import StripeCustomer, SyncError

from .conftest import table_rows


def _errors(warehouse) -> dict[str, dict]:
    with warehouse.engine.connect() as connection:
        return {row["object_id"]: dict(row) for row in connection.execute(sa.select(SyncError.__table__)).mappings()}


class FailsOnSome(StripeCustomerAction):
    poisoned: set[str] = set()

    def post_set_default(self, defaults):
        if defaults["id"] in self.poisoned:
            raise ValueError("cannot map this one")


def test_a_hook_that_raises_for_one_object_stops_nothing(make_emulator, client_for, warehouse):
    emulator = make_emulator({"customer": 250})
    customers = emulator.store.collections["customers"].objects
    FailsOnSome.poisoned = set(list(customers)[:3])
    stats = FailsOnSome(client=client_for(emulator), warehouse=warehouse).sync_incremental()

    rows = table_rows(warehouse, StripeCustomer.__table__)
    assert set(rows) == set(customers) - FailsOnSome.poisoned and stats.failed == 3
    errors = _errors(warehouse)
    assert set(errors) == FailsOnSome.poisoned
    some = errors[next(iter(FailsOnSome.poisoned))]
    assert some["error_class"] == "ValueError" and some["count"] == 1 and some["resolved_at"] is None
    assert f"hook post_set_default failed for customers/{some['object_id']}: ValueError: cannot map this one" == some["error_message"]
    assert some["raw"] == customers[some["object_id"]]
    # The backfill finished and handed over to the events: the next run is incremental.
    assert FailsOnSome(client=client_for(emulator), warehouse=warehouse).sync_incremental().modes == ["incremental"]

    # Once the hook is fixed, the objects sync cleanly when next seen and their errors resolve.
    FailsOnSome.poisoned = set()
    FailsOnSome(client=client_for(emulator), warehouse=warehouse).sync_by_ids(list(errors))
    assert all(error["resolved_at"] is not None for error in _errors(warehouse).values())
    assert warehouse.open_errors("customers") == 0


def test_strict_keeps_failing_fast_and_names_the_object(make_emulator, client_for, warehouse):
    emulator = make_emulator({"customer": 20})
    FailsOnSome.poisoned = {next(iter(emulator.store.collections["customers"].objects))}
    with pytest.raises(ObjectSyncError, match=r"hook post_set_default failed for customers/cus_\w+: ValueError"):
        FailsOnSome(client=client_for(emulator), warehouse=warehouse, strict=True).sync_all()


def test_a_value_that_does_not_fit_its_column_is_null_there_and_kept_in_raw(make_emulator, client_for, warehouse):
    emulator = make_emulator({"customer": 40})
    customers = emulator.store.collections["customers"]
    odd = next(iter(customers.objects))
    customers.put({**customers.objects[odd], "balance": "twelve", "delinquent": "sometimes"})
    stats = StripeCustomerAction(client=client_for(emulator), warehouse=warehouse).sync_all()
    rows = table_rows(warehouse, StripeCustomer.__table__)
    assert len(rows) == 40 and stats.failed == 0
    assert rows[odd]["balance"] is None and rows[odd]["delinquent"] is None
    assert rows[odd]["_raw"]["balance"] == "twelve"
    assert stats.drifted == {"balance": 1, "delinquent": 1}


def test_a_row_the_database_refuses_is_kept_and_the_rest_are_written(make_emulator, client_for, warehouse):
    emulator = make_emulator({"customer": 60})
    customers = emulator.store.collections["customers"]
    refused = next(iter(customers.objects))
    # A NUL character: valid JSON, but PostgreSQL's text and JSONB refuse it (SQLite stores it).
    customers.put({**customers.objects[refused], "name": "Nul\u0000Character"})
    stats = StripeCustomerAction(client=client_for(emulator), warehouse=warehouse).sync_all()
    rows = table_rows(warehouse, StripeCustomer.__table__)
    if warehouse.dialect == "postgresql":
        assert set(rows) == set(customers.objects) - {refused} and stats.failed == 1
        error = _errors(warehouse)[refused]
        assert "the warehouse refused its row" in error["error_message"] and error["raw"]["name"] == "NulCharacter"
    else:
        assert len(rows) == 60


def test_the_asset_check_is_red_while_errors_are_open(make_emulator, warehouse_config, warehouse):
    import dagster as dg

    from stripe_pipeline.dagster_defs.factory import build_assets
    from stripe_pipeline.dagster_defs.resources import StripeResource, WarehouseResource

    emulator = make_emulator({"customer": 30})
    FailsOnSome.poisoned = set(list(emulator.store.collections["customers"].objects)[:2])
    [asset] = build_assets([FailsOnSome], retry_policy=None)
    resources = {
        "stripe_api": StripeResource(api_key=emulator.api_key, api_base=emulator.base_url),
        "warehouse": WarehouseResource(url=warehouse_config["url"], schema_name=warehouse_config["schema"] or None),
    }
    result = dg.materialize([asset], resources=resources, selection=["stripe/customers"])
    assert result.success
    [materialization] = [e for e in result.get_asset_materialization_events() if e.asset_key.path[-1] == "customers"]
    assert materialization.materialization.metadata["failed"].value == 2
    [check] = result.get_asset_check_evaluations()
    assert not check.passed and check.metadata["open_errors"].value == 2

    FailsOnSome.poisoned = set()
    full = dg.materialize(
        [asset], resources=resources, selection=["stripe/customers"], run_config={"ops": {"customers": {"config": {"full_refresh": True}}}}
    )
    [check] = full.get_asset_check_evaluations()
    assert check.passed


def test_objects_without_a_created_time_do_not_stop_the_backfill(make_emulator, client_for, warehouse):
    """A proxy or a mock may send `created: null`, or none, anywhere in a page, its last object included."""
    emulator = make_emulator({"customer": 2000})
    customers = emulator.store.collections["customers"]
    odd = list(customers.objects)[::9]
    for index, customer in enumerate(odd):  # kept where they list; only what the API answers changes
        if index % 2:
            customers.objects[customer]["created"] = None
        else:
            del customers.objects[customer]["created"]
        customers._json.pop(customer, None)
    stats = StripeCustomerAction(client=client_for(emulator), warehouse=warehouse).sync_incremental()
    rows = table_rows(warehouse, StripeCustomer.__table__)
    assert set(rows) == set(customers.objects) and stats.failed == 0
    assert all(rows[customer]["created"] is None for customer in odd)


class FailsOnSomeLines(StripeInvoiceLineItemAction):
    invoices: set[str] = set()

    def post_set_default(self, defaults):
        if defaults["invoice"] in self.invoices:
            raise ValueError("cannot map this line")


class InvoicesWithFailingLines(StripeInvoiceAction):
    child_actions = (FailsOnSomeLines,)


def test_kept_objects_are_retried_by_the_next_runs_and_resolve_once_the_hook_is_fixed(make_emulator, client_for, warehouse):
    """The cursor moved past them: without a retry they would stay stale forever. Each events run
    retrieves a bounded batch of its table's open errors (a child table's through their parents)."""
    emulator = make_emulator({"customer": 120, "invoice": 30})
    customers = emulator.store.collections["customers"].objects
    poisoned = list(customers)[:4]
    FailsOnSome.poisoned = set(poisoned)
    client = client_for(emulator)
    FailsOnSome(client=client, warehouse=warehouse).sync_incremental()
    assert warehouse.open_errors("customers") == 4
    again = FailsOnSome(client=client, warehouse=warehouse).sync_incremental()  # still broken: still open, counted again
    assert again.modes == ["incremental"] and again.failed == 4 and warehouse.open_errors("customers") == 4
    assert {error["count"] for error in _errors(warehouse).values()} == {2}

    gone = poisoned[0]
    emulator.store.delete(gone)
    FailsOnSome.poisoned = set()  # the hook is fixed; no event names the other three
    emulator.requests.reset()
    stats = FailsOnSome(client=client, warehouse=warehouse).sync_incremental()
    assert stats.failed == 0 and warehouse.open_errors("customers") == 0
    rows = table_rows(warehouse, StripeCustomer.__table__)
    assert all(rows[c]["_raw"] == customers[c] for c in poisoned[1:]) and gone not in rows  # it never had a row
    # The deletion event resolved its error; the three still open were retrieved, nothing more.
    assert emulator.requests.by_route["GET /v1/customers/:id"] == 3

    # A child table's errors are retried through their parents.
    FailsOnSomeLines.invoices = {next(iter(emulator.store.collections["invoices"].objects))}
    InvoicesWithFailingLines(client=client, warehouse=warehouse).sync_incremental()
    assert warehouse.open_errors("invoice_line_items") > 0
    FailsOnSomeLines.invoices = set()
    InvoicesWithFailingLines(client=client, warehouse=warehouse).sync_incremental()
    assert warehouse.open_errors("invoice_line_items") == 0
