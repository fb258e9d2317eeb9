"""The catalogue an account sells from (products and their prices) and its coupons, with the
discounts that apply a coupon to a customer."""

from __future__ import annotations

import random
import string

from .helpers import DAY, metadata, money, new_id, random_currency, random_string
from .vocabulary import CATALOG_META, COLORS, FEATURES, GOODS, MONTHLY_AMOUNTS, ONE_TIME_AMOUNTS, SERVICE_LINES, TIERS


def product_kind(r: float) -> str:
    return "service" if r < 0.75 else "good"


def product_object(rng: random.Random, *, id: str, created: int, kind: str, default_price: str | None, now: int | None) -> dict:
    r = rng.random
    if kind == "service":
        line, blurb = rng.choice(SERVICE_LINES)
        tier = rng.choice(TIERS)
        name = f"{tier} Plan" if line == "Plan" else f"{line} {tier}"
        description = blurb.format(t=tier.lower()) if r() < 0.8 else None
        features = [{"name": f} for f in rng.sample(FEATURES, rng.randint(2, 4))] if r() < 0.4 else []
        dimensions, shippable = None, None
        unit_label = "seat" if r() < 0.2 else None
        tax_code = "txcd_10103001" if r() < 0.5 else None  # SaaS, business use
    else:
        item, color = rng.choice(GOODS), rng.choice(COLORS)
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
        "metadata": metadata(rng, CATALOG_META),
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
    return product_object(rng, id=id, created=created, kind=product_kind(rng.random()), default_price=None, now=None)


def price_object(
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
    currency = currency or random_currency(rng)
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
        monthly = rng.choice(MONTHLY_AMOUNTS)
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
        lookup_key = None if r() < 0.8 else f"{(nickname or interval[0]).lower()}_{random_string(rng, 6, string.ascii_lowercase)}"
    else:
        unit_amount = rng.choice(ONE_TIME_AMOUNTS)
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
        "metadata": metadata(rng, CATALOG_META),
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
    return price_object(rng, id=id, created=created, product=product, recurring=rng.random() < 0.8)


def coupon_object(rng: random.Random, *, id: str, created: int, now: int | None) -> dict:
    r = rng.random
    currency = None
    if r() < 0.65:
        percent_off: float | None = float(rng.choice((5, 10, 15, 20, 25, 30, 40, 50, 100, 12.5, 25.5)))
        amount_off = None
        name = f"{percent_off:g}% off"
    else:
        percent_off = None
        amount_off = rng.choice((500, 1000, 2000, 2500, 5000))
        currency = random_currency(rng)
        name = f"{money(amount_off, currency).removesuffix('.00')} off"
    x = r()
    duration = "once" if x < 0.35 else "repeating" if x < 0.7 else "forever"
    if r() < 0.25:
        name = rng.choice(("Black Friday", "Launch promo", "Partner discount", "Nonprofit", "Win-back", "Annual upgrade")) + f" ({name})"
    max_redemptions = None if r() < 0.7 else rng.choice((10, 50, 100, 500))
    times_redeemed = rng.randint(0, max_redemptions) if max_redemptions else rng.choice((0, 0, 1, 3, 12, 48, 230))
    redeem_by = created + rng.randint(30, 180) * DAY if r() < 0.2 else None
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
        "metadata": metadata(rng, (("campaign", ("bf2025", "launch", "partners")),)),
        "name": name,
        "object": "coupon",
        "percent_off": percent_off,
        "redeem_by": redeem_by,
        "times_redeemed": times_redeemed,
        "valid": valid,
    }


def build_coupon(rng: random.Random, *, id: str, created: int) -> dict:
    return coupon_object(rng, id=id, created=created, now=None)


def discount_object(rng: random.Random, *, customer: str, coupon: str, start: int, end: int | None) -> dict:
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
