"""Connect: objects of different accounts may share an ID (coupons and products take chosen IDs).
A row is (account, id), through every path that writes: backfill, events, ID sync, reconcile."""

from __future__ import annotations

import logging

import sqlalchemy as sa

from stripe_pipeline.actions import ALL_ACTIONS, StripeCouponAction, StripeProductAction
from stripe_pipeline.actions.runs import accounts_to_sync, plan_id_sync, run_table, sync_ids
from stripe_pipeline.models import StripeCoupon, StripeProduct

ACCOUNTS = ("acct_1Alpha", "acct_1Bravo", "acct_1Charlie")
log = logging.getLogger("test_connect_identity")


def _rows(warehouse, table: sa.Table) -> dict[tuple[str, str], dict]:
    with warehouse.engine.connect() as connection:
        return {(row["_account"], row["id"]): dict(row) for row in connection.execute(sa.select(table)).mappings()}


def _live(warehouse, table: sa.Table, field: str) -> dict[tuple[str, str], object]:
    return {key: row[field] for key, row in _rows(warehouse, table).items() if row["_deleted_at"] is None}


def test_objects_of_the_same_id_in_four_accounts_are_four_rows(make_emulator, client_for, warehouse):
    emulator = make_emulator({"customer": 2}, accounts={account: {} for account in ACCOUNTS})
    stores = {"": emulator.store, **{account: emulator.account(account) for account in ACCOUNTS}}
    for number, (account, store) in enumerate(stores.items()):
        store.create("coupon", id="SUMMER25", percent_off=5.0 * (number + 1), name=f"Summer of {account or 'the platform'}")
        store.create("product", id="prod_shared", name=f"Product of {account or 'the platform'}")

    def client(account):
        return client_for(emulator, stripe_account=account)

    accounts = accounts_to_sync("all", client)  # newest first: the platform, then its accounts

    def run(action, **modes):
        return run_table(action, client_for=client, warehouse=warehouse, accounts=accounts, logger=log, **modes)

    # Backfill: four coupons, four products, each with its own account's data.
    coupons = run(StripeCouponAction)
    run(StripeProductAction)
    assert coupons.totals.written.inserted == 4 and coupons.totals.written.updated == 0  # no overwrite counted as an update
    expected = {(account, "SUMMER25"): f"Summer of {account or 'the platform'}" for account in stores}
    assert _live(warehouse, StripeCoupon.__table__, "name") == expected
    assert _live(warehouse, StripeCoupon.__table__, "percent_off") == {
        (account, "SUMMER25"): 5.0 * (n + 1) for n, account in enumerate(stores)
    }
    assert _live(warehouse, StripeProduct.__table__, "name") == {
        (account, "prod_shared"): f"Product of {account or 'the platform'}" for account in stores
    }

    # Events: one account's change and another's deletion touch only their own rows.
    stores["acct_1Alpha"].update("SUMMER25", name="Alpha's new name")
    stores["acct_1Bravo"].delete("SUMMER25")
    stats = run(StripeCouponAction)
    assert stats.totals.modes == ["incremental"] * 4 and stats.totals.deleted == 1
    expected[("acct_1Alpha", "SUMMER25")] = "Alpha's new name"
    del expected[("acct_1Bravo", "SUMMER25")]
    assert _live(warehouse, StripeCoupon.__table__, "name") == expected
    assert _rows(warehouse, StripeCoupon.__table__)[("acct_1Bravo", "SUMMER25")]["name"] == "Summer of acct_1Bravo"  # kept, flagged

    # ID sync of one account's product: only that account's row changes.
    stores["acct_1Charlie"].update("prod_shared", name="Charlie renamed it")
    stores[""].update("prod_shared", name="The platform renamed it")  # not synced by ID: stays as it was
    groups, problems = plan_id_sync(ALL_ACTIONS, ["prod_shared"], None)
    [done] = sync_ids(ALL_ACTIONS, groups, problems, client_for=client, warehouse=warehouse, logger=log, account="acct_1Charlie")
    assert done.stats.written.updated == 1 and problems == {}
    products = _live(warehouse, StripeProduct.__table__, "name")
    assert products[("acct_1Charlie", "prod_shared")] == "Charlie renamed it"
    assert products[("", "prod_shared")] == "Product of the platform"
    assert products[("acct_1Alpha", "prod_shared")] == "Product of acct_1Alpha"

    # Reconcile: a product gone from one account without an event is flagged there only.
    stores["acct_1Alpha"].collections["products"].remove("prod_shared")
    reconciled = run(StripeProductAction, reconcile=True)
    assert reconciled.totals.deleted == 1
    assert set(_live(warehouse, StripeProduct.__table__, "name")) == {
        ("", "prod_shared"),
        ("acct_1Bravo", "prod_shared"),
        ("acct_1Charlie", "prod_shared"),
    }
    assert _live(warehouse, StripeProduct.__table__, "name")[("", "prod_shared")] == "The platform renamed it"  # its event arrived


def test_a_reference_resolves_within_its_own_account_only(warehouse):
    """`product_exists`: a price of one account naming a product that only another account has is an orphan."""
    from datetime import UTC, datetime

    from stripe_pipeline.models import StripePrice

    now = datetime(2026, 3, 1, tzinfo=UTC)

    def row(table: sa.Table, account: str, object_id: str, **values) -> dict:
        return dict.fromkeys(c.name for c in table.columns) | {"id": object_id, "_account": account, "_raw": {}, "_synced_at": now} | values

    products, prices = StripeProduct.__table__, StripePrice.__table__
    warehouse.upsert(products, [row(products, "acct_1Alpha", "prod_shared")])
    warehouse.upsert(
        prices, [row(prices, "acct_1Alpha", "price_1", product="prod_shared"), row(prices, "", "price_1", product="prod_shared")]
    )
    assert warehouse.orphans(prices, "product", products) == (1, ["prod_shared"])  # the platform's price: no platform product
