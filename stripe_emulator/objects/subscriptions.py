"""Subscriptions: trials, cancellations, the current period and the items with their prices,
as Stripe shows them for a subscription's status and age."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from .helpers import DAY, list_object, metadata, new_id
from .periods import interval_of, period_index, period_start
from .vocabulary import BILLING_META, CANCEL_COMMENTS, CANCEL_FEEDBACK


def plan_view(price: dict) -> dict:
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


def price_copy(price: dict) -> dict:
    # Embedded copies, so editing one subscription's item never edits another's.
    copy = dict(price)
    copy["metadata"] = dict(price["metadata"])
    if price["recurring"] is not None:
        copy["recurring"] = dict(price["recurring"])
    return copy


@dataclass
class _Ending:
    """How a subscription ended or is set to end, and the time its current period is counted at."""

    reference: int
    canceled_at: int | None = None
    ended_at: int | None = None
    cancel_at: int | None = None
    cancel_at_period_end: bool = False
    details: dict[str, str | None] = field(default_factory=lambda: {"comment": None, "feedback": None, "reason": None})


def _trial(rng: random.Random, status: str, created: int, now: int) -> tuple[int | None, int | None]:
    """(trial start, trial end): every trialing subscription, and a fifth of the others, had one."""
    trial_days = None
    if status == "trialing":
        fitting = [d for d in (7, 14, 30) if created + d * DAY > now]
        trial_days = rng.choice(fitting) if fitting else (now - created) // DAY + rng.randint(1, 14)
    elif status in ("active", "past_due", "unpaid", "canceled") and rng.random() < 0.2:
        fitting = [d for d in (7, 14) if created + d * DAY + 3600 <= now]
        trial_days = rng.choice(fitting) if fitting else None
    trial_start = created if trial_days else None
    trial_end = created + trial_days * DAY if trial_days else None
    return trial_start, trial_end


def _ending(rng: random.Random, status: str, created: int, anchor: int, interval: str, count: int, now: int) -> _Ending:
    if status == "incomplete":
        return _Ending(reference=created)  # never paid, so never renewed
    if status != "canceled":
        return _Ending(reference=now)
    ending = _Ending(reference=now)
    lo = min(anchor + 3600, now)
    k_now = period_index(anchor, interval, count, now)
    if k_now >= 1 and rng.random() < 0.3:
        k = rng.randint(0, k_now - 1)
        ending.ended_at = ending.cancel_at = period_start(anchor, interval, count, k + 1)
        canceled_at = rng.randint(max(lo, period_start(anchor, interval, count, k)), ending.ended_at)
        ending.canceled_at = min(canceled_at, ending.ended_at)
        ending.cancel_at_period_end = True
    else:
        ending.ended_at = ending.canceled_at = rng.randint(lo, now)
    x = rng.random()
    if x < 0.75:
        ending.details["reason"] = "cancellation_requested"
        if rng.random() < 0.5:
            ending.details["feedback"] = rng.choice(CANCEL_FEEDBACK)
        if rng.random() < 0.1:
            ending.details["comment"] = rng.choice(CANCEL_COMMENTS)
    else:
        ending.details["reason"] = "payment_failed" if x < 0.97 else "payment_disputed"
    ending.reference = max(created, ending.ended_at - 1)
    return ending


def _current_period(created: int, trial_end: int | None, anchor: int, interval: str, count: int, at: int) -> tuple[int, int]:
    if trial_end is not None and at < trial_end:
        return created, trial_end  # the trial starts with the subscription
    k = period_index(anchor, interval, count, at)
    return period_start(anchor, interval, count, k), period_start(anchor, interval, count, k + 1)


def _schedule_cancel_at_period_end(rng: random.Random, ending: _Ending, status: str, period: tuple[int, int], now: int) -> None:
    # A few live subscriptions are set to cancel when their current period ends.
    cps, cpe = period
    if status in ("active", "trialing") and rng.random() < 0.05:
        ending.cancel_at_period_end = True
        ending.cancel_at = cpe
        ending.canceled_at = rng.randint(cps, max(cps, min(now, cpe - 1)))


def _collection(rng: random.Random, status: str, period_end: int) -> tuple[str, dict | None, bool]:
    """(collection method, pause_collection, automatic tax enabled)."""
    collection_method = "charge_automatically" if rng.random() < 0.88 else "send_invoice"
    pause_collection = None
    if status == "active" and rng.random() < 0.03:
        pause_collection = {
            "behavior": rng.choice(("void", "keep_as_draft", "mark_uncollectible")),
            "resumes_at": period_end if rng.random() < 0.5 else None,
        }
    return collection_method, pause_collection, rng.random() < 0.15


def _items(rng: random.Random, subscription: str, created: int, prices: list[dict], period: tuple[int, int]) -> list[dict]:
    cps, cpe = period
    items = []
    for price in prices:
        items.append(
            {
                "created": created,
                "discounts": [],
                "id": new_id(rng, "subscription_item"),
                "metadata": {},
                "object": "subscription_item",
                "price": price_copy(price),
                "quantity": 1 if rng.random() < 0.8 else rng.choice((2, 3, 5, 8, 10, 25, 50)),
                "subscription": subscription,
                "tax_rates": [],
                "plan": plan_view(price),
                "current_period_end": cpe,
                "current_period_start": cps,
                "billing_thresholds": None,
            }
        )
    return items


def subscription_object(
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
    if now is None:
        # Built on its own, a subscription is seen as just created; a canceled one lived a while first.
        now = created + rng.randint(1, 90) * DAY if status == "canceled" else created
    interval, count = interval_of(prices[0])
    trial_start, trial_end = _trial(rng, status, created, now)
    anchor = trial_end or created
    ending = _ending(rng, status, created, anchor, interval, count, now)
    period = _current_period(created, trial_end, anchor, interval, count, ending.reference)
    _schedule_cancel_at_period_end(rng, ending, status, period, now)
    collection_method, pause_collection, auto_tax = _collection(rng, status, period[1])
    items = _items(rng, id, created, prices, period)
    return {
        "application": None,
        "application_fee_percent": None,
        "automatic_tax": {"enabled": auto_tax, "liability": {"type": "self"} if auto_tax else None, "disabled_reason": None},
        "billing_cycle_anchor": anchor,
        "billing_cycle_anchor_config": None,
        "cancel_at": ending.cancel_at,
        "canceled_at": ending.canceled_at,
        "cancellation_details": ending.details,
        "collection_method": collection_method,
        "created": created,
        "currency": prices[0]["currency"],
        "customer": customer,
        "days_until_due": rng.choice((14, 30, 30, 45)) if collection_method == "send_invoice" else None,
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": [],
        "description": None if rng.random() < 0.9 else rng.choice(("Annual contract", "Pilot", "Migrated from legacy billing")),
        "discounts": [],
        "ended_at": ending.ended_at,
        "id": id,
        "invoice_settings": {
            "account_tax_ids": None,
            "issuer": {"type": "self"},
            "custom_fields": None,
            "description": None,
            "footer": None,
        },
        "items": list_object(items, f"/v1/subscription_items?subscription={id}"),
        "latest_invoice": latest_invoice,
        "livemode": False,
        "metadata": metadata(rng, BILLING_META),
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
        "cancel_at_period_end": ending.cancel_at_period_end,
        "billing_thresholds": None,
        "billing_mode": {"type": "classic", "flexible": None},
        "customer_account": None,
        "managed_payments": {"enabled": False},
        "billing_schedules": [],
    }


def build_subscription(rng: random.Random, *, id: str, created: int, customer: str, prices: list[dict], status: str) -> dict:
    return subscription_object(rng, id=id, created=created, customer=customer, prices=prices, status=status, now=None)
