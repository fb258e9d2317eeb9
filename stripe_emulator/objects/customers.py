"""Customers, with a plausible payer's name, email, phone and addresses."""

from __future__ import annotations

import random

from .helpers import UPPER_ALNUM, metadata, person, random_currency, random_string
from .vocabulary import CUSTOMER_META, LOCALES


def customer_object(rng: random.Random, *, id: str, created: int, currency: str | None = None) -> dict:
    currency = currency or random_currency(rng)
    name, email, phone, address, country = person(rng, currency)
    r = rng.random
    shipping = None
    if address is not None and r() < 0.15:
        shipping = {"address": dict(address), "name": name, "phone": phone}
    x = r()
    return {
        "address": address,
        "balance": 0 if x < 0.93 else -rng.choice((500, 1000, 2500, 5000)) if x < 0.98 else rng.choice((1500, 4900)),
        "created": created,
        "currency": currency,
        "default_source": None,
        "delinquent": r() < 0.05,
        "description": None if r() < 0.85 else rng.choice(("Imported from legacy billing", "VIP account", f"Customer for {email or name}")),
        "discount": None,
        "email": email,
        "id": id,
        "invoice_prefix": random_string(rng, 8, UPPER_ALNUM),
        "invoice_settings": {"custom_fields": None, "default_payment_method": None, "footer": None, "rendering_options": None},
        "livemode": False,
        "metadata": metadata(rng, CUSTOMER_META),
        "name": name,
        "next_invoice_sequence": 1 if r() < 0.5 else rng.randint(2, 40),
        "object": "customer",
        "phone": phone,
        "preferred_locales": [] if r() < 0.8 else [LOCALES[country]],
        "shipping": shipping,
        "tax_exempt": "none" if r() < 0.96 else rng.choice(("exempt", "reverse")),
        "test_clock": None,
    }


def build_customer(rng: random.Random, *, id: str, created: int) -> dict:
    return customer_object(rng, id=id, created=created)
