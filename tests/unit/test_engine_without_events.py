"""Types Stripe sends no events about (actions/sync/recent.py): a small table is listed whole
every run, a large one lists only what is recent, and one that changes only along with other
events lists nothing while its account is quiet."""

from __future__ import annotations

from stripe_pipeline.actions import StripeBalanceTransactionAction, StripeShippingRateAction
from stripe_pipeline.actions.sync import recent
from stripe_pipeline.policies import EVENT_OVERLAP_SECONDS

from .engine import live, requests_to, rows, state

RATES = "/v1/shipping_rates"
BALANCE = "/v1/balance_transactions"
DAY = 86_400


def shipping_rate(stripe_account, object_id: str, name: str) -> dict:
    return stripe_account.save(RATES, {"id": object_id, "object": "shipping_rate", "display_name": name})


def sync(stripe_account, warehouse, action=StripeShippingRateAction, **options):
    return action(client=stripe_account, warehouse=warehouse).sync_incremental(**options)


def test_a_type_without_events_and_few_rows_is_listed_whole_every_run(stripe_account, warehouse):
    for n in range(3):
        shipping_rate(stripe_account, f"shr_{n}", "Standard")
    assert sync(stripe_account, warehouse).modes == ["backfill"]
    stripe_account.tick(DAY)
    stripe_account.save(RATES, {**stripe_account.collections[RATES]["shr_0"], "display_name": "Renamed"})  # no event tells of it
    del stripe_account.collections[RATES]["shr_2"]
    stripe_account.requests.clear()

    assert sync(stripe_account, warehouse).modes == ["backfill"]

    # Listed whole, in one cursor walk: every change and deletion is found at once.
    assert [params.get("created") for params in requests_to(stripe_account, RATES)] == [None]
    assert rows(warehouse, StripeShippingRateAction)["shr_0"]["display_name"] == "Renamed"
    assert live(warehouse, StripeShippingRateAction) == {"shr_0", "shr_1"}


def test_a_large_type_without_events_lists_only_what_is_recent(stripe_account, warehouse, monkeypatch):
    monkeypatch.setattr(recent, "WHOLE_LISTING_MAX_ROWS", 2)  # what 1,000 rows would be
    for n in range(3):
        shipping_rate(stripe_account, f"shr_{n}", "Standard")
    stripe_account.tick(DAY)
    sync(stripe_account, warehouse)
    listed_through = state(warehouse, StripeShippingRateAction)["listed_through"]
    stripe_account.tick(DAY)
    # An old object's change: left to the weekly reconcile, which lists everything.
    stripe_account.save(RATES, {**stripe_account.collections[RATES]["shr_0"], "display_name": "Renamed"})
    shipping_rate(stripe_account, "shr_new", "Express")
    stripe_account.requests.clear()

    assert sync(stripe_account, warehouse).modes == ["recent"]

    (listing,) = requests_to(stripe_account, RATES)
    assert listing["created"]["gte"] == listed_through - EVENT_OVERLAP_SECONDS
    assert live(warehouse, StripeShippingRateAction) == {"shr_0", "shr_1", "shr_2", "shr_new"}
    assert rows(warehouse, StripeShippingRateAction)["shr_0"]["display_name"] == "Standard"
    # The cursor moves to Stripe's time when this listing began (less the seconds it took).
    assert stripe_account.now - 60 < state(warehouse, StripeShippingRateAction)["listed_through"] <= stripe_account.now


def test_balance_transactions_are_not_listed_while_their_account_sends_no_event(stripe_account, warehouse):
    transaction = {"id": "txn_1", "object": "balance_transaction", "status": "available", "amount": 100}
    stripe_account.save(BALANCE, transaction)
    sync(stripe_account, warehouse, StripeBalanceTransactionAction, run_key="run-1")
    stripe_account.tick(60)
    stripe_account.requests.clear()

    # A quiet account: its one events request (of every type) says there is nothing to list.
    assert sync(stripe_account, warehouse, StripeBalanceTransactionAction, run_key="run-2").modes == ["recent"]
    assert requests_to(stripe_account, BALANCE) == []
    assert [params.get("types") for params in requests_to(stripe_account, "/v1/events")] == [None]

    stripe_account.tick(60)
    stripe_account.save(BALANCE, {**transaction, "id": "txn_2"})
    stripe_account.send("balance.available", {"id": "bal", "object": "balance"})
    assert sync(stripe_account, warehouse, StripeBalanceTransactionAction, run_key="run-3").modes == ["backfill"]
    assert live(warehouse, StripeBalanceTransactionAction) == {"txn_1", "txn_2"}
