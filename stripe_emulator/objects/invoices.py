"""Invoices and their line items: amounts, the status transitions and payment attempts a
status implies, and the payer's details as the invoice froze them."""

from __future__ import annotations

import random
from dataclasses import dataclass

from .helpers import ACCOUNT, ACCOUNT_NAME, DAY, UPPER_ALNUM, list_object, metadata, money, new_id, person, random_string
from .periods import interval_of, period_start
from .vocabulary import BILLING_META


def line_description(name: str, price: dict, quantity: int, trial: bool) -> str:
    if trial:
        return f"Trial period for {name}"
    if price.get("recurring") is None:
        return name
    interval, count = interval_of(price)
    every = f"/ {interval}" if count == 1 else f"every {count} {interval}s"
    return f"{quantity} \u00d7 {name} (at {money(price['unit_amount'], price['currency'])} {every})"


@dataclass
class _Settlement:
    """Where an invoice stands: what was attempted and paid, and when its status changed."""

    finalized: bool
    transitions: dict[str, int | None]
    attempt_count: int
    amount_paid: int = 0
    next_payment_attempt: int | None = None
    auto_advance: bool = False
    due_date: int | None = None


def _line_parent(rng: random.Random, subscription: str | None, item_id: str | None) -> dict:
    if item_id is not None:
        return {
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": subscription,
                "subscription_item": item_id,
            },
            "type": "subscription_item_details",
        }
    return {
        "invoice_item_details": {
            "invoice_item": new_id(rng, "invoiceitem"),
            "proration": False,
            "proration_details": {"credited_items": None},
            "subscription": subscription,
        },
        "subscription_item_details": None,
        "type": "invoice_item_details",
    }


def _line_items(
    rng: random.Random,
    invoice: str,
    subscription: str | None,
    lines: list[tuple[dict, int, str | None]],
    period: tuple[int, int],
    trial: bool,
    product_names: dict[str, str],
) -> list[dict]:
    line_items = []
    start, end = period
    for price, quantity, item_id in lines:
        amount = 0 if trial else price["unit_amount"] * quantity
        product_name = product_names.get(price["product"]) or price["nickname"] or "Subscription item"
        parent = _line_parent(rng, subscription, item_id)
        line_items.append(
            {
                "amount": amount,
                "currency": price["currency"],
                "description": line_description(product_name, price, quantity, trial) if item_id else product_name,
                "discount_amounts": [],
                "discountable": not trial,
                "discounts": [],
                "id": new_id(rng, "line_item"),
                "invoice": invoice,
                "livemode": False,
                "metadata": {},
                "object": "line_item",
                "period": {"end": end, "start": start},
                "quantity": quantity,
                "subscription": subscription,
                "pretax_credit_amounts": [],
                "taxes": [],
                "parent": parent,
                "pricing": {
                    "price_details": {"price": price["id"], "product": price["product"]},
                    "type": "price_details",
                    "unit_amount_decimal": "0" if trial else price["unit_amount_decimal"],
                },
                "subtotal": amount,
                "quantity_decimal": None,
            }
        )
    return line_items


def _settle(
    rng: random.Random,
    status: str,
    amount_due: int,
    created: int,
    now: int | None,
    billing_reason: str,
    collection_method: str,
    days_until_due: int | None,
    attempt_count: int | None,
) -> _Settlement:
    # Subscription renewals sit as drafts for about an hour before Stripe finalizes them.
    # (A draft has none: `finalized` below; the time is what later transitions count from.)
    finalized_at = created + 3600 if billing_reason == "subscription_cycle" else created
    if now is not None:
        finalized_at = min(finalized_at, now)
    finalized = status != "draft"
    transitions: dict[str, int | None] = {
        "finalized_at": finalized_at if finalized else None,
        "marked_uncollectible_at": None,
        "paid_at": None,
        "voided_at": None,
    }

    def later(base: int, max_days: int) -> int:
        t = base + rng.randint(60, max_days * DAY)
        return t if now is None else max(base, min(t, now))

    charge_auto = collection_method == "charge_automatically"
    if attempt_count is None:
        if status == "paid":
            attempt_count = 1 if charge_auto and amount_due > 0 else 0
        elif status in ("open", "uncollectible", "void") and charge_auto and amount_due > 0:
            attempt_count = rng.randint(0 if status == "open" else 1, 4)
        else:
            attempt_count = 0
    settlement = _Settlement(finalized, transitions, attempt_count)
    if not charge_auto and finalized:
        settlement.due_date = finalized_at + (days_until_due or 30) * DAY
    if status == "paid":
        settlement.amount_paid = amount_due
        if charge_auto or amount_due == 0:
            transitions["paid_at"] = finalized_at
        else:
            transitions["paid_at"] = later(finalized_at, days_until_due or 30)
    elif status == "open":
        settlement.auto_advance = attempt_count < 4
        if charge_auto and attempt_count < 4:
            settlement.next_payment_attempt = finalized_at + (1 + attempt_count * 2) * DAY
    elif status == "void":
        transitions["voided_at"] = later(finalized_at, 20)
    elif status == "uncollectible":
        transitions["marked_uncollectible_at"] = later(finalized_at, 30)
    elif status == "draft":
        settlement.auto_advance = now is None or created + 3600 > now
        if charge_auto and settlement.auto_advance:
            settlement.next_payment_attempt = created + 3600
    return settlement


def _invoice_parent(subscription: str | None) -> dict | None:
    if subscription is None:
        return None
    return {
        "quote_details": None,
        "subscription_details": {"metadata": {}, "subscription": subscription},
        "type": "subscription_details",
    }


def _payer_fields(customer: str, payer: tuple) -> dict:
    """The customer's details as the invoice keeps them: (name, email, phone, address, tax_exempt)."""
    name, email, phone, address, tax_exempt = payer
    return {
        "customer": customer,
        "customer_address": dict(address) if address else None,
        "customer_email": email,
        "customer_name": name,
        "customer_phone": phone,
        "customer_shipping": None,
        "customer_tax_exempt": tax_exempt,
        "customer_tax_ids": [],
    }


def _amount_fields(amount_due: int, settlement: _Settlement, status: str) -> dict:
    return {
        "amount_due": amount_due,
        "amount_paid": settlement.amount_paid,
        "amount_remaining": amount_due - settlement.amount_paid,
        "amount_shipping": 0,
        "application": None,
        "attempt_count": settlement.attempt_count,
        "attempted": settlement.attempt_count > 0 or (status == "paid"),
        "auto_advance": settlement.auto_advance,
    }


def invoice_object(
    rng: random.Random,
    *,
    id: str,
    created: int,
    customer: str,
    subscription: str | None,
    lines: list[tuple[dict, int, str | None]],
    status: str,
    billing_reason: str,
    collection_method: str = "charge_automatically",
    days_until_due: int | None = None,
    line_period: tuple[int, int] | None = None,
    invoice_period: tuple[int, int] | None = None,
    attempt_count: int | None = None,
    trial: bool = False,
    payer: tuple | None = None,
    number: str | None = None,
    product_names: dict[str, str] | None = None,
    now: int | None = None,
) -> dict:
    """lines: (price, quantity, subscription item id or None)."""
    currency = lines[0][0]["currency"] if lines else "usd"
    payer = (*person(rng, currency)[:4], "none") if payer is None else payer
    line_items = _line_items(rng, id, subscription, lines, line_period or (created, created), trial, product_names or {})
    total = subtotal = sum(line["amount"] for line in line_items)
    settlement = _settle(rng, status, total, created, now, billing_reason, collection_method, days_until_due, attempt_count)
    finalized, transitions = settlement.finalized, settlement.transitions
    if finalized and number is None:
        number = f"{random_string(rng, 8, UPPER_ALNUM)}-{rng.randint(1, 30):04d}"
    secret = random_string(rng, 40) if finalized else None
    period_start, period_end = invoice_period or (created, created)
    return {
        "account_country": "US",
        "account_name": ACCOUNT_NAME,
        "account_tax_ids": None,
        **_amount_fields(total, settlement, status),
        "automatic_tax": {"enabled": False, "liability": None, "status": None, "disabled_reason": None, "provider": None},
        "billing_reason": billing_reason,
        "collection_method": collection_method,
        "created": created,
        "currency": currency,
        "custom_fields": None,
        **_payer_fields(customer, payer),
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": [],
        "description": None if rng.random() < 0.9 else rng.choice(("Thanks for your business!", "Net 30", "Consulting services")),
        "discounts": [],
        "due_date": settlement.due_date,
        "effective_at": transitions["finalized_at"],
        "ending_balance": 0 if finalized else None,
        "footer": None,
        "from_invoice": None,
        "hosted_invoice_url": f"https://invoice.stripe.com/i/{ACCOUNT}/test_{secret}?s=ap" if secret else None,
        "id": id,
        "invoice_pdf": f"https://pay.stripe.com/invoice/{ACCOUNT}/test_{secret}/pdf?s=ap" if secret else None,
        "issuer": {"type": "self"},
        "last_finalization_error": None,
        "latest_revision": None,
        "lines": list_object(line_items, f"/v1/invoices/{id}/lines"),
        "livemode": False,
        "metadata": metadata(rng, BILLING_META) if subscription is None else {},
        "next_payment_attempt": settlement.next_payment_attempt,
        "number": number if finalized else None,
        "object": "invoice",
        "on_behalf_of": None,
        "payment_settings": {"default_mandate": None, "payment_method_options": None, "payment_method_types": None},
        "period_end": period_end,
        "period_start": period_start,
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": None,
        "rendering": {"amount_tax_display": None, "pdf": {"page_size": "auto"}, "template": None, "template_version": None},
        "shipping_cost": None,
        "shipping_details": None,
        "starting_balance": 0,
        "statement_descriptor": None,
        "status": status,
        "status_transitions": transitions,
        "subscription": subscription,
        "subtotal": subtotal,
        "subtotal_excluding_tax": subtotal,
        "test_clock": None,
        "total": total,
        "total_discount_amounts": [],
        "total_excluding_tax": total,
        "webhooks_delivered_at": created if now is None else min(created + rng.randint(1, 30), now),
        "automatically_finalizes_at": created + 3600 if status == "draft" and settlement.auto_advance else None,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "amount_overpaid": 0,
        "parent": _invoice_parent(subscription),
        "customer_account": None,
    }


def random_invoice_status(rng: random.Random) -> str:
    x = rng.random()
    return "paid" if x < 0.7 else "open" if x < 0.84 else "draft" if x < 0.91 else "void" if x < 0.97 else "uncollectible"


def build_invoice(
    rng: random.Random, *, id: str, created: int, customer: str, subscription: str | None, lines_from_prices: list[dict]
) -> dict:
    status = random_invoice_status(rng)
    lines = [
        (price, 1 if rng.random() < 0.85 else rng.randint(2, 5), new_id(rng, "subscription_item") if subscription else None)
        for price in lines_from_prices
    ]
    line_period = None
    if subscription and lines_from_prices:
        interval, count = interval_of(lines_from_prices[0])
        line_period = (created, period_start(created, interval, count, 1))
    return invoice_object(
        rng,
        id=id,
        created=created,
        customer=customer,
        subscription=subscription,
        lines=lines,
        status=status,
        billing_reason="subscription_cycle" if subscription else "manual",
        collection_method="charge_automatically" if subscription or rng.random() < 0.4 else "send_invoice",
        days_until_due=None,
        line_period=line_period,
    )
