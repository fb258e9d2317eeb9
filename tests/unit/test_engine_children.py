"""Child tables (actions/sync/children.py): an invoice's lines, taken from the page it embeds and
the pages after it; each sync of the invoice replaces its set of lines."""

from __future__ import annotations

from stripe_pipeline.actions import StripeInvoiceAction, StripeInvoiceLineItemAction

from .engine import live, requests_to, rows

INVOICES = "/v1/invoices"


def invoice(stripe_account, object_id: str, line_ids: list[str], event: str | None = None, embedded: int = 10) -> dict:
    """An invoice, its lines listed in the order given, and the first `embedded` of them in it."""
    path = f"{INVOICES}/{object_id}/lines"
    lines = [{"id": line_id, "object": "line_item", "invoice": object_id, "amount": 100} for line_id in line_ids]
    stripe_account.collections[path] = {}
    for line in reversed(lines):  # listed newest first: the last saved first
        stripe_account.save(path, line)
    page = {"object": "list", "data": lines[:embedded], "has_more": len(lines) > embedded, "url": path}
    return stripe_account.save(INVOICES, {"id": object_id, "object": "invoice", "lines": page}, event)


def sync(stripe_account, warehouse):
    return StripeInvoiceAction(client=stripe_account, warehouse=warehouse).sync_incremental()


def test_an_invoices_lines_come_from_its_embedded_page_and_the_pages_after_it(stripe_account, warehouse):
    invoice(stripe_account, "in_1", ["il_1", "il_2", "il_3"], "invoice.created", embedded=2)
    invoice(stripe_account, "in_2", ["il_4"], "invoice.created")

    sync(stripe_account, warehouse)

    lines = rows(warehouse, StripeInvoiceLineItemAction)
    assert {line_id: row["invoice"] for line_id, row in lines.items()} == {"il_1": "in_1", "il_2": "in_1", "il_3": "in_1", "il_4": "in_2"}
    # Only the invoice that said `has_more` cost a request, for what it did not embed.
    assert requests_to(stripe_account, f"{INVOICES}/in_1/lines") == [{"limit": 100, "starting_after": "il_2"}]
    assert requests_to(stripe_account, f"{INVOICES}/in_2/lines") == []


def test_a_line_that_vanished_from_its_invoice_is_flagged_and_a_deleted_invoice_takes_its_lines(stripe_account, warehouse):
    invoice(stripe_account, "in_1", ["il_1", "il_2", "il_3"], "invoice.created")
    invoice(stripe_account, "in_2", ["il_4", "il_5"], "invoice.created")
    sync(stripe_account, warehouse)
    stripe_account.tick(600)
    invoice(stripe_account, "in_1", ["il_1", "il_3"], "invoice.updated")
    stripe_account.delete(INVOICES, "in_2", event="invoice.deleted")

    assert sync(stripe_account, warehouse).modes == ["incremental"]

    assert live(warehouse, StripeInvoiceLineItemAction) == {"il_1", "il_3"}
    assert rows(warehouse, StripeInvoiceLineItemAction)["il_2"]["amount"] == 100  # flagged, its data kept
    assert live(warehouse, StripeInvoiceAction) == {"in_1"}
