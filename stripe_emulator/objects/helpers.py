"""Shared builders of the emulator's objects: Stripe-like IDs, random strings, currencies,
amounts as text, metadata, and the payer (name, email, phone, address) that customers,
invoices and charges carry."""

from __future__ import annotations

import random
import string

from stripe_pipeline.catalog.declarations import ID_PREFIXES as CATALOGUED_PREFIXES

from .vocabulary import (
    CITIES,
    COMPANY_SUFFIX,
    COUNTRIES,
    FIRST_NAMES,
    LAST_NAMES,
    LEGAL,
    PERSON_DOMAINS,
    ROLE_MAILBOXES,
    STREETS,
    SYMBOLS,
)

# The types with builders of their own (the rest are generic.py's), by the prefix of their IDs
# without its underscore: the catalogue's, where every type's prefix is written once. Coupons
# have none (their IDs are chosen, or a random code).
RICH_TYPES = (
    "customer",
    "product",
    "price",
    "coupon",
    "subscription",
    "subscription_item",
    "invoice",
    "line_item",
    "charge",
    "payment_intent",
    "balance_transaction",
    "discount",
    "payment_method",
    "invoiceitem",
)
ID_PREFIXES: dict[str, str] = {name: next(iter(CATALOGUED_PREFIXES.get(name, ())), "").removesuffix("_") for name in RICH_TYPES}

ALNUM = string.ascii_letters + string.digits
UPPER_ALNUM = string.ascii_uppercase + string.digits
DAY = 86_400

# One fake merchant account owns everything; hosted URLs and configuration IDs hang off it.
ACCOUNT = "acct_1EmuLat0rAcc0unt"
ACCOUNT_NAME = "Example Software, Inc."
PM_CONFIGURATION = "pmc_1EmuLat0rC0nf1gurat10n0"


def new_id(rng: random.Random, object_name: str) -> str:
    """Stripe-like id: prefix + '_' + 24 chars of [A-Za-z0-9]. Coupons have no prefix: 8 chars."""
    prefix = ID_PREFIXES[object_name]
    if not prefix:
        # Stripe's generated coupon codes are upper-case only, like the fixture's "Z4OV52SU".
        return "".join(rng.choices(UPPER_ALNUM, k=8))
    return prefix + "_" + "".join(rng.choices(ALNUM, k=24))


def random_string(rng: random.Random, n: int, alphabet: str = ALNUM) -> str:
    return "".join(rng.choices(alphabet, k=n))


def random_currency(rng: random.Random) -> str:
    x = rng.random()
    return "usd" if x < 0.8 else "eur" if x < 0.92 else "gbp"


def money(amount: int, currency: str) -> str:
    return f"{SYMBOLS.get(currency, currency.upper() + ' ')}{amount / 100:,.2f}"


def metadata(rng: random.Random, pool: tuple[tuple[str, tuple[str, ...]], ...]) -> dict:
    if rng.random() >= 0.15:
        return {}
    key, values = rng.choice(pool)
    return {key: rng.choice(values)}


def postal_address(rng: random.Random, country: str) -> dict:
    city, state, postal = rng.choice(CITIES[country])
    street = rng.choice(STREETS[country])
    number = rng.randint(1, 2400)
    if country == "US":
        postal_code = postal + f"{rng.randint(0, 99):02d}"
        line1 = f"{number} {street}"
    elif country == "GB":
        postal_code = f"{postal} {rng.randint(1, 9)}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}"
        line1 = f"{number % 200 + 1} {street}"
    elif country == "IE":
        postal_code = f"{postal} {random_string(rng, 4, UPPER_ALNUM)}"
        line1 = f"{number % 200 + 1} {street}"
    elif country == "NL":
        postal_code = f"{postal}{rng.randint(0, 9)} {rng.choice('ABCDEFGHJKLMNPRSTVWXZ')}{rng.choice('ABCDEFGHJKLMNPRSTVWXZ')}"
        line1 = f"{street} {number % 300 + 1}"
    else:
        postal_code = postal + f"{rng.randint(0, 99):02d}"
        line1 = f"{number % 300 + 1} {street}" if country == "FR" else f"{street} {number % 300 + 1}"
    line2 = rng.choice(("Suite 100", "Apt 4B", "Floor 3", "Unit 12")) if rng.random() < 0.15 else None
    return {"city": city, "country": country, "line1": line1, "line2": line2, "postal_code": postal_code, "state": state}


def phone_number(rng: random.Random, country: str) -> str:
    if country == "US":
        # 555-01xx is the range reserved for fiction.
        return f"+1{rng.choice(('415', '212', '512', '206', '312', '617'))}55501{rng.randint(0, 99):02d}"
    if country == "GB":
        return f"+4420794600{rng.randint(0, 99):02d}"
    return "+" + {"DE": "4930", "FR": "331", "NL": "3120", "IE": "3531", "ES": "3491"}[country] + f"{rng.randint(0, 9_999_999):07d}"


def person(rng: random.Random, currency: str) -> tuple[str | None, str | None, str | None, dict | None, str]:
    """(name, email, phone, address, country) of a plausible payer."""
    countries = COUNTRIES[currency]
    country = countries[0] if len(countries) == 1 else rng.choice(countries)
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    name: str | None
    email: str | None
    if rng.random() < 0.25:
        name = f"{last} {rng.choice(COMPANY_SUFFIX)}{rng.choice(LEGAL)}"
        slug = "".join(ch for ch in name.lower() if ch.isalnum())[:20]
        email = f"{rng.choice(ROLE_MAILBOXES)}@{slug}.example.com"
    else:
        name = f"{first} {last}"
        local = f"{first}.{last}".lower().replace("'", "")
        if rng.random() < 0.4:
            local += str(rng.randint(1, 99))
        email = f"{local}@{rng.choice(PERSON_DOMAINS)}"
    x = rng.random()
    if x < 0.04:
        name = None  # signed up with an email only
    elif x < 0.06:
        email = None  # created by hand in the Dashboard
    phone = phone_number(rng, country) if rng.random() < 0.3 else None
    address = postal_address(rng, country) if rng.random() < 0.6 else None
    return name, email, phone, address, country


def list_object(data: list[dict], url: str) -> dict:
    """A list embedded in its parent (a subscription's items, an invoice's lines), all on one page."""
    return {"data": data, "has_more": False, "object": "list", "total_count": len(data), "url": url}
