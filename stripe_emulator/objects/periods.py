"""Calendar arithmetic for billing periods, as Stripe counts them from a billing cycle anchor."""

from __future__ import annotations

import calendar
import datetime

from .helpers import DAY

_UNIX_EPOCH_ORDINAL = datetime.date(1970, 1, 1).toordinal()


def add_months(ts: int, months: int) -> int:
    # Stripe keeps the anchor's day of month and clamps it to short months (Jan 31 -> Feb 28).
    days, secs = divmod(ts, DAY)
    d = datetime.date.fromordinal(days + _UNIX_EPOCH_ORDINAL)
    m0 = d.month - 1 + months
    year, month = d.year + m0 // 12, m0 % 12 + 1
    day = min(d.day, calendar.monthrange(year, month)[1])
    return (datetime.date(year, month, day).toordinal() - _UNIX_EPOCH_ORDINAL) * DAY + secs


def period_start(anchor: int, interval: str, count: int, k: int) -> int:
    """Start of the k-th billing period counted from the anchor."""
    if interval == "day":
        return anchor + k * count * DAY
    if interval == "week":
        return anchor + k * count * 7 * DAY
    return add_months(anchor, k * count * (12 if interval == "year" else 1))


def period_index(anchor: int, interval: str, count: int, t: int) -> int:
    """k such that period k (from the anchor) contains t; 0 for t before the anchor."""
    if t <= anchor:
        return 0
    if interval in ("day", "week"):
        return (t - anchor) // ((DAY if interval == "day" else 7 * DAY) * count)
    months = count * (12 if interval == "year" else 1)
    k = int((t - anchor) / (months * 30.436875 * DAY))
    while period_start(anchor, interval, count, k + 1) <= t:
        k += 1
    while k > 0 and period_start(anchor, interval, count, k) > t:
        k -= 1
    return k


def interval_of(price: dict) -> tuple[str, int]:
    recurring = price.get("recurring") or {}
    return recurring.get("interval") or "month", recurring.get("interval_count") or 1
