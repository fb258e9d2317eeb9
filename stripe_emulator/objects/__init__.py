"""The emulator's rich Stripe objects, shaped key for key like Stripe's own API fixtures, so
sync code exercised here meets the same fields, nesting and nulls as against the real API.
Seed data is deterministic for a seed and streams, so tests and demos see the same large data
sets.

By concern: helpers.py (IDs, payers, metadata), vocabulary.py, periods.py (billing calendar),
one module per group of types (catalogue, customers, subscriptions, invoices, payments), and
the seeded account's generator (account.py, account_billing.py, seeding.py)."""

from __future__ import annotations

from collections.abc import Callable

from .account import SEED_ORDER, generate
from .catalogue import build_coupon, build_price, build_product
from .customers import build_customer
from .helpers import ID_PREFIXES, new_id
from .invoices import build_invoice
from .payments import build_charge, build_payment_intent
from .subscriptions import build_subscription

# The builder `Store.create` uses for a type, from its parents; other types get the generic one.
BUILDERS: dict[str, Callable[..., dict]] = {
    "customer": build_customer,
    "product": build_product,
    "price": build_price,
    "coupon": build_coupon,
    "subscription": build_subscription,
    "invoice": build_invoice,
    "charge": build_charge,
    "payment_intent": build_payment_intent,
}

__all__ = ["BUILDERS", "ID_PREFIXES", "SEED_ORDER", "generate", "new_id"]
