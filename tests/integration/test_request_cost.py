"""What a run costs in requests when little or nothing changed: one request per quiet table,
and for a type Stripe sends no events about, the pages of what may still change, not the table."""

from __future__ import annotations

import logging

from stripe_pipeline.actions import ALL_ACTIONS, StripeCustomerAction
from stripe_pipeline.actions.registry import action_for_type as _for_type
from stripe_pipeline.actions.runs import accounts_to_sync, run_table

from .conftest import table_rows


def action_for_type(name: str):
    return _for_type(ALL_ACTIONS, name)


DAY = 86_400


def test_a_quiet_run_costs_one_request(make_emulator, warehouse, client_for):
    emulator = make_emulator({"customer": 250})
    StripeCustomerAction(client=client_for(emulator), warehouse=warehouse).sync_incremental()
    emulator.requests.reset()
    # A new process (a new client): the key was seen reading this account already, so only the
    # events are read (the sync state keeps a hash of the key, never the key).
    StripeCustomerAction(client=client_for(emulator), warehouse=warehouse).sync_incremental()
    assert dict(emulator.requests.by_route) == {"GET /v1/events": 1}


def test_balance_transactions_list_again_only_what_may_still_change(make_emulator, warehouse, client_for):
    emulator = make_emulator({"balance_transaction": 3_000}, timeline="even")
    store = emulator.store
    transactions = sorted(store.collections["balance_transactions"].objects.values(), key=lambda txn: txn["created"])
    for txn in transactions:  # settled, but for the newest few, as on a real account
        store.update(txn["id"], status="available")
    pending = transactions[-40:-30]
    for txn in pending:
        store.update(txn["id"], status="pending")
    action = action_for_type("balance_transaction")
    action(client=client_for(emulator), warehouse=warehouse).sync_incremental()

    settled = pending[0]
    store.update(settled["id"], status="available")
    created = store.create("balance_transaction", status="pending", amount=1234)
    emulator.requests.reset()
    stats = action(client=client_for(emulator), warehouse=warehouse).sync_incremental()

    rows = table_rows(warehouse, action.table())
    assert rows[settled["id"]]["status"] == "available" and rows[created["id"]]["amount"] == 1234
    assert len(rows) == 3_001 and stats.modes == ["recent"]
    # From the oldest pending transaction on: 41 objects, one page, not the table's 30.
    assert emulator.requests.by_route["GET /v1/balance_transactions"] <= 2
    assert emulator.requests.total <= 3


def test_a_large_type_without_events_leaves_changes_to_old_objects_to_the_weekly_reconcile(make_emulator, warehouse, client_for):
    emulator = make_emulator({"shipping_rate": 1_200})  # more than a small table's few pages
    action = action_for_type("shipping_rate")
    action(client=client_for(emulator), warehouse=warehouse).sync_incremental()
    shipping_rates = emulator.store.collections["shipping_rates"]
    gone, renamed = list(shipping_rates.objects)[:2]
    shipping_rates.remove(gone)  # Stripe sends no event about it
    emulator.store.update(renamed, metadata={"renamed": "yes"})
    emulator.requests.reset()
    stats = action(client=client_for(emulator), warehouse=warehouse).sync_incremental()
    rows = table_rows(warehouse, action.table())
    assert stats.modes == ["recent"] and emulator.requests.total == 1  # what is new: one page
    assert rows[gone]["_deleted_at"] is None and rows[renamed]["_raw"]["metadata"] == {}  # the quiet run cannot know
    action(client=client_for(emulator), warehouse=warehouse).sync_incremental(reconcile=True)
    rows = table_rows(warehouse, action.table())
    assert rows[gone]["_deleted_at"] is not None and rows[renamed]["_raw"]["metadata"] == {"renamed": "yes"}


def test_a_small_type_without_events_is_listed_whole_and_stays_exact(make_emulator, warehouse, client_for):
    emulator = make_emulator({"shipping_rate": 30})
    action = action_for_type("shipping_rate")
    action(client=client_for(emulator), warehouse=warehouse).sync_incremental()
    gone = next(iter(emulator.store.collections["shipping_rates"].objects))
    emulator.store.collections["shipping_rates"].remove(gone)
    emulator.requests.reset()
    stats = action(client=client_for(emulator), warehouse=warehouse).sync_incremental()
    assert stats.modes == ["backfill"] and table_rows(warehouse, action.table())[gone]["_deleted_at"] is not None
    assert emulator.requests.total == 1  # one page, by cursor: no created windows for a table this small


def test_the_tables_of_one_run_read_each_accounts_events_once(make_emulator, warehouse, client_for):
    connected = {"acct_1aaaaaaaaaaaaaaa": {"customer": 20, "product": 3}, "acct_1bbbbbbbbbbbbbbb": {"customer": 20, "product": 3}}
    emulator = make_emulator({"customer": 40, "product": 5, "price": 8, "coupon": 3, "balance_transaction": 30}, accounts=connected)
    actions = [action_for_type(name) for name in ("customers", "products", "prices", "coupons", "balance_transactions")]

    def run(run_key: str) -> None:
        client_for_account = lambda account: client_for(emulator, stripe_account=account, slot_store=warehouse.slot_store())  # noqa: E731
        accounts = accounts_to_sync("all", client_for_account, warehouse=warehouse, run_key=run_key)
        assert len(accounts) == 3
        for action in actions:
            run_table(
                action, client_for=client_for_account, warehouse=warehouse, accounts=accounts, logger=logging.getLogger(), run_key=run_key
            )

    run("first")  # backfills
    renamed = next(iter(emulator.account("acct_1bbbbbbbbbbbbbbb").collections["customers"].objects))
    emulator.account("acct_1bbbbbbbbbbbbbbb").update(renamed, name="Renamed in another account")
    product = emulator.store.create("product", name="Made on the platform")
    emulator.requests.reset()
    run("second")

    by_route = emulator.requests.by_route
    # Three accounts, five tables: three reads of the Events API, one listing of the accounts,
    # the two objects that changed, and the balance transactions (a small table, listed whole) of
    # the two accounts that sent an event; the quiet account's are not listed.
    assert by_route["GET /v1/events"] == 3 and by_route["GET /v1/accounts"] == 1 and by_route["GET /v1/account"] == 0
    assert by_route["GET /v1/balance_transactions"] == 2
    assert emulator.requests.total == 3 + 1 + 2 + 2
    customers = table_rows(warehouse, action_for_type("customers").table())
    assert customers[renamed]["_account"] == "acct_1bbbbbbbbbbbbbbb" and customers[renamed]["name"] == "Renamed in another account"
    assert table_rows(warehouse, action_for_type("products").table())[product["id"]]["name"] == "Made on the platform"

    emulator.requests.reset()
    run("third")  # nothing changed: one request per account, for every table
    assert dict(emulator.requests.by_route) == {"GET /v1/events": 3, "GET /v1/accounts": 1}


def test_a_table_that_missed_runs_still_gets_every_event_from_the_shared_read(make_emulator, warehouse, client_for):
    emulator = make_emulator({"customer": 10, "product": 5})
    customers, products = action_for_type("customers"), action_for_type("products")
    for action in (customers, products):
        action(client=client_for(emulator), warehouse=warehouse).sync_incremental(run_key="first")
    changed = next(iter(emulator.store.collections["products"].objects))
    for hours in range(3):  # runs that leave products out, while a product changes
        emulator.clock.advance(3_600)
        emulator.store.update(changed, name=f"Renamed {hours}")
        customers(client=client_for(emulator), warehouse=warehouse).sync_incremental(run_key=f"customers only {hours}")
    emulator.clock.advance(3_600)
    emulator.requests.reset()
    stats = products(client=client_for(emulator), warehouse=warehouse).sync_incremental(run_key="both")
    assert table_rows(warehouse, products.table())[changed]["name"] == "Renamed 2"
    assert stats.events == 3
    assert emulator.requests.by_route["GET /v1/events"] == 1  # what the customers' runs read was kept for it


def test_balance_transactions_cost_no_request_while_their_account_sends_no_event(make_emulator, warehouse, client_for):
    emulator = make_emulator({"balance_transaction": 1_500}, timeline="even")
    action = action_for_type("balance_transaction")

    def run(run_key: str):
        return action(client=client_for(emulator), warehouse=warehouse).sync_incremental(run_key=run_key)

    run("first")
    run("second")  # the first listing of what is new: from here on the table lists recent objects
    emulator.requests.reset()
    stats = run("quiet")
    # The account's events, read once for the run, are none: nothing to list.
    assert dict(emulator.requests.by_route) == {"GET /v1/events": 1} and stats.modes == ["recent"]

    made = emulator.store.create("balance_transaction", status="pending", amount=4321)  # with its charge's events
    emulator.requests.reset()
    run("after a charge")
    assert table_rows(warehouse, action.table())[made["id"]]["amount"] == 4321
    assert emulator.requests.by_route["GET /v1/balance_transactions"] >= 1

    # Events within the overlap of the last listing (EVENT_OVERLAP_SECONDS) still count once more.
    emulator.clock.advance(600)
    run("ten minutes later")
    # A fee Stripe sends no event about (a negative amount sends no `balance.available`): late,
    # but by a day at most.
    fee = {**made, "id": "txn_1feewithoutevent0000", "amount": -150, "type": "stripe_fee", "created": made["created"] + 1}
    emulator.store.collection_for("balance_transaction").put(fee)
    run("quiet again")
    assert fee["id"] not in table_rows(warehouse, action.table())
    emulator.clock.advance(86_460)
    run("a day later")
    assert table_rows(warehouse, action.table())[fee["id"]]["amount"] == -150
