"""The seeded account's billing: subscriptions on the catalogue's prices, their invoices (the
latest of each, then earlier renewals) and one-off invoices, and the payment intents and
charges that paid them or stand alone. account.generate runs these phases after the catalogue
and the customers."""

from __future__ import annotations

import random
from collections.abc import Generator, Iterator
from dataclasses import dataclass

from .helpers import DAY, new_id, random_currency
from .invoices import invoice_object, random_invoice_status
from .payments import charge_object, payment_intent_object
from .periods import interval_of, period_index, period_start
from .seeding import LINK_CAP, TIE_P, ByTime, CustomerPool, PricePool, Seeding, Ties, next_invoice_number
from .subscriptions import subscription_object
from .vocabulary import DECLINES

# (pay: "succeeded", "failed" or None, customer record, amount, currency, effective_at, description)
InvoicePayment = tuple
# (id, created, customer record, amount, currency, status, payment method, failure, description)
IntentRecord = tuple


def billing(seeding: Seeding, prices: PricePool, customers: CustomerPool, product_names: dict[str, str]) -> Iterator[dict]:
    subscriptions = yield from _subscriptions(seeding, prices, customers)
    payments = yield from _invoices(seeding, subscriptions, prices, customers.all, product_names)
    intents = yield from _payment_intents(seeding, payments, customers.all)
    del payments
    yield from _charges(seeding, intents, customers.all)


def status_for_age(rng: random.Random, age: int) -> str:
    x = rng.random()
    if age < DAY:
        return "incomplete" if x < 0.3 else "trialing" if x < 0.6 else "active"
    if age < 30 * DAY:
        return "trialing" if x < 0.35 else "active" if x < 0.85 else "past_due" if x < 0.92 else "canceled" if x < 0.97 else "incomplete"
    return "active" if x < 0.68 else "canceled" if x < 0.84 else "past_due" if x < 0.92 else "unpaid" if x < 0.97 else "incomplete"


# -- subscriptions: subscription j's latest invoice is invoice j, whose id the invoice stream will produce


def _subscriptions(seeding: Seeding, prices: PricePool, customers: CustomerPool) -> Generator[dict, None, list[dict]]:
    rng = seeding.rng("subscription")
    invoice_ids = seeding.stream("invoice")
    records: list[dict] = []
    for j, (sid, t, _) in enumerate(seeding.stream("subscription")):
        chosen = _subscription_prices(rng, prices, t)
        crec = (customers.by_currency.get(chosen[0]["currency"]) or customers.all).pick(rng, t)
        created = max([t, crec[0]] + [c["created"] for c in chosen])
        status = status_for_age(rng, seeding.now - created)
        latest = next(invoice_ids)[0] if j < seeding.linked_invoices else None
        obj = subscription_object(
            rng, id=sid, created=created, customer=crec[1], prices=chosen, status=status, now=seeding.now, latest_invoice=latest
        )
        if j < LINK_CAP:
            records.append(_subscription_record(obj, crec, interval_of(chosen[0])))
        yield obj
    return records


def _subscription_prices(rng: random.Random, prices: PricePool, t: int) -> list[dict]:
    """A recurring price, and now and then one or two more of other products on the same cycle."""
    first = prices.recurring.pick(rng, t) if prices.recurring else prices.all.pick(rng, t)
    interval = interval_of(first)
    chosen = [first]
    group = prices.by_interval.get((first["currency"], *interval))
    if group is not None and rng.random() >= 0.8:
        for _ in range(rng.choice((1, 1, 2))):
            candidate = group.pick(rng, t)
            if all(candidate["product"] != c["product"] for c in chosen):
                chosen.append(candidate)
    return chosen


def _subscription_record(obj: dict, crec: list, interval: tuple[str, int]) -> dict:
    """What the invoice phase needs of a subscription to bill its periods."""
    item0 = obj["items"]["data"][0]
    iv, ic = interval
    sub_trial = (obj["trial_start"], obj["trial_end"]) if obj["trial_start"] is not None else None
    anchor = obj["billing_cycle_anchor"]
    cps = item0["current_period_start"]
    in_trial = sub_trial is not None and cps == sub_trial[0]
    k_cur = 0 if in_trial else period_index(anchor, iv, ic, cps)
    n_prev = 0 if in_trial else k_cur + (1 if sub_trial else 0)
    return {
        "id": obj["id"],
        "customer": crec,
        "status": obj["status"],
        "created": obj["created"],
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


def subscription_period(rec: dict, p: int) -> tuple[int, int, int | None, bool]:
    """Period p of a subscription, counting the trial as period 0: (start, end, previous start, is trial)."""
    iv, ic = rec["interval"]
    if rec["trial"] is not None:
        if p == 0:
            return rec["trial"][0], rec["trial"][1], None, True
        p -= 1
        prev = rec["trial"][0] if p == 0 else period_start(rec["anchor"], iv, ic, p - 1)
    else:
        prev = None if p == 0 else period_start(rec["anchor"], iv, ic, p - 1)
    return period_start(rec["anchor"], iv, ic, p), period_start(rec["anchor"], iv, ic, p + 1), prev, False


# -- invoices: first the subscriptions' latest ones, then earlier renewals and one-off invoices


@dataclass
class _Renewal:
    """A subscription invoice to issue: its period, the one before, and how it stands."""

    subscription: dict
    period: tuple[int, int]
    previous_start: int | None
    trial: bool
    status: str
    attempts: int | None
    first_period: bool


def _invoices(
    seeding: Seeding, subscriptions: list[dict], prices: PricePool, customers: ByTime, product_names: dict[str, str]
) -> Generator[dict, None, list[InvoicePayment]]:
    rng = seeding.rng("invoice")
    payments: list[InvoicePayment] = []
    ties = Ties(seeding.now)
    for j, (iid, t, u) in enumerate(seeding.stream("invoice")):
        renewal: _Renewal | None = None
        if j < seeding.linked_invoices and j < len(subscriptions):
            renewal = _latest_invoice(rng, subscriptions[j])
        elif subscriptions and u < 0.5:
            renewal = _earlier_renewal(rng.choice(subscriptions))
        if renewal is not None:
            obj, crec = _subscription_invoice(rng, iid, renewal, ties, product_names, seeding.now)
        else:
            obj, crec = _one_off_invoice(rng, iid, t, prices, customers, ties, product_names, seeding.now)
        if j < seeding.paired_payments:
            payments.append(_invoice_payment(obj, crec))
        yield obj
    return payments


def _latest_invoice(rng: random.Random, rec: dict) -> _Renewal:
    """A subscription's latest invoice, standing as the subscription's status says."""
    if rec["in_trial"]:
        ps, pe, prev, trial = rec["trial"][0], rec["trial"][1], None, True
    else:
        ps, pe, prev, trial = rec["cps"], rec["cpe"], None, False
        if rec["n_prev"] > 0:
            ps, pe, prev, trial = subscription_period(rec, rec["n_prev"])
    # Every entry is drawn, whichever applies: the draws are part of the seeded sequence.
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
    return _Renewal(rec, (ps, pe), prev, trial, status, attempts, rec["n_prev"] == 0)


def _earlier_renewal(rec: dict) -> _Renewal | None:
    """Walk back through the subscription's earlier periods, one paid renewal invoice each."""
    if rec["n_prev"] <= 0:
        return None
    rec["n_prev"] -= 1
    ps, pe, prev, trial = subscription_period(rec, rec["n_prev"])
    return _Renewal(rec, (ps, pe), prev, trial, "paid", None, rec["n_prev"] == 0)


def _subscription_invoice(
    rng: random.Random, iid: str, renewal: _Renewal, ties: Ties, product_names: dict[str, str], now: int
) -> tuple[dict, list]:
    rec = renewal.subscription
    created = renewal.period[0]
    crec = rec["customer"]
    ties.recent.append(created)
    obj = invoice_object(
        rng,
        id=iid,
        created=created,
        customer=crec[1],
        subscription=rec["id"],
        lines=rec["items"],
        status=renewal.status,
        billing_reason="subscription_create" if renewal.first_period else "subscription_cycle",
        collection_method=rec["collection_method"],
        days_until_due=rec["days_until_due"],
        line_period=renewal.period,
        invoice_period=(created, created) if renewal.first_period or renewal.previous_start is None else (renewal.previous_start, created),
        attempt_count=renewal.attempts,
        trial=renewal.trial,
        payer=crec[3],
        number=next_invoice_number(crec),
        product_names=product_names,
        now=now,
    )
    return obj, crec


def _one_off_invoice(
    rng: random.Random, iid: str, t: int, prices: PricePool, customers: ByTime, ties: Ties, product_names: dict[str, str], now: int
) -> tuple[dict, list]:
    crec = customers.pick(rng, t)
    pool = prices.by_currency.get(crec[2]) or prices.all
    lines: list[tuple[dict, int, str | None]] = []
    for _ in range(1 if rng.random() < 0.7 else rng.randint(2, 3)):
        price = pool.pick(rng, t)
        if all(price["id"] != line[0]["id"] for line in lines):
            lines.append((price, 1 if rng.random() < 0.8 else rng.randint(2, 5), None))
    lo = max([crec[0]] + [line[0]["created"] for line in lines])
    created = ties(rng, max(t, lo), lo, p=2 * TIE_P)
    status = random_invoice_status(rng)
    obj = invoice_object(
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
        number=next_invoice_number(crec) if status != "draft" else None,
        product_names=product_names,
        now=now,
    )
    return obj, crec


def _invoice_payment(obj: dict, crec: list) -> InvoicePayment:
    """How the payment intent paired with this invoice went, if the invoice was charged."""
    pay = None
    if obj["collection_method"] == "charge_automatically" and obj["amount_due"] > 0:
        if obj["status"] == "paid":
            pay = "succeeded"
        elif obj["status"] != "draft" and obj["attempt_count"] > 0:
            pay = "failed"
    paid_for = {"subscription_create": "Subscription creation", "subscription_cycle": "Subscription update"}.get(
        obj["billing_reason"], "Payment for Invoice"
    )
    return (pay, crec, obj["amount_due"], obj["currency"], obj["effective_at"], paid_for)


# -- payment intents: intent j's latest charge is charge j, whose id the charge stream will produce


def _payment_intents(seeding: Seeding, payments: list[InvoicePayment], customers: ByTime) -> Generator[dict, None, list[IntentRecord]]:
    rng = seeding.rng("payment_intent")
    charge_ids = seeding.stream("charge")
    records: list[IntentRecord] = []
    ties = Ties(seeding.now)
    for j, (pid, t, _u) in enumerate(seeding.stream("payment_intent")):
        paired = j < seeding.paired_payments
        inv = payments[j] if j < len(payments) and payments[j][0] else None
        for_invoice = inv is not None and paired
        description: str | None
        if inv is not None and paired:
            pay, crec, amount, currency, created, description = inv
            created = ties(rng, created, created)
            status = "succeeded" if pay == "succeeded" else "requires_payment_method"
        else:
            crec, currency, amount, created, description, status = _standalone_intent(rng, t, paired, customers, ties, seeding.start)
        charge_id = next(charge_ids)[0] if paired else None
        failure = rng.choice(DECLINES) if paired and status == "requires_payment_method" else None
        # A declined card is detached from the intent; the charge keeps it.
        pm = new_id(rng, "payment_method") if paired else None
        intent_payer = crec[3] if crec else None
        obj = payment_intent_object(
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
            now=seeding.now,
        )
        if paired:
            records.append((pid, created, crec, amount, currency, status, pm, failure, description))
        yield obj
    return records


def _standalone_intent(
    rng: random.Random, t: int, paired: bool, customers: ByTime, ties: Ties, start: int
) -> tuple[list | None, str, int, int, str | None, str]:
    """(customer record, currency, amount, created, description, status) of an intent no invoice made."""
    crec = customers.pick(rng, t) if customers and rng.random() < 0.8 else None
    currency = crec[2] if crec else random_currency(rng)
    amount = rng.choice((500, 999, 1500, 2000, 2500, 4900, 7500, 9900, 12000, 19900, 49900)) + (rng.choice((0, 0, 50, 99)))
    created = ties(rng, max(t, crec[0]) if crec else t, crec[0] if crec else start)
    description = (
        None if rng.random() < 0.6 else rng.choice((f"Order #{rng.randint(1000, 99999)}", "Top-up", "Donation", "Consulting hours"))
    )
    x = rng.random()
    if paired:
        status = "succeeded" if x < 0.88 else "requires_payment_method" if x < 0.95 else "requires_capture" if x < 0.98 else "processing"
    else:
        status = (
            "requires_payment_method" if x < 0.4 else "canceled" if x < 0.75 else "requires_action" if x < 0.9 else "requires_confirmation"
        )
    return crec, currency, amount, created, description, status


# -- charges: first the payment intents' attempts, then standalone (legacy API) charges


def _charges(seeding: Seeding, intents: list[IntentRecord], customers: ByTime) -> Iterator[dict]:
    rng = seeding.rng("charge")
    ties = Ties(seeding.now)
    for j, (cid, t, u) in enumerate(seeding.stream("charge")):
        if j < len(intents):
            yield _intent_charge(rng, cid, intents[j], ties, seeding.now)
        else:
            yield _standalone_charge(rng, cid, t, u, customers, ties, seeding.start)


def _intent_charge(rng: random.Random, cid: str, intent: IntentRecord, ties: Ties, now: int) -> dict:
    pid, pi_created, crec, amount, currency, pi_status, pm, failure, description = intent
    created = pi_created if rng.random() < 0.8 else min(pi_created + rng.randint(1, 5), now)
    created = ties(rng, created, pi_created, p=0.0)  # pairs already tie as their intents do
    status = {"succeeded": "succeeded", "requires_capture": "succeeded", "processing": "pending"}.get(pi_status, "failed")
    return charge_object(
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


def _standalone_charge(rng: random.Random, cid: str, t: int, u: float, customers: ByTime, ties: Ties, start: int) -> dict:
    crec = customers.pick(rng, t) if customers and u < 0.7 else None
    currency = crec[2] if crec else random_currency(rng)
    amount = rng.choice((500, 1000, 1500, 2000, 2500, 5000, 9900, 15000))
    status = "succeeded" if rng.random() < 0.92 else "failed"
    created = ties(rng, max(t, crec[0]) if crec else t, crec[0] if crec else start)
    return charge_object(
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
