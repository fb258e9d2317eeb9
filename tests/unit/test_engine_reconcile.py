"""Reconcile (actions/sync/reconcile.py): rows Stripe no longer lists are flagged deleted, and a
flagged row that Stripe lists again is restored."""

from __future__ import annotations

from stripe_pipeline.actions import StripeCustomerAction

from .engine import CUSTOMERS, customer, live, rows


def test_reconcile_flags_what_stripe_no_longer_lists_and_restores_what_it_lists_again(stripe_account, warehouse):
    customer(stripe_account, "cus_1")
    gone = customer(stripe_account, "cus_2", name="Last known")
    StripeCustomerAction(client=stripe_account, warehouse=warehouse).sync_incremental()
    stripe_account.tick()
    stripe_account.delete(CUSTOMERS, "cus_2")  # no event reported it

    stats = StripeCustomerAction(client=stripe_account, warehouse=warehouse).sync_incremental(reconcile=True)
    assert stats.modes == ["incremental", "reconcile"] and stats.deleted == 1
    assert live(warehouse, StripeCustomerAction) == {"cus_1"}
    assert rows(warehouse, StripeCustomerAction)["cus_2"]["name"] == "Last known"  # a soft delete

    stripe_account.tick()
    stripe_account.save(CUSTOMERS, gone)  # listed again (the deletion was a mistake, a lag)
    stats = StripeCustomerAction(client=stripe_account, warehouse=warehouse).reconcile()
    assert (stats.restored, stats.listed) == (1, 2)
    assert live(warehouse, StripeCustomerAction) == {"cus_1", "cus_2"}


def test_reconcile_does_not_judge_rows_created_after_its_listing_began(stripe_account, warehouse):
    customer(stripe_account, "cus_1")
    action = StripeCustomerAction(client=stripe_account, warehouse=warehouse)
    action.sync_incremental()
    # A row synced after Stripe's time at the listing (by another run, say): its object may be
    # missing from the listing without being gone.
    stripe_account.tick()
    action.sync({"id": "cus_later", "object": "customer", "created": stripe_account.now + 60})

    action.reconcile()
    assert live(warehouse, StripeCustomerAction) == {"cus_1", "cus_later"}
