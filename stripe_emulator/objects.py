"""Builders for the emulator's Stripe objects, shaped key for key like Stripe's own API fixtures,
so sync code exercised here meets the same fields, nesting and nulls as against the real API.
Seed data is deterministic for a seed and streams, so tests and demos see the same large data sets."""

from __future__ import annotations

import bisect
import calendar
import datetime
import random
import string
from collections.abc import Callable, Iterator
from typing import Any

from . import timelines
from .timelines import Timeline

ID_PREFIXES: dict[str, str] = {
    "customer": "cus",
    "product": "prod",
    "price": "price",
    "coupon": "",
    "subscription": "sub",
    "subscription_item": "si",
    "invoice": "in",
    "line_item": "il",
    "charge": "ch",
    "payment_intent": "pi",
    "balance_transaction": "txn",
    "discount": "di",
    "payment_method": "pm",
    "invoiceitem": "ii",
}

SEED_ORDER: tuple[str, ...] = ("product", "price", "coupon", "customer", "subscription", "invoice", "payment_intent", "charge")

_ALNUM = string.ascii_letters + string.digits
_UPPER_ALNUM = string.ascii_uppercase + string.digits
_DAY = 86_400

# Bounds on what generate() remembers about parents, so a million children stream in flat memory.
_KEEP_CUSTOMERS = 20_000
_KEEP_PRODUCTS = 20_000
_KEEP_PRICES = 5_000
_KEEP_COUPONS = 2_000
# Only this many subscriptions get their latest invoice, and payment intents their charge, linked.
_LINK_CAP = 50_000
# A created second repeats with this chance, giving ~5% of objects a same-second twin as in Stripe.
_TIE_P = 0.026

# One fake merchant account owns everything; hosted URLs and configuration IDs hang off it.
_ACCOUNT = "acct_1EmuLat0rAcc0unt"
_ACCOUNT_NAME = "Example Software, Inc."
_PM_CONFIGURATION = "pmc_1EmuLat0rC0nf1gurat10n0"


def new_id(rng: random.Random, object_name: str) -> str:
    """Stripe-like id: prefix + '_' + 24 chars of [A-Za-z0-9]. Coupons have no prefix: 8 chars."""
    prefix = ID_PREFIXES[object_name]
    if not prefix:
        # Stripe's generated coupon codes are upper-case only, like the fixture's "Z4OV52SU".
        return "".join(rng.choices(_UPPER_ALNUM, k=8))
    return prefix + "_" + "".join(rng.choices(_ALNUM, k=24))


# -- vocabulary ------------------------------------------------------------------------------

_FIRST = (
    "Olivia",
    "Liam",
    "Emma",
    "Noah",
    "Ava",
    "Elijah",
    "Sophia",
    "James",
    "Isabella",
    "Lucas",
    "Mia",
    "Mateo",
    "Amelia",
    "Benjamin",
    "Harper",
    "Henry",
    "Evelyn",
    "Alexander",
    "Aria",
    "Sebastian",
    "Chloe",
    "Jack",
    "Layla",
    "Daniel",
    "Nora",
    "Leo",
    "Zoe",
    "Samuel",
    "Priya",
    "Arjun",
    "Wei",
    "Mei",
    "Hiroshi",
    "Yuki",
    "Fatima",
    "Omar",
    "Aisha",
    "Diego",
    "Lucia",
    "Sofia",
    "Marco",
    "Giulia",
    "Lena",
    "Jonas",
    "Camille",
    "Louis",
    "Hugo",
    "Sven",
    "Ingrid",
    "Oliver",
    "Amara",
    "Kwame",
    "Ngozi",
    "Chen",
    "Ana",
    "Joao",
    "Maya",
    "Ethan",
    "Grace",
    "Jenny",
)
_LAST = (
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Clark",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Nguyen",
    "Patel",
    "Kim",
    "Chen",
    "Wang",
    "Singh",
    "Tanaka",
    "Muller",
    "Schmidt",
    "Dubois",
    "Rossi",
    "Silva",
    "Okafor",
    "Mensah",
    "Novak",
    "Jensen",
    "Murphy",
    "O'Brien",
    "Rosen",
    "Fischer",
    "Bernard",
    "Costa",
)
_COMPANY_SUFFIX = (
    "Labs",
    "Studio",
    "Partners",
    "Consulting",
    "Logistics",
    "Bakery",
    "Design Co.",
    "Analytics",
    "Health",
    "Ventures",
    "Robotics",
    "Media",
    "Outfitters",
    "Dental",
    "Legal",
    "Coffee Roasters",
    "Fitness",
    "Systems",
)
_LEGAL = ("", "", " LLC", " Inc.", " Ltd")
_PERSON_DOMAINS = ("example.com", "example.org", "example.net")
_ROLE_MAILBOXES = ("billing", "accounts", "finance", "ap", "hello", "admin")

# (country, weight) per currency; addresses and card countries follow the customer's currency.
_COUNTRIES = {"usd": ("US",), "eur": ("DE", "FR", "NL", "IE", "ES"), "gbp": ("GB",)}
_CITIES = {
    "US": (
        ("San Francisco", "CA", "941"),
        ("New York", "NY", "100"),
        ("Austin", "TX", "787"),
        ("Seattle", "WA", "981"),
        ("Chicago", "IL", "606"),
        ("Boston", "MA", "021"),
        ("Denver", "CO", "802"),
        ("Portland", "OR", "972"),
        ("Atlanta", "GA", "303"),
        ("Miami", "FL", "331"),
    ),
    "GB": (
        ("London", None, "EC1A"),
        ("Manchester", None, "M1"),
        ("Edinburgh", None, "EH1"),
        ("Bristol", None, "BS1"),
        ("Leeds", None, "LS1"),
    ),
    "DE": (("Berlin", None, "101"), ("Munich", None, "803"), ("Hamburg", None, "200")),
    "FR": (("Paris", None, "750"), ("Lyon", None, "690"), ("Bordeaux", None, "330")),
    "NL": (("Amsterdam", None, "101"), ("Rotterdam", None, "301"), ("Utrecht", None, "351")),
    "IE": (("Dublin", None, "D02"), ("Cork", None, "T12"), ("Galway", None, "H91")),
    "ES": (("Madrid", None, "280"), ("Barcelona", None, "080"), ("Valencia", None, "460")),
}
_STREETS = {
    "US": ("Market St", "Main St", "Oak Ave", "Mission St", "Pine St", "Elm St", "Broadway", "Maple Ave"),
    "GB": ("High Street", "Church Road", "Station Road", "Victoria Road", "Mill Lane"),
    "DE": ("Hauptstrasse", "Bahnhofstrasse", "Gartenweg", "Schulstrasse"),
    "FR": ("rue de la Paix", "avenue Victor Hugo", "rue du Moulin", "boulevard Voltaire"),
    "NL": ("Keizersgracht", "Prinsengracht", "Kerkstraat", "Damrak"),
    "IE": ("Grafton Street", "Main Street", "Dame Street", "Patrick Street"),
    "ES": ("Calle Mayor", "Gran Via", "Calle de Alcala", "Paseo del Prado"),
}
_LOCALES = {"US": "en-US", "GB": "en-GB", "DE": "de", "FR": "fr", "NL": "nl", "IE": "en-IE", "ES": "es"}
_SYMBOLS = {"usd": "$", "eur": "\u20ac", "gbp": "\u00a3"}

_TIERS = ("Starter", "Basic", "Pro", "Plus", "Business", "Team", "Growth", "Scale", "Enterprise", "Premium")
_SERVICE_LINES = (
    ("Plan", "Everything you need to run {t} workloads."),
    ("Analytics", "Dashboards and reports for {t} teams."),
    ("CRM", "Contacts, pipelines and deals, {t} edition."),
    ("Cloud Storage", "Encrypted file storage ({t})."),
    ("API Access", "Programmatic access with {t} rate limits."),
    ("Support", "{t} support with faster response times."),
    ("Hosting", "Managed hosting on the {t} tier."),
    ("Email Marketing", "Campaigns and automations, {t} plan."),
    ("Backups", "Daily backups, {t} retention."),
    ("Monitoring", "Uptime and performance monitoring ({t})."),
)
_GOODS = ("T-shirt", "Hoodie", "Mug", "Sticker pack", "Notebook", "Water bottle", "Cap", "Tote bag", "Backpack", "Socks")
_COLORS = ("Gray", "Black", "White", "Navy", "Forest Green", "Red", "Sand")
_FEATURES = ("Unlimited projects", "Single sign-on", "Priority support", "Audit log", "Custom domains", "API access", "99.9% uptime SLA")

_MONTHLY_AMOUNTS = (500, 900, 1000, 1200, 1500, 1900, 2000, 2500, 2900, 3900, 4900, 7900, 9900, 14900, 19900, 29900, 49900)
_ONE_TIME_AMOUNTS = (499, 899, 1200, 1500, 1999, 2400, 2999, 3500, 4999, 7500, 9900, 14900)

_DECLINES = (
    # code, decline_code, message
    ("card_declined", "insufficient_funds", "Your card has insufficient funds."),
    ("card_declined", "generic_decline", "Your card was declined."),
    ("card_declined", "do_not_honor", "Your card was declined."),
    ("expired_card", "expired_card", "Your card has expired."),
    ("incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect."),
    ("card_declined", "lost_card", "Your card was declined."),
)
_CANCEL_FEEDBACK = (
    "too_expensive",
    "switched_service",
    "unused",
    "missing_features",
    "customer_service",
    "low_quality",
    "too_complex",
    "other",
)
_CANCEL_COMMENTS = ("Moving to an in-house tool.", "Budget cuts this quarter.", "Project ended.", "Too many seats for our team.")


def _rand_str(rng: random.Random, n: int, alphabet: str = _ALNUM) -> str:
    return "".join(rng.choices(alphabet, k=n))


def _currency(rng: random.Random) -> str:
    x = rng.random()
    return "usd" if x < 0.8 else "eur" if x < 0.92 else "gbp"


def _money(amount: int, currency: str) -> str:
    return f"{_SYMBOLS.get(currency, currency.upper() + ' ')}{amount / 100:,.2f}"


def _metadata(rng: random.Random, pool: tuple[tuple[str, tuple[str, ...]], ...]) -> dict:
    if rng.random() >= 0.15:
        return {}
    key, values = rng.choice(pool)
    return {key: rng.choice(values)}


_CUSTOMER_META = (
    ("signup_source", ("web", "mobile", "sales", "partner")),
    ("crm_id", ("0015g00000AbCdE", "0015g00000XyZ12", "0015g00000QrSt9")),
    ("segment", ("smb", "mid_market", "enterprise")),
    ("referrer", ("newsletter", "podcast", "google_ads")),
)
_CATALOG_META = (("category", ("core", "add_on", "merch")), ("internal_sku", ("SKU-1001", "SKU-2040", "SKU-3310")))
_BILLING_META = (
    ("order_id", ("ord_7731", "ord_8120", "ord_9954")),
    ("sales_rep", ("alice", "bob", "carmen")),
    ("contract", ("2025-Q3", "2026-Q1")),
)


def _address(rng: random.Random, country: str) -> dict:
    city, state, postal = rng.choice(_CITIES[country])
    street = rng.choice(_STREETS[country])
    number = rng.randint(1, 2400)
    if country == "US":
        postal_code = postal + f"{rng.randint(0, 99):02d}"
        line1 = f"{number} {street}"
    elif country == "GB":
        postal_code = f"{postal} {rng.randint(1, 9)}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}"
        line1 = f"{number % 200 + 1} {street}"
    elif country == "IE":
        postal_code = f"{postal} {_rand_str(rng, 4, _UPPER_ALNUM)}"
        line1 = f"{number % 200 + 1} {street}"
    elif country == "NL":
        postal_code = f"{postal}{rng.randint(0, 9)} {rng.choice('ABCDEFGHJKLMNPRSTVWXZ')}{rng.choice('ABCDEFGHJKLMNPRSTVWXZ')}"
        line1 = f"{street} {number % 300 + 1}"
    else:
        postal_code = postal + f"{rng.randint(0, 99):02d}"
        line1 = f"{number % 300 + 1} {street}" if country == "FR" else f"{street} {number % 300 + 1}"
    line2 = rng.choice(("Suite 100", "Apt 4B", "Floor 3", "Unit 12")) if rng.random() < 0.15 else None
    return {"city": city, "country": country, "line1": line1, "line2": line2, "postal_code": postal_code, "state": state}


def _phone(rng: random.Random, country: str) -> str:
    if country == "US":
        # 555-01xx is the range reserved for fiction.
        return f"+1{rng.choice(('415', '212', '512', '206', '312', '617'))}55501{rng.randint(0, 99):02d}"
    if country == "GB":
        return f"+4420794600{rng.randint(0, 99):02d}"
    return "+" + {"DE": "4930", "FR": "331", "NL": "3120", "IE": "3531", "ES": "3491"}[country] + f"{rng.randint(0, 9_999_999):07d}"


def _person(rng: random.Random, currency: str) -> tuple[str | None, str | None, str | None, dict | None, str]:
    """(name, email, phone, address, country) of a plausible payer."""
    countries = _COUNTRIES[currency]
    country = countries[0] if len(countries) == 1 else rng.choice(countries)
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    name: str | None
    email: str | None
    if rng.random() < 0.25:
        name = f"{last} {rng.choice(_COMPANY_SUFFIX)}{rng.choice(_LEGAL)}"
        slug = "".join(ch for ch in name.lower() if ch.isalnum())[:20]
        email = f"{rng.choice(_ROLE_MAILBOXES)}@{slug}.example.com"
    else:
        name = f"{first} {last}"
        local = f"{first}.{last}".lower().replace("'", "")
        if rng.random() < 0.4:
            local += str(rng.randint(1, 99))
        email = f"{local}@{rng.choice(_PERSON_DOMAINS)}"
    x = rng.random()
    if x < 0.04:
        name = None  # signed up with an email only
    elif x < 0.06:
        email = None  # created by hand in the Dashboard
    phone = _phone(rng, country) if rng.random() < 0.3 else None
    address = _address(rng, country) if rng.random() < 0.6 else None
    return name, email, phone, address, country


# -- calendar arithmetic for billing periods ------------------------------------------------------

_UNIX_EPOCH_ORDINAL = datetime.date(1970, 1, 1).toordinal()


def _add_months(ts: int, months: int) -> int:
    # Stripe keeps the anchor's day of month and clamps it to short months (Jan 31 -> Feb 28).
    days, secs = divmod(ts, _DAY)
    d = datetime.date.fromordinal(days + _UNIX_EPOCH_ORDINAL)
    m0 = d.month - 1 + months
    year, month = d.year + m0 // 12, m0 % 12 + 1
    day = min(d.day, calendar.monthrange(year, month)[1])
    return (datetime.date(year, month, day).toordinal() - _UNIX_EPOCH_ORDINAL) * _DAY + secs


def _period_start(anchor: int, interval: str, count: int, k: int) -> int:
    """Start of the k-th billing period counted from the anchor."""
    if interval == "day":
        return anchor + k * count * _DAY
    if interval == "week":
        return anchor + k * count * 7 * _DAY
    return _add_months(anchor, k * count * (12 if interval == "year" else 1))


def _period_index(anchor: int, interval: str, count: int, t: int) -> int:
    """k such that period k (from the anchor) contains t; 0 for t before the anchor."""
    if t <= anchor:
        return 0
    if interval in ("day", "week"):
        return (t - anchor) // ((_DAY if interval == "day" else 7 * _DAY) * count)
    months = count * (12 if interval == "year" else 1)
    k = int((t - anchor) / (months * 30.436875 * _DAY))
    while _period_start(anchor, interval, count, k + 1) <= t:
        k += 1
    while k > 0 and _period_start(anchor, interval, count, k) > t:
        k -= 1
    return k


def _interval_of(price: dict) -> tuple[str, int]:
    recurring = price.get("recurring") or {}
    return recurring.get("interval") or "month", recurring.get("interval_count") or 1


# -- builders --------------------------------------------------------------------------------


def _customer(rng: random.Random, *, id: str, created: int, currency: str | None = None) -> dict:
    currency = currency or _currency(rng)
    name, email, phone, address, country = _person(rng, currency)
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
        "invoice_prefix": _rand_str(rng, 8, _UPPER_ALNUM),
        "invoice_settings": {"custom_fields": None, "default_payment_method": None, "footer": None, "rendering_options": None},
        "livemode": False,
        "metadata": _metadata(rng, _CUSTOMER_META),
        "name": name,
        "next_invoice_sequence": 1 if r() < 0.5 else rng.randint(2, 40),
        "object": "customer",
        "phone": phone,
        "preferred_locales": [] if r() < 0.8 else [_LOCALES[country]],
        "shipping": shipping,
        "tax_exempt": "none" if r() < 0.96 else rng.choice(("exempt", "reverse")),
        "test_clock": None,
    }


def build_customer(rng: random.Random, *, id: str, created: int) -> dict:
    return _customer(rng, id=id, created=created)


def _product_kind(r: float) -> str:
    return "service" if r < 0.75 else "good"


def _product(rng: random.Random, *, id: str, created: int, kind: str, default_price: str | None, now: int | None) -> dict:
    r = rng.random
    if kind == "service":
        line, blurb = rng.choice(_SERVICE_LINES)
        tier = rng.choice(_TIERS)
        name = f"{tier} Plan" if line == "Plan" else f"{line} {tier}"
        description = blurb.format(t=tier.lower()) if r() < 0.8 else None
        features = [{"name": f} for f in rng.sample(_FEATURES, rng.randint(2, 4))] if r() < 0.4 else []
        dimensions, shippable = None, None
        unit_label = "seat" if r() < 0.2 else None
        tax_code = "txcd_10103001" if r() < 0.5 else None  # SaaS, business use
    else:
        item, color = rng.choice(_GOODS), rng.choice(_COLORS)
        name = f"{color} {item}"
        description = f"{color} {item.lower()} with embroidered logo" if r() < 0.8 else None
        features = []
        dimensions = {
            "height": round(rng.uniform(0.5, 12.0), 1),
            "length": round(rng.uniform(4.0, 20.0), 1),
            "weight": round(rng.uniform(2.0, 48.0), 1),
            "width": round(rng.uniform(3.0, 16.0), 1),
        }
        shippable = True
        unit_label = None
        tax_code = "txcd_99999999" if r() < 0.5 else None  # general tangible goods
    updated = created
    if now is not None and now > created and r() < 0.3:
        updated = rng.randint(created, now)
    return {
        "active": r() < 0.92,
        "created": created,
        "default_price": default_price,
        "description": description,
        "id": id,
        "images": [],
        "livemode": False,
        "marketing_features": features,
        "metadata": _metadata(rng, _CATALOG_META),
        "name": name,
        "object": "product",
        "package_dimensions": dimensions,
        "shippable": shippable,
        "statement_descriptor": None,
        "tax_code": tax_code,
        "unit_label": unit_label,
        "updated": updated,
        "url": None,
        "type": kind,
    }


def build_product(rng: random.Random, *, id: str, created: int) -> dict:
    return _product(rng, id=id, created=created, kind=_product_kind(rng.random()), default_price=None, now=None)


def _price(
    rng: random.Random,
    *,
    id: str,
    created: int,
    product: str,
    recurring: bool,
    currency: str | None = None,
    interval: tuple[str, int] | None = None,
) -> dict:
    r = rng.random
    currency = currency or _currency(rng)
    if recurring:
        if interval is None:
            x = r()
            interval = (
                ("month", 1)
                if x < 0.65
                else ("month", 3)
                if x < 0.7
                else ("year", 1)
                if x < 0.95
                else ("week", 1)
                if x < 0.99
                else ("day", 1)
            )
        monthly = rng.choice(_MONTHLY_AMOUNTS)
        per_unit = {"month": monthly * interval[1], "year": monthly * 10, "week": monthly // 400 * 100, "day": monthly // 2000 * 100}
        unit_amount = max(100, per_unit[interval[0]])
        recurring_obj = {
            "interval": interval[0],
            "interval_count": interval[1],
            "meter": None,
            "usage_type": "licensed",
            "trial_period_days": None,
        }
        nickname = None if r() < 0.6 else {"month": "Monthly", "year": "Annual", "week": "Weekly", "day": "Daily"}[interval[0]]
        if nickname == "Monthly" and interval[1] == 3:
            nickname = "Quarterly"
        lookup_key = None if r() < 0.8 else f"{(nickname or interval[0]).lower()}_{_rand_str(rng, 6, string.ascii_lowercase)}"
    else:
        unit_amount = rng.choice(_ONE_TIME_AMOUNTS)
        recurring_obj, nickname, lookup_key = None, None, None
    return {
        "active": r() < 0.93,
        "billing_scheme": "per_unit",
        "created": created,
        "currency": currency,
        "custom_unit_amount": None,
        "id": id,
        "livemode": False,
        "lookup_key": lookup_key,
        "metadata": _metadata(rng, _CATALOG_META),
        "nickname": nickname,
        "object": "price",
        "product": product,
        "recurring": recurring_obj,
        "tax_behavior": "unspecified" if r() < 0.7 else rng.choice(("exclusive", "inclusive")),
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "recurring" if recurring else "one_time",
        "unit_amount": unit_amount,
        "unit_amount_decimal": str(unit_amount),
    }


def build_price(rng: random.Random, *, id: str, created: int, product: str) -> dict:
    return _price(rng, id=id, created=created, product=product, recurring=rng.random() < 0.8)


def _coupon(rng: random.Random, *, id: str, created: int, now: int | None) -> dict:
    r = rng.random
    currency = None
    if r() < 0.65:
        percent_off: float | None = float(rng.choice((5, 10, 15, 20, 25, 30, 40, 50, 100, 12.5, 25.5)))
        amount_off = None
        name = f"{percent_off:g}% off"
    else:
        percent_off = None
        amount_off = rng.choice((500, 1000, 2000, 2500, 5000))
        currency = _currency(rng)
        name = f"{_money(amount_off, currency).removesuffix('.00')} off"
    x = r()
    duration = "once" if x < 0.35 else "repeating" if x < 0.7 else "forever"
    if r() < 0.25:
        name = rng.choice(("Black Friday", "Launch promo", "Partner discount", "Nonprofit", "Win-back", "Annual upgrade")) + f" ({name})"
    max_redemptions = None if r() < 0.7 else rng.choice((10, 50, 100, 500))
    times_redeemed = rng.randint(0, max_redemptions) if max_redemptions else rng.choice((0, 0, 1, 3, 12, 48, 230))
    redeem_by = created + rng.randint(30, 180) * _DAY if r() < 0.2 else None
    valid = (max_redemptions is None or times_redeemed < max_redemptions) and (redeem_by is None or now is None or redeem_by > now)
    return {
        "amount_off": amount_off,
        "created": created,
        "currency": currency,
        "duration": duration,
        "duration_in_months": rng.choice((3, 6, 12)) if duration == "repeating" else None,
        "id": id,
        "livemode": False,
        "max_redemptions": max_redemptions,
        "metadata": _metadata(rng, (("campaign", ("bf2025", "launch", "partners")),)),
        "name": name,
        "object": "coupon",
        "percent_off": percent_off,
        "redeem_by": redeem_by,
        "times_redeemed": times_redeemed,
        "valid": valid,
    }


def build_coupon(rng: random.Random, *, id: str, created: int) -> dict:
    return _coupon(rng, id=id, created=created, now=None)


def _discount(rng: random.Random, *, customer: str, coupon: str, start: int, end: int | None) -> dict:
    return {
        "checkout_session": None,
        "customer": customer,
        "end": end,
        "id": new_id(rng, "discount"),
        "invoice": None,
        "invoice_item": None,
        "object": "discount",
        "promotion_code": None,
        "start": start,
        "subscription": None,
        "subscription_item": None,
        "source": {"coupon": coupon, "type": "coupon"},
        "customer_account": None,
    }


def _plan(price: dict) -> dict:
    # Subscription items still carry the legacy Plan view of their price, as the API does.
    recurring = price["recurring"] or {}
    return {
        "active": price["active"],
        "amount": price["unit_amount"],
        "amount_decimal": price["unit_amount_decimal"],
        "billing_scheme": price["billing_scheme"],
        "created": price["created"],
        "currency": price["currency"],
        "id": price["id"],
        "interval": recurring.get("interval", "month"),
        "interval_count": recurring.get("interval_count", 1),
        "livemode": False,
        "metadata": dict(price["metadata"]),
        "meter": recurring.get("meter"),
        "nickname": price["nickname"],
        "object": "plan",
        "product": price["product"],
        "tiers_mode": price["tiers_mode"],
        "transform_usage": None,
        "trial_period_days": recurring.get("trial_period_days"),
        "usage_type": recurring.get("usage_type", "licensed"),
    }


def _copy_price(price: dict) -> dict:
    # Embedded copies, so editing one subscription's item never edits another's.
    copy = dict(price)
    copy["metadata"] = dict(price["metadata"])
    if price["recurring"] is not None:
        copy["recurring"] = dict(price["recurring"])
    return copy


def _subscription(
    rng: random.Random,
    *,
    id: str,
    created: int,
    customer: str,
    prices: list[dict],
    status: str,
    now: int | None,
    latest_invoice: str | None = None,
) -> dict:
    if not prices:
        raise ValueError("a subscription needs at least one price")
    r = rng.random
    if now is None:
        # Built on its own, a subscription is seen as just created; a canceled one lived a while first.
        now = created + rng.randint(1, 90) * _DAY if status == "canceled" else created
    interval, count = _interval_of(prices[0])

    trial_days = None
    if status == "trialing":
        fitting = [d for d in (7, 14, 30) if created + d * _DAY > now]
        trial_days = rng.choice(fitting) if fitting else (now - created) // _DAY + rng.randint(1, 14)
    elif status in ("active", "past_due", "unpaid", "canceled") and r() < 0.2:
        fitting = [d for d in (7, 14) if created + d * _DAY + 3600 <= now]
        trial_days = rng.choice(fitting) if fitting else None
    trial_start = created if trial_days else None
    trial_end = created + trial_days * _DAY if trial_days else None
    anchor = trial_end or created

    canceled_at: int | None = None
    ended_at: int | None = None
    cancel_at: int | None = None
    cancel_at_period_end = False
    cancellation: dict[str, str | None] = {"comment": None, "feedback": None, "reason": None}
    if status == "canceled":
        lo = min(anchor + 3600, now)
        k_now = _period_index(anchor, interval, count, now)
        if k_now >= 1 and r() < 0.3:
            k = rng.randint(0, k_now - 1)
            ended_at = cancel_at = _period_start(anchor, interval, count, k + 1)
            canceled_at = rng.randint(max(lo, _period_start(anchor, interval, count, k)), ended_at)
            canceled_at = min(canceled_at, ended_at)
            cancel_at_period_end = True
        else:
            ended_at = canceled_at = rng.randint(lo, now)
        x = r()
        if x < 0.75:
            cancellation["reason"] = "cancellation_requested"
            if r() < 0.5:
                cancellation["feedback"] = rng.choice(_CANCEL_FEEDBACK)
            if r() < 0.1:
                cancellation["comment"] = rng.choice(_CANCEL_COMMENTS)
        else:
            cancellation["reason"] = "payment_failed" if x < 0.97 else "payment_disputed"
        ref = max(created, ended_at - 1)
    elif status == "incomplete":
        ref = created  # never paid, so never renewed
    else:
        ref = now

    if trial_end is not None and ref < trial_end:
        cps, cpe = created, trial_end  # the trial starts with the subscription
    else:
        k = _period_index(anchor, interval, count, ref)
        cps, cpe = _period_start(anchor, interval, count, k), _period_start(anchor, interval, count, k + 1)

    if status in ("active", "trialing") and r() < 0.05:
        cancel_at_period_end = True
        cancel_at = cpe
        canceled_at = rng.randint(cps, max(cps, min(now, cpe - 1)))

    collection_method = "charge_automatically" if r() < 0.88 else "send_invoice"
    pause_collection = None
    if status == "active" and r() < 0.03:
        pause_collection = {
            "behavior": rng.choice(("void", "keep_as_draft", "mark_uncollectible")),
            "resumes_at": cpe if r() < 0.5 else None,
        }
    auto_tax = r() < 0.15
    items = []
    for price in prices:
        items.append(
            {
                "created": created,
                "discounts": [],
                "id": new_id(rng, "subscription_item"),
                "metadata": {},
                "object": "subscription_item",
                "price": _copy_price(price),
                "quantity": 1 if r() < 0.8 else rng.choice((2, 3, 5, 8, 10, 25, 50)),
                "subscription": id,
                "tax_rates": [],
                "plan": _plan(price),
                "current_period_end": cpe,
                "current_period_start": cps,
                "billing_thresholds": None,
            }
        )
    return {
        "application": None,
        "application_fee_percent": None,
        "automatic_tax": {"enabled": auto_tax, "liability": {"type": "self"} if auto_tax else None, "disabled_reason": None},
        "billing_cycle_anchor": anchor,
        "billing_cycle_anchor_config": None,
        "cancel_at": cancel_at,
        "canceled_at": canceled_at,
        "cancellation_details": cancellation,
        "collection_method": collection_method,
        "created": created,
        "currency": prices[0]["currency"],
        "customer": customer,
        "days_until_due": rng.choice((14, 30, 30, 45)) if collection_method == "send_invoice" else None,
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": [],
        "description": None if r() < 0.9 else rng.choice(("Annual contract", "Pilot", "Migrated from legacy billing")),
        "discounts": [],
        "ended_at": ended_at,
        "id": id,
        "invoice_settings": {
            "account_tax_ids": None,
            "issuer": {"type": "self"},
            "custom_fields": None,
            "description": None,
            "footer": None,
        },
        "items": {
            "data": items,
            "has_more": False,
            "object": "list",
            "total_count": len(items),
            "url": f"/v1/subscription_items?subscription={id}",
        },
        "latest_invoice": latest_invoice,
        "livemode": False,
        "metadata": _metadata(rng, _BILLING_META),
        "next_pending_invoice_item_invoice": None,
        "object": "subscription",
        "on_behalf_of": None,
        "pause_collection": pause_collection,
        "payment_settings": {"payment_method_options": None, "payment_method_types": None, "save_default_payment_method": "off"},
        "pending_invoice_item_interval": None,
        "pending_setup_intent": None,
        "pending_update": None,
        "schedule": None,
        "start_date": created,
        "status": status,
        "test_clock": None,
        "transfer_data": None,
        "trial_end": trial_end,
        "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
        "trial_start": trial_start,
        "cancel_at_period_end": cancel_at_period_end,
        "billing_thresholds": None,
        "billing_mode": {"type": "classic", "flexible": None},
        "customer_account": None,
        "managed_payments": {"enabled": False},
        "billing_schedules": [],
    }


def build_subscription(rng: random.Random, *, id: str, created: int, customer: str, prices: list[dict], status: str) -> dict:
    return _subscription(rng, id=id, created=created, customer=customer, prices=prices, status=status, now=None)


def _line_description(name: str, price: dict, quantity: int, trial: bool) -> str:
    if trial:
        return f"Trial period for {name}"
    if price.get("recurring") is None:
        return name
    interval, count = _interval_of(price)
    every = f"/ {interval}" if count == 1 else f"every {count} {interval}s"
    return f"{quantity} \u00d7 {name} (at {_money(price['unit_amount'], price['currency'])} {every})"


def _invoice(
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
    r = rng.random
    currency = lines[0][0]["currency"] if lines else "usd"
    if payer is None:
        name, email, phone, address, _ = _person(rng, currency)
        tax_exempt = "none"
    else:
        name, email, phone, address, tax_exempt = payer
    line_items = []
    subtotal = 0
    for price, quantity, item_id in lines:
        amount = 0 if trial else price["unit_amount"] * quantity
        subtotal += amount
        start, end = line_period or (created, created)
        product_name = (product_names or {}).get(price["product"]) or price["nickname"] or "Subscription item"
        if item_id is not None:
            parent = {
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
        else:
            parent = {
                "invoice_item_details": {
                    "invoice_item": new_id(rng, "invoiceitem"),
                    "proration": False,
                    "proration_details": {"credited_items": None},
                    "subscription": subscription,
                },
                "subscription_item_details": None,
                "type": "invoice_item_details",
            }
        line_items.append(
            {
                "amount": amount,
                "currency": price["currency"],
                "description": _line_description(product_name, price, quantity, trial) if item_id else product_name,
                "discount_amounts": [],
                "discountable": not trial,
                "discounts": [],
                "id": new_id(rng, "line_item"),
                "invoice": id,
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
    total = subtotal
    amount_due = total

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
        t = base + rng.randint(60, max_days * _DAY)
        return t if now is None else max(base, min(t, now))

    charge_auto = collection_method == "charge_automatically"
    if attempt_count is None:
        if status == "paid":
            attempt_count = 1 if charge_auto and amount_due > 0 else 0
        elif status in ("open", "uncollectible", "void") and charge_auto and amount_due > 0:
            attempt_count = rng.randint(0 if status == "open" else 1, 4)
        else:
            attempt_count = 0
    amount_paid = 0
    next_payment_attempt = None
    auto_advance = False
    due_date = finalized_at + (days_until_due or 30) * _DAY if not charge_auto and finalized else None
    if status == "paid":
        amount_paid = amount_due
        if charge_auto or amount_due == 0:
            transitions["paid_at"] = finalized_at
        else:
            transitions["paid_at"] = later(finalized_at, days_until_due or 30)
    elif status == "open":
        auto_advance = attempt_count < 4
        if charge_auto and attempt_count < 4:
            next_payment_attempt = finalized_at + (1 + attempt_count * 2) * _DAY
    elif status == "void":
        transitions["voided_at"] = later(finalized_at, 20)
    elif status == "uncollectible":
        transitions["marked_uncollectible_at"] = later(finalized_at, 30)
    elif status == "draft":
        auto_advance = now is None or created + 3600 > now
        if charge_auto and auto_advance:
            next_payment_attempt = created + 3600
    attempted = attempt_count > 0 or (status == "paid")

    if finalized and number is None:
        number = f"{_rand_str(rng, 8, _UPPER_ALNUM)}-{rng.randint(1, 30):04d}"
    secret = _rand_str(rng, 40) if finalized else None
    invoice_parent: dict | None = None
    if subscription is not None:
        invoice_parent = {
            "quote_details": None,
            "subscription_details": {"metadata": {}, "subscription": subscription},
            "type": "subscription_details",
        }
    period_start, period_end = invoice_period or (created, created)
    return {
        "account_country": "US",
        "account_name": _ACCOUNT_NAME,
        "account_tax_ids": None,
        "amount_due": amount_due,
        "amount_paid": amount_paid,
        "amount_remaining": amount_due - amount_paid,
        "amount_shipping": 0,
        "application": None,
        "attempt_count": attempt_count,
        "attempted": attempted,
        "auto_advance": auto_advance,
        "automatic_tax": {"enabled": False, "liability": None, "status": None, "disabled_reason": None, "provider": None},
        "billing_reason": billing_reason,
        "collection_method": collection_method,
        "created": created,
        "currency": currency,
        "custom_fields": None,
        "customer": customer,
        "customer_address": dict(address) if address else None,
        "customer_email": email,
        "customer_name": name,
        "customer_phone": phone,
        "customer_shipping": None,
        "customer_tax_exempt": tax_exempt,
        "customer_tax_ids": [],
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": [],
        "description": None if r() < 0.9 else rng.choice(("Thanks for your business!", "Net 30", "Consulting services")),
        "discounts": [],
        "due_date": due_date,
        "effective_at": transitions["finalized_at"],
        "ending_balance": 0 if finalized else None,
        "footer": None,
        "from_invoice": None,
        "hosted_invoice_url": f"https://invoice.stripe.com/i/{_ACCOUNT}/test_{secret}?s=ap" if secret else None,
        "id": id,
        "invoice_pdf": f"https://pay.stripe.com/invoice/{_ACCOUNT}/test_{secret}/pdf?s=ap" if secret else None,
        "issuer": {"type": "self"},
        "last_finalization_error": None,
        "latest_revision": None,
        "lines": {
            "data": line_items,
            "has_more": False,
            "object": "list",
            "total_count": len(line_items),
            "url": f"/v1/invoices/{id}/lines",
        },
        "livemode": False,
        "metadata": _metadata(rng, _BILLING_META) if subscription is None else {},
        "next_payment_attempt": next_payment_attempt,
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
        "automatically_finalizes_at": created + 3600 if status == "draft" and auto_advance else None,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "amount_overpaid": 0,
        "parent": invoice_parent,
        "customer_account": None,
    }


def _invoice_status(rng: random.Random) -> str:
    x = rng.random()
    return "paid" if x < 0.7 else "open" if x < 0.84 else "draft" if x < 0.91 else "void" if x < 0.97 else "uncollectible"


def build_invoice(
    rng: random.Random, *, id: str, created: int, customer: str, subscription: str | None, lines_from_prices: list[dict]
) -> dict:
    status = _invoice_status(rng)
    lines = [
        (price, 1 if rng.random() < 0.85 else rng.randint(2, 5), new_id(rng, "subscription_item") if subscription else None)
        for price in lines_from_prices
    ]
    line_period = None
    if subscription and lines_from_prices:
        interval, count = _interval_of(lines_from_prices[0])
        line_period = (created, _period_start(created, interval, count, 1))
    return _invoice(
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


def _card(rng: random.Random, currency: str, amount: int) -> dict:
    x = rng.random()
    brand = "visa" if x < 0.55 else "mastercard" if x < 0.85 else "amex" if x < 0.95 else "discover"
    countries = _COUNTRIES.get(currency, ("US",))
    y = rng.random()
    return {
        "amount_authorized": amount,
        "brand": brand,
        "checks": {"address_line1_check": None, "address_postal_code_check": "pass" if rng.random() < 0.6 else None, "cvc_check": "pass"},
        "country": countries[0] if len(countries) == 1 else rng.choice(countries),
        "exp_month": rng.randint(1, 12),
        "exp_year": rng.randint(2026, 2032),
        "extended_authorization": {"status": "disabled"},
        "fingerprint": _rand_str(rng, 16),
        "funding": "credit" if y < 0.7 else "debit" if y < 0.98 else "prepaid",
        "incremental_authorization": {"status": "unavailable"},
        "installments": None,
        "last4": f"{rng.randint(0, 9999):04d}",
        "mandate": None,
        "multicapture": {"status": "unavailable"},
        "network": brand,
        "network_token": {"used": False},
        "overcapture": {"maximum_amount_capturable": amount, "status": "unavailable"},
        "three_d_secure": None,
        "wallet": None,
        "authorization_code": f"{rng.randint(0, 999999):06d}",
        "regulated_status": "unregulated" if rng.random() < 0.7 else "regulated",
        "network_transaction_id": f"{rng.randint(10**14, 10**15 - 1)}",
        "transaction_link_id": None,
    }


def _charge(
    rng: random.Random,
    *,
    id: str,
    created: int,
    customer: str | None,
    payment_intent: str | None,
    amount: int,
    currency: str,
    status: str,
    captured: bool = True,
    payment_method: str | None = None,
    failure: tuple[str, str, str] | None = None,
    description: str | None = None,
    payer: tuple | None = None,
) -> dict:
    r = rng.random
    if payer is None:
        name, email, phone, address, _ = _person(rng, currency)
    else:
        name, email, phone, address = payer[:4]
    succeeded = status == "succeeded"
    captured = succeeded and captured
    if status == "failed" and failure is None:
        failure = rng.choice(_DECLINES)
    refunded_amount = 0
    if captured and r() < 0.04:
        refunded_amount = amount if r() < 0.7 else max(1, amount // rng.choice((2, 4, 5)))
    code: str | None
    message: str | None
    if failure is not None:
        code, decline_code, message = failure
        outcome = {
            "advice_code": "try_again_later" if decline_code == "insufficient_funds" else None,
            "network_advice_code": None,
            "network_decline_code": None,
            "network_status": "declined_by_network",
            "reason": decline_code,
            "seller_message": "The bank did not return any further details with this decline.",
            "type": "issuer_declined",
        }
    else:
        code = message = None
        outcome = {
            "advice_code": None,
            "network_advice_code": None,
            "network_decline_code": None,
            "network_status": "approved_by_network",
            "reason": None,
            "seller_message": "Payment complete.",
            "type": "authorized",
        }
    card = _card(rng, currency, amount)
    if failure is not None:
        card["amount_authorized"] = card["authorization_code"] = None
        if code == "incorrect_cvc":
            card["checks"]["cvc_check"] = "fail"
    return {
        "amount": amount,
        "amount_captured": amount if captured else 0,
        "amount_refunded": refunded_amount,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": new_id(rng, "balance_transaction") if captured else None,
        "billing_details": {"address": dict(address) if address else None, "email": email, "name": name, "phone": phone, "tax_id": None},
        "calculated_statement_descriptor": "EXAMPLE SOFTWARE" if status != "failed" else None,
        "captured": captured,
        "created": created,
        "currency": currency,
        "customer": customer,
        "description": description,
        "disputed": captured and r() < 0.005,
        "failure_balance_transaction": None,
        "failure_code": code,
        "failure_message": message,
        "fraud_details": {},
        "id": id,
        "livemode": False,
        "metadata": _metadata(rng, _BILLING_META),
        "object": "charge",
        "on_behalf_of": None,
        "outcome": outcome,
        "paid": succeeded,
        "payment_intent": payment_intent,
        "payment_method": payment_method or new_id(rng, "payment_method"),
        "payment_method_details": {"card": card, "type": "card"},
        "receipt_email": email if email and r() < 0.5 else None,
        "receipt_number": None,
        "receipt_url": f"https://pay.stripe.com/receipts/payment/{_rand_str(rng, 48)}",
        "refunded": refunded_amount == amount and refunded_amount > 0,
        "refunds": {"data": [], "has_more": False, "object": "list", "total_count": 0, "url": f"/v1/charges/{id}/refunds"},
        "review": None,
        "shipping": None,
        "source_transfer": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": status,
        "transfer_data": None,
        "transfer_group": None,
        "source": None,
    }


def build_charge(
    rng: random.Random, *, id: str, created: int, customer: str | None, payment_intent: str | None, amount: int, currency: str
) -> dict:
    x = rng.random()
    status = "succeeded" if x < 0.9 else "failed" if x < 0.98 else "pending"
    return _charge(
        rng, id=id, created=created, customer=customer, payment_intent=payment_intent, amount=amount, currency=currency, status=status
    )


def _payment_intent(
    rng: random.Random,
    *,
    id: str,
    created: int,
    customer: str | None,
    amount: int,
    currency: str,
    status: str,
    latest_charge: str | None = None,
    payment_method: str | None = None,
    failure: tuple[str, str, str] | None = None,
    description: str | None = None,
    for_invoice: bool = False,
    receipt_email: str | None = None,
    now: int | None = None,
) -> dict:
    r = rng.random
    automatic = not for_invoice and r() < 0.7
    canceled_at = cancellation_reason = None
    if status == "canceled":
        canceled_at = created + rng.randint(60, 3 * _DAY)
        if now is not None:
            canceled_at = max(created, min(canceled_at, now))
        cancellation_reason = rng.choice(("abandoned", "requested_by_customer", "duplicate", "automatic"))
    last_payment_error = None
    if failure is not None:
        code, decline_code, message = failure
        last_payment_error = {
            "charge": latest_charge,
            "code": code,
            "decline_code": decline_code,
            "doc_url": f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}",
            "message": message,
            "type": "card_error",
        }
    manual = status == "requires_capture"
    return {
        "amount": amount,
        "amount_capturable": amount if manual else 0,
        "amount_details": {"tip": {}},
        "amount_received": amount if status == "succeeded" else 0,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": {"enabled": True} if automatic else None,
        "canceled_at": canceled_at,
        "cancellation_reason": cancellation_reason,
        "capture_method": "manual" if manual else "automatic_async" if automatic else "automatic",
        "client_secret": f"{id}_secret_{_rand_str(rng, 25)}",
        "confirmation_method": "automatic",
        "created": created,
        "currency": currency,
        "customer": customer,
        "description": description,
        "id": id,
        "last_payment_error": last_payment_error,
        "latest_charge": latest_charge,
        "livemode": False,
        "metadata": _metadata(rng, _BILLING_META) if not for_invoice else {},
        "next_action": {"type": "use_stripe_sdk", "use_stripe_sdk": {"type": "three_d_secure_redirect"}}
        if status == "requires_action"
        else None,
        "object": "payment_intent",
        "on_behalf_of": None,
        "payment_method": payment_method,
        "payment_method_configuration_details": {"id": _PM_CONFIGURATION, "parent": None} if automatic else None,
        "payment_method_options": {
            "card": {"installments": None, "mandate_options": None, "network": None, "request_three_d_secure": "automatic"}
        },
        "payment_method_types": ["card", "link"] if automatic and r() < 0.5 else ["card"],
        "processing": {"type": "card"} if status == "processing" else None,
        "receipt_email": receipt_email,
        "review": None,
        "setup_future_usage": "off_session" if for_invoice else None,
        "shipping": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": status,
        "transfer_data": None,
        "transfer_group": None,
        "source": None,
        "excluded_payment_method_types": None,
        "customer_account": None,
        "managed_payments": {"enabled": False},
    }


def build_payment_intent(
    rng: random.Random, *, id: str, created: int, customer: str | None, amount: int, currency: str, invoice: str | None
) -> dict:
    # Alone, a payment intent has no charge to point at, so it is in one of the states before any attempt.
    x = rng.random()
    status = "requires_payment_method" if x < 0.5 else "requires_confirmation" if x < 0.65 else "requires_action" if x < 0.8 else "canceled"
    # The API no longer links payment intents to invoices (that moved to invoice payments), only describes them.
    description = "Payment for Invoice" if invoice else None
    return _payment_intent(
        rng,
        id=id,
        created=created,
        customer=customer,
        amount=amount,
        currency=currency,
        status=status,
        description=description,
        for_invoice=invoice is not None,
    )


# -- the seed data set --------------------------------------------------------------------------

# Parents a child cannot exist without; optional references (a charge's customer) are not listed.
_REQUIRED_PARENTS = {
    "price": ("product",),
    "subscription": ("customer", "price"),
    "invoice": ("customer", "price"),
}


def _meta(seed: int, name: str, n: int, created_at: Callable[[float], int], start: int, forced: bool) -> Iterator[tuple[str, int, float]]:
    """(id, created, a uniform draw) per object, from a stream of its own so other phases can replay it.
    Object i is created at the timeline's quantile (i + u) / n: ascending, spread as the timeline says."""
    rng = random.Random(f"{seed}:{name}:meta")
    if forced:
        # A stand-in parent predates everything that needs it.
        yield new_id(rng, name), start + rng.randrange(_DAY), rng.random()
        return
    prev = None
    for i in range(n):
        oid = new_id(rng, name)
        t = created_at((i + rng.random()) / n)
        if prev is not None and rng.random() < _TIE_P:
            t = prev
        prev = t
        yield oid, t, rng.random()


def _keep_every(n: int, cap: int) -> int:
    return max(1, -(-n // cap))


class _ByTime:
    """Parents sorted by created, to pick one that already existed at a given time."""

    __slots__ = ("items", "times")

    def __init__(self, pairs: list[tuple[int, Any]]):
        pairs.sort(key=lambda p: p[0])
        self.times = [p[0] for p in pairs]
        self.items = [p[1] for p in pairs]

    def __bool__(self) -> bool:
        return bool(self.items)

    def pick(self, rng: random.Random, t: int) -> Any:
        k = bisect.bisect_right(self.times, t)
        return self.items[rng.randrange(k)] if k else self.items[0]


class _Ties:
    """Lets an object take the created second of a recent one of its type, where its own constraints allow.

    The grid in _meta makes ties for objects whose time is free; this does it for objects whose time
    follows a parent (a payment follows its invoice), where the stream is not in time order."""

    __slots__ = ("recent", "now")

    def __init__(self, now: int):
        self.recent: list[int] = []
        self.now = now

    def __call__(self, rng: random.Random, created: int, lo: int, p: float = _TIE_P) -> int:
        if self.recent and rng.random() < p:
            low, high = max(lo, created - 2 * _DAY), min(self.now, created + 2 * _DAY)
            near = [t for t in self.recent if low <= t <= high]
            if near:
                created = rng.choice(near)
        self.recent.append(created)
        if len(self.recent) > 64:
            del self.recent[:32]
        return created


def _status_for_age(rng: random.Random, age: int) -> str:
    x = rng.random()
    if age < _DAY:
        return "incomplete" if x < 0.3 else "trialing" if x < 0.6 else "active"
    if age < 30 * _DAY:
        return "trialing" if x < 0.35 else "active" if x < 0.85 else "past_due" if x < 0.92 else "canceled" if x < 0.97 else "incomplete"
    return "active" if x < 0.68 else "canceled" if x < 0.84 else "past_due" if x < 0.92 else "unpaid" if x < 0.97 else "incomplete"


def generate(counts: dict[str, int], *, seed: int = 42, now: int, timeline: str | Timeline = "even") -> Iterator[dict]:
    """Yield objects (plain dicts; obj["object"] tells the type) for the requested counts per object name
    (keys from SEED_ORDER; missing keys mean 0), in SEED_ORDER so parents come before children.
    Deterministic for (counts, seed, now, timeline); `created` spreads as the timeline says (by default
    evenly over the year before `now`, see timelines.py), with some same-second ties.
    A child whose required parent type has count 0 gets ONE extra parent of that type.
    Memory stays flat however many objects stream: only samples of parents are remembered."""
    unknown = set(counts) - set(SEED_ORDER)
    if unknown:
        raise ValueError(f"unknown object names: {sorted(unknown)}")
    n = {name: int(counts.get(name, 0) or 0) for name in SEED_ORDER}
    if any(v < 0 for v in n.values()):
        raise ValueError("counts must not be negative")
    forced: set[str] = set()
    for child in reversed(SEED_ORDER):  # children first, so a stand-in price brings its own product
        if n[child] > 0:
            for parent in _REQUIRED_PARENTS.get(child, ()):
                if n[parent] == 0:
                    n[parent] = 1
                    forced.add(parent)
    shape = timelines.timeline(timeline)
    created_at, start = shape.quantile(now), shape.earliest(now)

    def meta(name: str) -> Iterator[tuple[str, int, float]]:
        return _meta(seed, name, n[name], created_at, start, name in forced)

    # -- products: product i's default price is price i, whose id the price stream will produce
    rng = random.Random(f"{seed}:product")
    price_ids = meta("price")
    product_names: dict[str, str] = {}
    kept_products: list[tuple[int, tuple[str, int, str]]] = []
    every = _keep_every(n["product"], _KEEP_PRODUCTS)
    for i, (pid, created, u) in enumerate(meta("product")):
        kind = "service" if i == 0 else _product_kind(u)  # the first price must be able to be recurring
        default_price = next(price_ids)[0] if i < n["price"] else None
        obj = _product(rng, id=pid, created=created, kind=kind, default_price=default_price, now=now)
        if i % every == 0:
            product_names[pid] = obj["name"]
            kept_products.append((created, (pid, created, kind)))
        yield obj
    products = _ByTime(kept_products)

    # -- prices: the first ones are their products' defaults, created with them; later ones are extra prices
    rng = random.Random(f"{seed}:price")
    product_meta = meta("product")
    kept_prices: list[dict] = []
    every = _keep_every(n["price"], _KEEP_PRICES)
    for j, (price_id, t, u) in enumerate(meta("price")):
        if j < n["product"]:
            prod_id, created, pu = next(product_meta)
            kind = "service" if j == 0 else _product_kind(pu)
        else:
            prod_id, prod_created, kind = products.pick(rng, t)
            created = max(t, prod_created)
        if j == 0:
            # A subscription needs one recurring price in the commonest currency, whatever else is drawn.
            obj = _price(rng, id=price_id, created=created, product=prod_id, recurring=True, currency="usd", interval=("month", 1))
        else:
            obj = _price(rng, id=price_id, created=created, product=prod_id, recurring=kind == "service" or u < 0.05)
        if j % every == 0:
            kept_prices.append(obj)
        yield obj
    recurring_all = _ByTime([(p["created"], p) for p in kept_prices if p["recurring"]])
    recurring_groups: dict[tuple, list] = {}
    prices_by_currency: dict[str, list] = {}
    for p in kept_prices:
        prices_by_currency.setdefault(p["currency"], []).append((p["created"], p))
        if p["recurring"]:
            key = (p["currency"], p["recurring"]["interval"], p["recurring"]["interval_count"])
            recurring_groups.setdefault(key, []).append((p["created"], p))
    groups = {k: _ByTime(v) for k, v in recurring_groups.items()}
    by_currency = {k: _ByTime(v) for k, v in prices_by_currency.items()}
    all_prices = _ByTime([(p["created"], p) for p in kept_prices])
    del kept_prices, recurring_groups, prices_by_currency

    # -- coupons
    rng = random.Random(f"{seed}:coupon")
    kept_coupons = []
    every = _keep_every(n["coupon"], _KEEP_COUPONS)
    for i, (cid, created, _) in enumerate(meta("coupon")):
        obj = _coupon(rng, id=cid, created=created, now=now)
        if i % every == 0 and obj["valid"] and obj["duration"] != "once":
            kept_coupons.append((created, (cid, created, obj["duration_in_months"])))
        yield obj
    coupons = _ByTime(kept_coupons)

    # -- customers; a record is [created, id, currency, (name, email, phone, address, tax_exempt), prefix, next invoice number]
    rng = random.Random(f"{seed}:customer")
    kept_customers: list[tuple[int, list]] = []
    every = _keep_every(n["customer"], _KEEP_CUSTOMERS)
    for i, (cid, created, u) in enumerate(meta("customer")):
        obj = _customer(rng, id=cid, created=created, currency="usd" if i == 0 else None)
        if coupons and u < 0.04:
            coupon_id, coupon_created, months = coupons.pick(rng, created)
            begin = max(created, coupon_created)
            begin = rng.randint(begin, max(begin, now - 3600))
            end = _add_months(begin, months) if months else None
            if end is None or end > now:
                obj["discount"] = _discount(rng, customer=cid, coupon=coupon_id, start=begin, end=end)
        if i % every == 0:
            payer = (obj["name"], obj["email"], obj["phone"], obj["address"], obj["tax_exempt"])
            kept_customers.append((created, [created, cid, obj["currency"], payer, obj["invoice_prefix"], 1]))
        yield obj
    customers = _ByTime(list(kept_customers))
    customers_by_currency: dict[str, list] = {}
    for created, kept in kept_customers:
        customers_by_currency.setdefault(kept[2], []).append((created, kept))
    customer_groups = {k: _ByTime(v) for k, v in customers_by_currency.items()}
    del kept_customers, customers_by_currency

    def invoice_number(customer_rec: list) -> str:
        customer_rec[5] += 1
        return f"{customer_rec[4]}-{customer_rec[5] - 1:04d}"

    # -- subscriptions: subscription j's latest invoice is invoice j, whose id the invoice stream will produce
    rng = random.Random(f"{seed}:subscription")
    invoice_ids = meta("invoice")
    n_linked = min(n["subscription"], n["invoice"], _LINK_CAP)
    sub_records: list[dict] = []
    for j, (sid, t, _) in enumerate(meta("subscription")):
        first = recurring_all.pick(rng, t) if recurring_all else all_prices.pick(rng, t)
        interval = _interval_of(first)
        chosen = [first]
        group = groups.get((first["currency"], *interval))
        if group is not None and rng.random() >= 0.8:
            for _ in range(rng.choice((1, 1, 2))):
                candidate = group.pick(rng, t)
                if all(candidate["product"] != c["product"] for c in chosen):
                    chosen.append(candidate)
        group_c = customer_groups.get(first["currency"]) or customers
        crec = group_c.pick(rng, t)
        created = max([t, crec[0]] + [c["created"] for c in chosen])
        status = _status_for_age(rng, now - created)
        latest = next(invoice_ids)[0] if j < n_linked else None
        obj = _subscription(rng, id=sid, created=created, customer=crec[1], prices=chosen, status=status, now=now, latest_invoice=latest)
        if j < _LINK_CAP:
            item0 = obj["items"]["data"][0]
            iv, ic = interval
            sub_trial = (obj["trial_start"], obj["trial_end"]) if obj["trial_start"] is not None else None
            anchor = obj["billing_cycle_anchor"]
            cps = item0["current_period_start"]
            in_trial = sub_trial is not None and cps == sub_trial[0]
            k_cur = 0 if in_trial else _period_index(anchor, iv, ic, cps)
            n_prev = 0 if in_trial else k_cur + (1 if sub_trial else 0)
            sub_records.append(
                {
                    "id": sid,
                    "customer": crec,
                    "status": status,
                    "created": created,
                    "collection_method": obj["collection_method"],
                    "days_until_due": obj["days_until_due"],
                    "items": [(it["price"], it["quantity"], it["id"]) for it in obj["items"]["data"]],
                    "cps": cps,
                    "cpe": item0["current_period_end"],
                    "anchor": anchor,
                    "interval": interval,
                    "trial": sub_trial,
                    "in_trial": in_trial,
                    "n_prev": n_prev,
                    "k_cur": k_cur,
                    "reason": obj["cancellation_details"]["reason"],
                }
            )
        yield obj
    del invoice_ids

    def sub_period(rec: dict, p: int) -> tuple[int, int, int | None, bool]:
        """Period p of a subscription, counting the trial as period 0: (start, end, previous start, is trial)."""
        iv, ic = rec["interval"]
        if rec["trial"] is not None:
            if p == 0:
                return rec["trial"][0], rec["trial"][1], None, True
            p -= 1
            prev = rec["trial"][0] if p == 0 else _period_start(rec["anchor"], iv, ic, p - 1)
        else:
            prev = None if p == 0 else _period_start(rec["anchor"], iv, ic, p - 1)
        return _period_start(rec["anchor"], iv, ic, p), _period_start(rec["anchor"], iv, ic, p + 1), prev, False

    # -- invoices: first the subscriptions' latest ones, then earlier renewals and one-off invoices
    rng = random.Random(f"{seed}:invoice")
    invoice_records: list[tuple] = []
    invoice_ties = _Ties(now)
    n_pairs = min(n["payment_intent"], n["charge"], _LINK_CAP)
    for j, (iid, t, u) in enumerate(meta("invoice")):
        rec: dict | None = None
        if j < n_linked and j < len(sub_records):
            rec = sub_records[j]
            if rec["in_trial"]:
                ps, pe, prev, trial = rec["trial"][0], rec["trial"][1], None, True
            else:
                ps, pe, prev, trial = rec["cps"], rec["cpe"], None, False
                if rec["n_prev"] > 0:
                    ps, pe, prev, trial = sub_period(rec, rec["n_prev"])
            status, attempts = {
                "active": ("paid", None),
                "trialing": ("paid", None),
                "past_due": ("open", rng.randint(1, 3)),
                "unpaid": ("open", 4),
                "incomplete": ("open", 1 if rng.random() < 0.7 else 0),
            }.get(rec["status"], ("paid", None))
            if rec["status"] == "canceled" and rec["reason"] != "cancellation_requested":
                status, attempts = rng.choice(("void", "uncollectible")), 4
            if rec["collection_method"] == "send_invoice":
                attempts = 0 if status != "paid" else None
                if rec["status"] == "active" and rng.random() < 0.3 and not trial:
                    status = "open"
            first_period = rec["n_prev"] == 0
        elif sub_records and u < 0.5:
            rec = rng.choice(sub_records)
            if rec["n_prev"] > 0:
                # Walk back through the subscription's earlier periods, one renewal invoice each.
                rec["n_prev"] -= 1
                ps, pe, prev, trial = sub_period(rec, rec["n_prev"])
                status, attempts = "paid", None
                first_period = rec["n_prev"] == 0
            else:
                rec = None
        if rec is not None:
            created = ps
            reason = "subscription_create" if first_period else "subscription_cycle"
            crec = rec["customer"]
            invoice_ties.recent.append(created)
            obj = _invoice(
                rng,
                id=iid,
                created=created,
                customer=crec[1],
                subscription=rec["id"],
                lines=rec["items"],
                status=status,
                billing_reason=reason,
                collection_method=rec["collection_method"],
                days_until_due=rec["days_until_due"],
                line_period=(ps, pe),
                invoice_period=(created, created) if first_period or prev is None else (prev, created),
                attempt_count=attempts,
                trial=trial,
                payer=crec[3],
                number=invoice_number(crec),
                product_names=product_names,
                now=now,
            )
        else:
            crec = customers.pick(rng, t)
            pool = by_currency.get(crec[2]) or all_prices
            lines: list[tuple[dict, int, str | None]] = []
            for _ in range(1 if rng.random() < 0.7 else rng.randint(2, 3)):
                price = pool.pick(rng, t)
                if all(price["id"] != line[0]["id"] for line in lines):
                    lines.append((price, 1 if rng.random() < 0.8 else rng.randint(2, 5), None))
            lo = max([crec[0]] + [line[0]["created"] for line in lines])
            created = invoice_ties(rng, max(t, lo), lo, p=2 * _TIE_P)
            status = _invoice_status(rng)
            obj = _invoice(
                rng,
                id=iid,
                created=created,
                customer=crec[1],
                subscription=None,
                lines=lines,
                status=status,
                billing_reason="manual",
                collection_method="charge_automatically" if rng.random() < 0.4 else "send_invoice",
                days_until_due=rng.choice((14, 30, 30, 45)),
                payer=crec[3],
                number=invoice_number(crec) if status != "draft" else None,
                product_names=product_names,
                now=now,
            )
        if j < n_pairs:
            pay = None
            if obj["collection_method"] == "charge_automatically" and obj["amount_due"] > 0:
                if obj["status"] == "paid":
                    pay = "succeeded"
                elif obj["status"] != "draft" and obj["attempt_count"] > 0:
                    pay = "failed"
            paid_for = {"subscription_create": "Subscription creation", "subscription_cycle": "Subscription update"}.get(
                obj["billing_reason"], "Payment for Invoice"
            )
            invoice_records.append((pay, crec, obj["amount_due"], obj["currency"], obj["effective_at"], paid_for))
        yield obj

    # -- payment intents: intent j's latest charge is charge j, whose id the charge stream will produce
    rng = random.Random(f"{seed}:payment_intent")
    charge_ids = meta("charge")
    pi_records: list[tuple] = []
    pi_ties = _Ties(now)
    for j, (pid, t, _u) in enumerate(meta("payment_intent")):
        paired = j < n_pairs
        inv = invoice_records[j] if j < len(invoice_records) and invoice_records[j][0] else None
        for_invoice = inv is not None and paired
        description: str | None
        if inv is not None and paired:
            pay, crec, amount, currency, created, description = inv
            created = pi_ties(rng, created, created)
            status = "succeeded" if pay == "succeeded" else "requires_payment_method"
        else:
            crec = customers.pick(rng, t) if customers and rng.random() < 0.8 else None
            currency = crec[2] if crec else _currency(rng)
            amount = rng.choice((500, 999, 1500, 2000, 2500, 4900, 7500, 9900, 12000, 19900, 49900)) + (rng.choice((0, 0, 50, 99)))
            created = pi_ties(rng, max(t, crec[0]) if crec else t, crec[0] if crec else start)
            description = (
                None if rng.random() < 0.6 else rng.choice((f"Order #{rng.randint(1000, 99999)}", "Top-up", "Donation", "Consulting hours"))
            )
            x = rng.random()
            if paired:
                status = (
                    "succeeded" if x < 0.88 else "requires_payment_method" if x < 0.95 else "requires_capture" if x < 0.98 else "processing"
                )
            else:
                status = (
                    "requires_payment_method"
                    if x < 0.4
                    else "canceled"
                    if x < 0.75
                    else "requires_action"
                    if x < 0.9
                    else "requires_confirmation"
                )
        charge_id = next(charge_ids)[0] if paired else None
        failure = rng.choice(_DECLINES) if paired and status == "requires_payment_method" else None
        # A declined card is detached from the intent; the charge keeps it.
        pm = new_id(rng, "payment_method") if paired else None
        intent_payer = crec[3] if crec else None
        obj = _payment_intent(
            rng,
            id=pid,
            created=created,
            customer=crec[1] if crec else None,
            amount=amount,
            currency=currency,
            status=status,
            latest_charge=charge_id,
            payment_method=None if failure else pm,
            failure=failure,
            description=description,
            for_invoice=for_invoice,
            receipt_email=intent_payer[1] if intent_payer and rng.random() < 0.3 else None,
            now=now,
        )
        if paired:
            pi_records.append((pid, created, crec, amount, currency, status, pm, failure, description))
        yield obj
    del charge_ids, invoice_records

    # -- charges: first the payment intents' attempts, then standalone (legacy API) charges
    rng = random.Random(f"{seed}:charge")
    charge_ties = _Ties(now)
    for j, (cid, t, u) in enumerate(meta("charge")):
        if j < len(pi_records):
            pid, pi_created, crec, amount, currency, pi_status, pm, failure, description = pi_records[j]
            created = pi_created if rng.random() < 0.8 else min(pi_created + rng.randint(1, 5), now)
            created = charge_ties(rng, created, pi_created, p=0.0)  # pairs already tie as their intents do
            status = {"succeeded": "succeeded", "requires_capture": "succeeded", "processing": "pending"}.get(pi_status, "failed")
            obj = _charge(
                rng,
                id=cid,
                created=created,
                customer=crec[1] if crec else None,
                payment_intent=pid,
                amount=amount,
                currency=currency,
                status=status,
                captured=pi_status != "requires_capture",
                payment_method=pm,
                failure=failure,
                description=description,
                payer=crec[3] if crec else None,
            )
        else:
            crec = customers.pick(rng, t) if customers and u < 0.7 else None
            currency = crec[2] if crec else _currency(rng)
            amount = rng.choice((500, 1000, 1500, 2000, 2500, 5000, 9900, 15000))
            status = "succeeded" if rng.random() < 0.92 else "failed"
            created = charge_ties(rng, max(t, crec[0]) if crec else t, crec[0] if crec else start)
            obj = _charge(
                rng,
                id=cid,
                created=created,
                customer=crec[1] if crec else None,
                payment_intent=None,
                amount=amount,
                currency=currency,
                status=status,
                description=None if rng.random() < 0.5 else "Charge for " + f"order #{rng.randint(1000, 99999)}",
                payer=crec[3] if crec else None,
            )
        yield obj
