"""Subscription histories told as stories, for tests and demos of the revenue metrics:

>>> story = Scenario(emulator.store)
>>> basic, pro = story.price(1000, "eur"), story.price(3000, "eur")
>>> story.subscribe(story.customer(), basic, on="2025-01-01").change("2025-03-15", price=pro).cancel("2025-06-10", at_period_end=True)
>>> story.build()

`build()` walks each subscription's billing periods up to the emulator's clock and files what
Stripe would hold: the subscription in its final state, and one invoice per period with its
lines. A change mid-period leaves two proration lines on the next invoice (a credit for the
unused time on the old price, a charge for the rest of the period on the new one), as
Stripe's default `create_prorations` does; coupons discount the invoices their duration
covers; a pause voids the invoices it spans (`pause_collection.behavior: void`); failed
payments leave invoices open and the subscription `past_due`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from .objects.catalogue import build_coupon, price_object
from .objects.customers import build_customer
from .objects.helpers import new_id
from .objects.invoices import invoice_object
from .objects.periods import add_months, interval_of, period_index, period_start
from .objects.subscriptions import plan_view, price_copy, subscription_object

if TYPE_CHECKING:
    from .store import Store

DAY = 86_400


def timestamp(when: str | date | datetime | int) -> int:
    """Epoch seconds of a day's start (UTC), a moment, or epoch seconds already."""
    if isinstance(when, int):
        return when
    if isinstance(when, str):
        when = datetime.fromisoformat(when)
    if not isinstance(when, datetime):
        when = datetime(when.year, when.month, when.day)
    return int((when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp())


@dataclass
class _Change:
    at: int
    price: dict | None
    quantity: int | None


@dataclass
class Subscription:
    """One subscription's story; each method returns it, so a story reads as one line."""

    scenario: Scenario
    id: str
    item_id: str
    customer: str
    price: dict
    start: int
    quantity: int = 1
    trial_days: int = 0
    coupon: dict | None = None
    changes: list[_Change] = field(default_factory=list)
    cancel_requested: int | None = None
    cancel_at_period_end: bool = False
    trial_lapses: bool = False
    never_paid: bool = False
    pauses: list[tuple[int, int | None]] = field(default_factory=list)
    failing_from: int | None = None

    def change(self, on: Any, *, price: dict | None = None, quantity: int | None = None) -> Subscription:
        """Switch the item's price or quantity at `on`, prorated."""
        self.changes.append(_Change(timestamp(on), price, quantity))
        self.changes.sort(key=lambda change: change.at)
        return self

    def cancel(self, on: Any, *, at_period_end: bool = False) -> Subscription:
        """Cancel at `on`, or (at_period_end) at the end of the period `on` falls in."""
        self.cancel_requested, self.cancel_at_period_end = timestamp(on), at_period_end
        return self

    def pause(self, on: Any, until: Any = None) -> Subscription:
        """Pause collection from `on` to `until` (or for good): the invoices between are void."""
        self.pauses.append((timestamp(on), timestamp(until) if until is not None else None))
        return self

    def fail_payments(self, on: Any) -> Subscription:
        """Every invoice from `on` stays open, unpaid: the subscription is past_due."""
        self.failing_from = timestamp(on)
        return self

    def lapse_trial(self) -> Subscription:
        """The trial ends without a payment method: canceled when it ends, never paid."""
        self.trial_lapses = True
        return self

    def leave_incomplete(self) -> Subscription:
        """The first payment fails and is never retried: `incomplete`, then `incomplete_expired`."""
        self.never_paid = True
        return self

    # -- what Stripe would hold --------------------------------------------------------------

    def _state_at(self, t: int) -> tuple[dict, int]:
        price, quantity = self.price, self.quantity
        for change in self.changes:
            if change.at <= t:
                price, quantity = change.price or price, change.quantity or quantity
        return price, quantity

    def _period(self, anchor: int, k: int) -> tuple[int, int]:
        interval, count = interval_of(self.price)
        return period_start(anchor, interval, count, k), period_start(anchor, interval, count, k + 1)

    def _discount(self, amount: int, invoice_at: int, first_paid: bool) -> int:
        coupon = self.coupon
        if coupon is None or amount <= 0:
            return 0
        duration = coupon["duration"]
        if duration == "once" and not first_paid:
            return 0
        if duration == "repeating":
            interval_end = add_months(self.start, coupon["duration_in_months"])  # from when it was applied
            if invoice_at >= interval_end:
                return 0
        if coupon.get("percent_off"):
            return round(amount * coupon["percent_off"] / 100)
        return min(coupon.get("amount_off") or 0, amount)

    def _status_of_invoice(self, at: int) -> str:
        if any(start <= at and (end is None or at < end) for start, end in self.pauses):
            return "void"
        if self.failing_from is not None and at >= self.failing_from:
            return "open"
        return "paid"

    def build(self, until: int) -> tuple[dict, list[dict]]:
        rng = self.scenario.rng
        anchor = self.start + self.trial_days * DAY
        invoices: list[dict] = []
        ended: int | None = None
        if self.cancel_requested is not None:
            ended = self.cancel_requested
            if self.cancel_at_period_end:
                k = period_index(anchor, *interval_of(self.price), max(self.cancel_requested, anchor))
                ended = self._period(anchor, k)[1]
        if self.trial_days:
            invoices.append(self._invoice(rng, self.start, (self.start, anchor), [], trial=True))
            if self.trial_lapses:
                ended = anchor
        if self.never_paid:
            invoices.append(self._invoice(rng, self.start, self._period(anchor, 0), [], status="void"))
        else:
            k, first_paid = 0, True
            pending: list[tuple[dict, int, int, int, int]] = []
            while not (ended is not None and self._period(anchor, k)[0] >= ended):
                start, end = self._period(anchor, k)
                if start > until:
                    break
                invoice = self._invoice(rng, start, (start, end), pending, first_paid=first_paid)
                first_paid = first_paid and invoice["status"] != "paid"
                invoices.append(invoice)
                pending = self._prorations(start, end)
                k += 1
            if pending and ended is not None and ended <= until:
                invoices.append(self._invoice(rng, ended, None, pending, billing_reason="subscription_update"))
        return self._subscription(rng, anchor, ended, until, invoices), invoices

    def _prorations(self, start: int, end: int) -> list[tuple[dict, int, int, int, int]]:
        """(price, quantity, amount, from, to) of the proration lines for changes in [start, end)."""
        lines = []
        for change in self.changes:
            if start < change.at < end:
                old_price, old_quantity = self._state_at(change.at - 1)
                new_price, new_quantity = self._state_at(change.at)
                share = (end - change.at) / (end - start)
                lines.append((old_price, old_quantity, -round(old_price["unit_amount"] * old_quantity * share), change.at, end))
                lines.append((new_price, new_quantity, round(new_price["unit_amount"] * new_quantity * share), change.at, end))
        return lines

    def _invoice(
        self,
        rng: random.Random,
        at: int,
        period: tuple[int, int] | None,
        prorations: list[tuple[dict, int, int, int, int]],
        *,
        trial: bool = False,
        status: str | None = None,
        first_paid: bool = False,
        billing_reason: str | None = None,
    ) -> dict:
        price, quantity = self._state_at(at)
        status = status or ("paid" if trial else self._status_of_invoice(at))
        regular: list[tuple[dict, int, str | None]] = [(price, quantity, self.item_id)] if period is not None else []
        invoice = invoice_object(
            rng,
            id=new_id(rng, "invoice"),
            created=at,
            customer=self.customer,
            subscription=self.id,
            lines=regular or [(price, quantity, self.item_id)],
            status=status,
            billing_reason=billing_reason or ("subscription_create" if at == self.start else "subscription_cycle"),
            line_period=period,
            invoice_period=(at, at),
            trial=trial,
        )
        lines = invoice["lines"]["data"]
        template = lines[0]
        if not regular:
            lines.clear()
        for line in lines:
            discount = 0 if trial else self._discount(line["amount"], at, first_paid)
            self._set_discount(line, discount)
        for p_price, p_quantity, amount, start, end in prorations:
            line = {
                **template,
                "id": new_id(rng, "line_item"),
                "amount": amount,
                "subtotal": amount,
                "discount_amounts": [],
                "discounts": [],
                "quantity": p_quantity,
                "period": {"start": start, "end": end},
                "description": ("Unused time on " if amount < 0 else "Remaining time on ") + (p_price["nickname"] or p_price["id"]),
                "parent": {
                    **template["parent"],
                    "subscription_item_details": {
                        **template["parent"]["subscription_item_details"],
                        "proration": True,
                        "proration_details": {"credited_items": None},
                    },
                },
                "pricing": {**template["pricing"], "price_details": {"price": p_price["id"], "product": p_price["product"]}},
            }
            self._set_discount(line, self._discount(amount, at, False) if amount > 0 else 0)
            lines.append(line)
        _retotal(invoice)
        return invoice

    def _set_discount(self, line: dict, discount: int) -> None:
        if discount and self.coupon is not None:
            line["discount_amounts"] = [{"amount": discount, "discount": self.scenario.discount_id(self)}]
            line["discounts"] = [self.scenario.discount_id(self)]

    def _subscription(self, rng: random.Random, anchor: int, ended: int | None, until: int, invoices: list[dict]) -> dict:
        price, quantity = self._state_at(min(until, ended - 1) if ended else until)
        status = (
            "incomplete_expired"
            if self.never_paid
            else "canceled"
            if ended is not None and ended <= until
            else "trialing"
            if until < anchor
            else "past_due"
            if self.failing_from is not None and until >= self.failing_from
            else "active"
        )
        sub = subscription_object(
            rng, id=self.id, created=self.start, customer=self.customer, prices=[price], status="active", now=self.start
        )
        k = period_index(anchor, *interval_of(price), min(until, ended - 1) if ended else until)
        period = (self.start, anchor) if until < anchor else self._period(anchor, k)
        item = {
            **sub["items"]["data"][0],
            "id": self.item_id,
            "quantity": quantity,
            "price": price_copy(price),
            "plan": plan_view(price),
        }
        item.update(current_period_start=period[0], current_period_end=period[1])
        sub["items"] = {**sub["items"], "data": [item], "total_count": 1}
        pending_cancel = (
            self.cancel_at_period_end and status != "canceled" and self.cancel_requested is not None and self.cancel_requested <= until
        )
        sub.update(
            status=status,
            start_date=self.start,
            billing_cycle_anchor=anchor,
            trial_start=self.start if self.trial_days else None,
            trial_end=anchor if self.trial_days else None,
            cancel_at_period_end=pending_cancel,
            cancel_at=ended if self.cancel_at_period_end and self.cancel_requested is not None else None,
            canceled_at=self.cancel_requested
            if self.cancel_requested is not None and self.cancel_requested <= until
            else (anchor if self.trial_lapses else None),
            ended_at=ended if ended is not None and ended <= until else None,
            pause_collection={"behavior": "void", "resumes_at": self.pauses[-1][1]}
            if self.pauses and self.pauses[-1][0] <= until and (self.pauses[-1][1] is None or until < self.pauses[-1][1])
            else None,
            latest_invoice=invoices[-1]["id"] if invoices else None,
            discounts=[self.scenario.discount_id(self)] if self.coupon else [],
        )
        return sub


def _retotal(invoice: dict) -> None:
    lines = invoice["lines"]["data"]
    subtotal = sum(line["amount"] for line in lines)
    discount = sum(d["amount"] for line in lines for d in line["discount_amounts"])
    total = subtotal - discount
    paid = total if invoice["status"] == "paid" else 0
    invoice["lines"].update(total_count=len(lines))
    invoice.update(
        subtotal=subtotal,
        subtotal_excluding_tax=subtotal,
        total=total,
        total_excluding_tax=total,
        amount_due=total,
        amount_paid=paid,
        amount_remaining=total - paid,
        total_discount_amounts=[{"amount": discount, "discount": next(line["discounts"][0] for line in lines if line["discounts"])}]
        if discount
        else [],
    )


class Scenario:
    """Customers, prices, coupons and subscription stories, filed into an emulator's store."""

    def __init__(self, store: Store, seed: int = 7):
        self.store = store
        self.rng = random.Random(seed)
        self.subscriptions: list[Subscription] = []
        self._discounts: dict[str, str] = {}
        self._product = new_id(self.rng, "product")

    def customer(self, name: str | None = None, *, on: Any = "2024-12-01") -> str:
        customer = build_customer(self.rng, id=new_id(self.rng, "customer"), created=timestamp(on))
        if name is not None:
            customer["name"] = name
        self.store.add(customer)
        return customer["id"]

    def price(
        self, unit_amount: int, currency: str = "eur", interval: str = "month", interval_count: int = 1, *, metered: bool = False
    ) -> dict:
        price = price_object(
            self.rng,
            id=new_id(self.rng, "price"),
            created=timestamp("2024-12-01"),
            product=self._product,
            recurring=True,
            currency=currency,
            interval=(interval, interval_count),
        )
        price.update(unit_amount=unit_amount, unit_amount_decimal=str(unit_amount), active=True, tax_behavior="exclusive")
        if metered:
            price["recurring"]["usage_type"] = "metered"
        self.store.add(price)
        return price

    def coupon(
        self,
        *,
        percent_off: float | None = None,
        amount_off: int | None = None,
        currency: str | None = None,
        duration: str = "forever",
        months: int | None = None,
    ) -> dict:
        coupon = build_coupon(self.rng, id=new_id(self.rng, "coupon"), created=timestamp("2024-12-01"))
        coupon.update(percent_off=percent_off, amount_off=amount_off, currency=currency, duration=duration, duration_in_months=months)
        self.store.add(coupon)
        return coupon

    def subscribe(
        self, customer: str, price: dict, *, on: Any, quantity: int = 1, trial_days: int = 0, coupon: dict | None = None
    ) -> Subscription:
        story = Subscription(
            self,
            id=new_id(self.rng, "subscription"),
            item_id=new_id(self.rng, "subscription_item"),
            customer=customer,
            price=price,
            start=timestamp(on),
            quantity=quantity,
            trial_days=trial_days,
            coupon=coupon,
        )
        self.subscriptions.append(story)
        return story

    def discount_id(self, story: Subscription) -> str:
        return self._discounts.setdefault(story.id, new_id(self.rng, "discount"))

    def build(self, until: Any = None) -> None:
        """File every subscription and its invoices, as of `until` (default: the emulator's now)."""
        now = timestamp(until) if until is not None else self.store.clock.now()
        for story in self.subscriptions:
            subscription, invoices = story.build(now)
            self.store.add(subscription)
            for invoice in invoices:
                self.store.add(invoice)


def standard_plans(story: Scenario) -> tuple[list[dict], list[dict | None]]:
    """Prices and coupons of a plausible SaaS: monthly, quarterly, annual and weekly plans in
    EUR and USD, and coupons of every duration (None: most subscriptions have none)."""
    plans = [
        *(story.price(amount, "eur") for amount in (900, 1900, 4900, 9900)),
        story.price(24_900, "eur", "month", 3),
        story.price(99_000, "eur", "year"),
        *(story.price(amount, "usd") for amount in (1000, 2500)),
        story.price(1500, "usd", "week"),
        story.price(120_000, "usd", "year"),
    ]
    coupons: list[dict | None] = [
        story.coupon(percent_off=20, duration="repeating", months=3),
        story.coupon(percent_off=50, duration="once"),
        story.coupon(amount_off=500, currency="eur", duration="forever"),
        *([None] * 7),
    ]
    return plans, coupons


def random_story(
    story: Scenario, rng: random.Random, customers: list[str], plans: list[dict], coupons: list[dict | None], now: int
) -> Subscription:
    """One subscription's history, drawn: 80 % start over three years, 20 % in the last three
    months (a launch); trials, quantities, coupons, changes, cancellations at once and at the
    period end, pauses and failed payments in plausible shares."""
    days_ago = rng.randint(1, 1095) if rng.random() < 0.8 else rng.randint(1, 90)
    sub = story.subscribe(
        rng.choice(customers),
        rng.choice(plans),
        on=(now - days_ago * DAY) // DAY * DAY,
        quantity=rng.choice((1, 1, 1, 2, 3, 10)),
        trial_days=rng.choice((0, 0, 0, 7, 14)),
        coupon=rng.choice(coupons),
    )
    if rng.random() < 0.25:
        sub.change(sub.start + rng.randint(3, 300) * DAY + rng.randint(0, DAY - 1), quantity=rng.randint(1, 12))
    if rng.random() < 0.1:
        sub.change(
            sub.start + rng.randint(301, 500) * DAY,
            price=rng.choice(
                [
                    p
                    for p in plans
                    if (p["currency"], p["recurring"]["interval"], p["recurring"]["interval_count"])
                    == (sub.price["currency"], sub.price["recurring"]["interval"], sub.price["recurring"]["interval_count"])
                ]
            ),
        )
    if rng.random() < 0.3:
        sub.cancel(sub.start + rng.randint(10, 700) * DAY, at_period_end=rng.random() < 0.6)
    elif rng.random() < 0.03:
        sub.pause(sub.start + rng.randint(30, 200) * DAY, sub.start + rng.randint(230, 400) * DAY)
    elif rng.random() < 0.03:
        sub.fail_payments(sub.start + rng.randint(30, 300) * DAY)
    return sub


def tell_random(story: Scenario, subscriptions: int, *, seed: int = 7) -> None:
    """`subscriptions` drawn histories (random_story) for 0.7 times as many customers, filed."""
    rng = random.Random(seed)
    plans, coupons = standard_plans(story)
    customers = [story.customer() for _ in range(max(int(subscriptions * 0.7), 1))]
    now = story.store.clock.now()
    for _ in range(subscriptions):
        random_story(story, rng, customers, plans, coupons, now)
    story.build(now)
