"""The seed API's hook pipeline: order, both pre-hook spellings, and overrides on every path."""

from __future__ import annotations

import pytest

from stripe_pipeline.actions import StripeCustomerAction, StripeSubscriptionAction
from stripe_pipeline.actions.mixins import ObjectSyncError
from stripe_pipeline.models import StripeCustomer

from .conftest import table_rows


def test_hooks_run_in_order_and_shape_the_row(make_emulator, client_for, warehouse):
    emulator = make_emulator({"customer": 3})
    calls: list[str] = []

    class Tracing(StripeCustomerAction):
        def pre_set_defualt(self, stripe_data):
            calls.append(f"pre:{stripe_data['id']}")
            stripe_data["email"] = "pre@example.com"

        def set_default(self, stripe_data):
            calls.append(f"set:{stripe_data['id']}")
            return super().set_default(stripe_data)

        def post_set_default(self, defaults):
            calls.append(f"post:{defaults['id']}")
            defaults["name"] = defaults["name"].upper() if defaults["name"] else "NO NAME"

    Tracing(client=client_for(emulator), warehouse=warehouse).sync_all()

    ids = [obj_id for obj_id in emulator.store.collections["customers"].objects]
    assert sorted(calls) == sorted(f"{step}:{i}" for i in ids for step in ("pre", "set", "post"))
    for i in ids:
        assert calls.index(f"pre:{i}") < calls.index(f"set:{i}") < calls.index(f"post:{i}")
    rows = table_rows(warehouse, StripeCustomer.__table__)
    for i in ids:
        api_object = emulator.store.collections["customers"].objects[i]
        assert rows[i]["email"] == "pre@example.com"
        assert rows[i]["name"] == (api_object["name"].upper() if api_object["name"] else "NO NAME")
        # The hooks shaped the columns, not the record of what the API said.
        assert rows[i]["_raw"] == api_object


@pytest.mark.parametrize("spelling", ["pre_set_defualt", "pre_set_default"])
def test_both_pre_hook_spellings_are_called(spelling, make_emulator, client_for, warehouse):
    emulator = make_emulator({"customer": 2})

    def hook(self, stripe_data):
        return {**stripe_data, "description": f"via {spelling}"}

    action_class = type("Hooked", (StripeCustomerAction,), {spelling: hook})
    action_class(client=client_for(emulator), warehouse=warehouse).sync_all()

    rows = table_rows(warehouse, StripeCustomer.__table__)
    assert len(rows) == 2
    assert {row["description"] for row in rows.values()} == {f"via {spelling}"}


def test_post_set_default_may_return_a_new_dict(make_emulator, client_for, warehouse):
    emulator = make_emulator({"customer": 1})

    class Returning(StripeCustomerAction):
        def post_set_default(self, defaults):
            return {**defaults, "phone": "+15550100"}

    Returning(client=client_for(emulator), warehouse=warehouse).sync_all()
    assert [row["phone"] for row in table_rows(warehouse, StripeCustomer.__table__).values()] == ["+15550100"]


def test_an_overridden_sync_runs_on_every_path(emulator, client_for, warehouse):
    """The seed's pattern: sync related objects after super().sync(...)."""
    client = client_for(emulator)
    seen: list[str] = []

    class WithCustomer(StripeSubscriptionAction):
        def sync(self, stripe_data):
            row = super().sync(stripe_data)
            seen.append(row["id"])
            StripeCustomerAction(client=client, warehouse=self.warehouse).sync_by_ids([row["customer"]])
            return row

    subscriptions = emulator.store.collections["subscriptions"].objects
    some_id = next(iter(subscriptions))
    WithCustomer(client=client, warehouse=warehouse).sync_by_ids([some_id])
    assert seen == [some_id]

    seen.clear()
    WithCustomer(client=client, warehouse=warehouse).sync_all()
    assert sorted(seen) == sorted(subscriptions)  # status=all: canceled ones too
    customers = table_rows(warehouse, StripeCustomer.__table__)
    assert {s["customer"] for s in subscriptions.values()} <= set(customers)


def test_sync_outside_a_batch_writes_at_once(emulator, client_for, warehouse):
    obj = next(iter(emulator.store.collections["customers"].objects.values()))
    row = StripeCustomerAction(client=client_for(emulator), warehouse=warehouse).sync(obj)
    assert row["id"] == obj["id"]
    assert set(table_rows(warehouse, StripeCustomer.__table__)) == {obj["id"]}


def test_a_hook_that_invents_a_column_gets_a_clear_error(make_emulator, client_for, warehouse):
    emulator = make_emulator({"customer": 1})

    class Inventive(StripeCustomerAction):
        def post_set_default(self, defaults):
            defaults["favourite_colour"] = "teal"

    with pytest.raises(ObjectSyncError, match="customers/cus_.*favourite_colour"):
        Inventive(client=client_for(emulator), warehouse=warehouse, strict=True).sync_all()
    stats = Inventive(client=client_for(emulator), warehouse=warehouse).sync_all()
    assert stats.failed == 1 and warehouse.open_errors("customers") == 1


def test_the_readme_way_to_sync_what_subscriptions_refer_to_is_batched(make_emulator, client_for, warehouse):
    from stripe_pipeline.actions import ALL_ACTIONS
    from stripe_pipeline.actions.related import sync_related

    class SubscriptionWithCustomers(StripeSubscriptionAction):
        def sync_all(self, **list_params):
            self.track_references()
            stats = super().sync_all(**list_params)
            sync_related(self, ALL_ACTIONS, lambda action: action(client=self.client, warehouse=self.warehouse))
            return stats

    emulator = make_emulator({"customer": 30, "product": 2, "price": 3, "subscription": 60})
    SubscriptionWithCustomers(client=client_for(emulator), warehouse=warehouse).sync_all()
    referenced = {s["customer"] for s in emulator.store.collections["subscriptions"].objects.values()}
    assert set(table_rows(warehouse, StripeCustomer.__table__)) == referenced
    assert emulator.requests.by_route["GET /v1/customers/:id"] == len(referenced)  # each once, none per subscription
