"""Child tables: fully paged, no request per parent where the parent embeds its first page,
replaced when the parent changes, and following the parent through every run mode."""

from __future__ import annotations

from stripe_pipeline.actions import StripeAccountAction, StripeCustomerAction, StripeInvoiceAction, StripeSubscriptionAction
from stripe_pipeline.models import MODELS

from .conftest import table_rows


def _lines(store, invoice_id: str, count: int) -> list[dict]:
    template = store.child_list("invoice_line_items", invoice_id)[0]
    return [{**template, "id": f"il_1Extra{invoice_id[-6:]}{n:06d}", "amount": n} for n in range(count)]


def test_an_invoice_with_250_lines_is_paged_and_the_rest_cost_nothing(make_emulator, client_for, warehouse):
    emulator = make_emulator({"customer": 10, "product": 3, "price": 5, "invoice": 40})
    store = emulator.store
    big = next(iter(store.collections["invoices"].objects))
    store.add_children("invoice_line_items", big, _lines(store, big, 249))  # 250 with the one it had
    assert store.collections["invoices"].objects[big]["lines"]["has_more"] is True

    StripeInvoiceAction(client=client_for(emulator), warehouse=warehouse).sync_all()

    rows = table_rows(warehouse, MODELS["invoice_line_items"].__table__)
    assert len(rows) == store.table_count("invoice_line_items")
    assert sum(1 for row in rows.values() if row["invoice"] == big) == 250
    # 240 lines after the embedded 10 are 3 pages, of one invoice; the other 39 embed all their lines.
    assert emulator.requests.by_route["GET /v1/invoices/:id/lines"] == 3


def test_a_changed_parent_replaces_its_child_set(make_emulator, client_for, warehouse):
    emulator = make_emulator({"customer": 5, "product": 3, "price": 5, "subscription": 10})
    store = emulator.store
    subscription = next(s for s in store.collections["subscriptions"].objects.values() if s["status"] == "active")
    action = lambda: StripeSubscriptionAction(client=client_for(emulator), warehouse=warehouse)  # noqa: E731
    action().sync_incremental()
    items = MODELS["subscription_items"].__table__
    before = {i for i, row in table_rows(warehouse, items).items() if row["subscription"] == subscription["id"]}
    assert before == {item["id"] for item in subscription["items"]["data"]}

    # The first item is removed from the subscription, a new one added: an update event.
    [gone, *kept] = subscription["items"]["data"]
    added = {**gone, "id": "si_1AddedInThisTest0000000"}
    store.collections["subscription_items"].remove(gone["id"])
    store.update(subscription["id"], items={**subscription["items"], "data": [*kept, added], "total_count": len(kept) + 1})
    store.add_children("subscription_items", subscription["id"], [added])
    action().sync_incremental()

    rows = table_rows(warehouse, items)
    assert rows[gone["id"]]["_deleted_at"] is not None
    assert rows[added["id"]]["_deleted_at"] is None and rows[added["id"]]["subscription"] == subscription["id"]


def test_lists_the_parent_does_not_embed_sync_only_when_chosen(make_emulator, client_for, warehouse):
    emulator = make_emulator({"customer": 8, "customer_tax_ids": 12, "customer_balance_transactions": 5})
    StripeCustomerAction(client=client_for(emulator), warehouse=warehouse).sync_all()
    assert emulator.requests.by_route.get("GET /v1/customers/:id/tax_ids", 0) == 0  # not chosen: no request

    chosen = StripeCustomerAction(client=client_for(emulator), warehouse=warehouse, children=["customer_tax_ids"])
    chosen.sync_all()
    rows = table_rows(warehouse, MODELS["customer_tax_ids"].__table__)
    assert len(rows) == 12 == emulator.store.table_count("customer_tax_ids")
    assert all(row["customer"] and row["customer"].startswith("cus_") for row in rows.values())
    assert chosen.child_stats["customer_tax_ids"].written.inserted == 12


def test_capabilities_are_keyed_by_their_account(make_emulator, client_for, warehouse):
    """`card_payments` is a capability of every account: the row key is the account's ID and it."""
    emulator = make_emulator()
    for account in ("acct_1One", "acct_1Two"):
        emulator.add_account(account)
        emulator.store.add_children("capabilities", account, [{"id": "card_payments", "object": "capability", "status": "active"}])
    StripeAccountAction(client=client_for(emulator), warehouse=warehouse, children=["capabilities"]).sync_all()
    rows = table_rows(warehouse, MODELS["capabilities"].__table__)
    assert set(rows) == {"acct_1One/card_payments", "acct_1Two/card_payments"}
    assert {row["account"] for row in rows.values()} == {"acct_1One", "acct_1Two"}


def test_a_child_event_syncs_its_parent_again(make_emulator, client_for, warehouse):
    """A tax ID added to a customer is `customer.tax_id.created`, not a customer event."""
    emulator = make_emulator({"customer": 4})
    store = emulator.store
    action = lambda: StripeCustomerAction(client=client_for(emulator), warehouse=warehouse, children=["customer_tax_ids"])  # noqa: E731
    action().sync_incremental()
    customer = next(iter(store.collections["customers"].objects))
    tax_id = {"id": "txi_1AddedInThisTest00000", "object": "tax_id", "customer": customer, "type": "eu_vat", "value": "DE123456789"}
    store.add_children("customer_tax_ids", customer, [tax_id])
    store.emit_event("customer.tax_id.created", tax_id)
    emulator.requests.reset()

    stats = action().sync_incremental()
    assert stats.modes == ["incremental"]
    assert table_rows(warehouse, MODELS["customer_tax_ids"].__table__)[tax_id["id"]]["customer"] == customer
    assert emulator.requests.by_route["GET /v1/customers/:id"] == 1  # only that customer, once


def test_a_strict_parent_fails_fast_on_its_children_too(make_emulator, client_for, warehouse):
    import pytest

    from stripe_pipeline.actions import StripeInvoiceLineItemAction
    from stripe_pipeline.actions.mixins import ObjectSyncError

    class BrokenLines(StripeInvoiceLineItemAction):
        def post_set_default(self, defaults):
            raise ValueError("no")

    class Invoices(StripeInvoiceAction):
        child_actions = (BrokenLines,)

    emulator = make_emulator({"customer": 3, "product": 2, "price": 2, "invoice": 4})
    with pytest.raises(ObjectSyncError, match="hook post_set_default failed for invoice_line_items/"):
        Invoices(client=client_for(emulator), warehouse=warehouse, strict=True).sync_all()
    stats = Invoices(client=client_for(emulator), warehouse=warehouse).sync_all()
    assert stats.failed == 0 and warehouse.open_errors("invoice_line_items") == emulator.store.table_count("invoice_line_items")
