"""One recurring price, as MRR: its amount per interval for a quantity, and the factor that
turns an interval into a month (Stripe's Billing analytics: a day is 1/30 of a month, a week
12/52, a year 12 months).
"""

from __future__ import annotations

import math
from typing import Any

_MONTHS_PER_INTERVAL = {"day": 30.0, "week": 52.0 / 12.0, "month": 1.0, "year": 1.0 / 12.0}


def monthly_factor(interval: str, interval_count: int | None = 1) -> float:
    """What one interval's amount is worth per month: `year` → 1/12, `week` → 52/12, …"""
    try:
        per_interval = _MONTHS_PER_INTERVAL[interval]
    except KeyError:
        raise ValueError(f"unknown recurring interval {interval!r}; Stripe's are {sorted(_MONTHS_PER_INTERVAL)}") from None
    return per_interval / max(int(interval_count or 1), 1)


def interval_amount(price: dict[str, Any], quantity: int) -> float | None:
    """What the price charges per interval for `quantity`, before discounts and tax; None when
    the price does not say (tiers not expanded, a custom amount)."""
    if price.get("billing_scheme") == "tiered":
        return _tiered(price.get("tiers"), price.get("tiers_mode"), quantity)
    unit = price.get("unit_amount_decimal") or price.get("unit_amount")
    if unit is None:
        return None
    transform = price.get("transform_quantity")
    if transform and transform.get("divide_by"):
        divided = quantity / transform["divide_by"]
        quantity = math.ceil(divided) if transform.get("round") == "up" else math.floor(divided)
    return float(unit) * quantity


def _tiered(tiers: list[dict] | None, mode: str | None, quantity: int) -> float | None:
    if not tiers:
        return None
    if mode == "volume":  # every unit at the rate of the tier the whole quantity falls in
        tier = next((t for t in tiers if t.get("up_to") is None or quantity <= t["up_to"]), tiers[-1])
        return _unit(tier) * quantity + (tier.get("flat_amount") or 0)
    total, below = 0.0, 0  # graduated: each tier prices the units that fall in it
    for tier in tiers:
        top = tier.get("up_to")
        units = (quantity if top is None else min(quantity, top)) - below
        if units <= 0:
            break
        total += _unit(tier) * units + (tier.get("flat_amount") or 0)
        below = quantity if top is None else top
    return total


def _unit(tier: dict) -> float:
    return float(tier.get("unit_amount_decimal") or tier.get("unit_amount") or 0)
