"""The seeded account: every rich type's objects for the requested counts, deterministic for a
seed, parents before children, streamed so that memory stays flat however many there are.

The catalogue and the customers are generated here; the billing that refers to them
(subscriptions, invoices, payments) in account_billing.py."""

from __future__ import annotations

import random
from collections.abc import Generator, Iterator

from .. import timelines
from ..timelines import Timeline
from .account_billing import billing
from .catalogue import coupon_object, discount_object, price_object, product_kind, product_object
from .customers import customer_object
from .periods import add_months
from .seeding import KEEP_COUPONS, KEEP_CUSTOMERS, KEEP_PRICES, KEEP_PRODUCTS, ByTime, CustomerPool, PricePool, Seeding, keep_every

SEED_ORDER: tuple[str, ...] = ("product", "price", "coupon", "customer", "subscription", "invoice", "payment_intent", "charge")

# Parents a child cannot exist without; optional references (a charge's customer) are not listed.
REQUIRED_PARENTS = {
    "price": ("product",),
    "subscription": ("customer", "price"),
    "invoice": ("customer", "price"),
}


def generate(counts: dict[str, int], *, seed: int = 42, now: int, timeline: str | Timeline = "even") -> Iterator[dict]:
    """Yield objects (plain dicts; obj["object"] tells the type) for the requested counts per object name
    (keys from SEED_ORDER; missing keys mean 0), in SEED_ORDER so parents come before children.
    Deterministic for (counts, seed, now, timeline); `created` spreads as the timeline says (by default
    evenly over the year before `now`, see timelines.py), with some same-second ties.
    A child whose required parent type has count 0 gets ONE extra parent of that type.
    Memory stays flat however many objects stream: only samples of parents are remembered."""
    seeding = _seeding(counts, seed, now, timeline)
    products, product_names = yield from _products(seeding)
    prices = yield from _prices(seeding, products)
    coupons = yield from _coupons(seeding)
    customers = yield from _customers(seeding, coupons)
    yield from billing(seeding, prices, customers, product_names)


def _seeding(counts: dict[str, int], seed: int, now: int, timeline: str | Timeline) -> Seeding:
    unknown = set(counts) - set(SEED_ORDER)
    if unknown:
        raise ValueError(f"unknown object names: {sorted(unknown)}")
    n = {name: int(counts.get(name, 0) or 0) for name in SEED_ORDER}
    if any(v < 0 for v in n.values()):
        raise ValueError("counts must not be negative")
    forced: set[str] = set()
    for child in reversed(SEED_ORDER):  # children first, so a stand-in price brings its own product
        if n[child] > 0:
            for parent in REQUIRED_PARENTS.get(child, ()):
                if n[parent] == 0:
                    n[parent] = 1
                    forced.add(parent)
    shape = timelines.timeline(timeline)
    return Seeding(seed, n, frozenset(forced), now, shape.quantile(now), shape.earliest(now))


def _products(seeding: Seeding) -> Generator[dict, None, tuple[ByTime, dict[str, str]]]:
    """Product i's default price is price i, whose id the price stream will produce."""
    n = seeding.counts
    rng = seeding.rng("product")
    price_ids = seeding.stream("price")
    product_names: dict[str, str] = {}
    kept: list[tuple[int, tuple[str, int, str]]] = []
    every = keep_every(n["product"], KEEP_PRODUCTS)
    for i, (pid, created, u) in enumerate(seeding.stream("product")):
        kind = "service" if i == 0 else product_kind(u)  # the first price must be able to be recurring
        default_price = next(price_ids)[0] if i < n["price"] else None
        obj = product_object(rng, id=pid, created=created, kind=kind, default_price=default_price, now=seeding.now)
        if i % every == 0:
            product_names[pid] = obj["name"]
            kept.append((created, (pid, created, kind)))
        yield obj
    return ByTime(kept), product_names


def _prices(seeding: Seeding, products: ByTime) -> Generator[dict, None, PricePool]:
    """The first prices are their products' defaults, created with them; later ones are extra prices."""
    n = seeding.counts
    rng = seeding.rng("price")
    product_meta = seeding.stream("product")
    kept: list[dict] = []
    every = keep_every(n["price"], KEEP_PRICES)
    for j, (price_id, t, u) in enumerate(seeding.stream("price")):
        if j < n["product"]:
            prod_id, created, pu = next(product_meta)
            kind = "service" if j == 0 else product_kind(pu)
        else:
            prod_id, prod_created, kind = products.pick(rng, t)
            created = max(t, prod_created)
        if j == 0:
            # A subscription needs one recurring price in the commonest currency, whatever else is drawn.
            obj = price_object(rng, id=price_id, created=created, product=prod_id, recurring=True, currency="usd", interval=("month", 1))
        else:
            obj = price_object(rng, id=price_id, created=created, product=prod_id, recurring=kind == "service" or u < 0.05)
        if j % every == 0:
            kept.append(obj)
        yield obj
    return PricePool.of(kept)


def _coupons(seeding: Seeding) -> Generator[dict, None, ByTime]:
    """Returns the coupons a customer can still be given: valid, and lasting past one invoice."""
    rng = seeding.rng("coupon")
    kept = []
    every = keep_every(seeding.counts["coupon"], KEEP_COUPONS)
    for i, (cid, created, _) in enumerate(seeding.stream("coupon")):
        obj = coupon_object(rng, id=cid, created=created, now=seeding.now)
        if i % every == 0 and obj["valid"] and obj["duration"] != "once":
            kept.append((created, (cid, created, obj["duration_in_months"])))
        yield obj
    return ByTime(kept)


def _customers(seeding: Seeding, coupons: ByTime) -> Generator[dict, None, CustomerPool]:
    rng = seeding.rng("customer")
    kept: list[tuple[int, list]] = []
    every = keep_every(seeding.counts["customer"], KEEP_CUSTOMERS)
    for i, (cid, created, u) in enumerate(seeding.stream("customer")):
        obj = customer_object(rng, id=cid, created=created, currency="usd" if i == 0 else None)
        if coupons and u < 0.04:
            _apply_coupon(rng, obj, coupons, seeding.now)
        if i % every == 0:
            payer = (obj["name"], obj["email"], obj["phone"], obj["address"], obj["tax_exempt"])
            kept.append((created, [created, cid, obj["currency"], payer, obj["invoice_prefix"], 1]))
        yield obj
    return CustomerPool.of(kept)


def _apply_coupon(rng: random.Random, customer: dict, coupons: ByTime, now: int) -> None:
    """A customer's discount, from a coupon that existed then, while it still lasts."""
    coupon_id, coupon_created, months = coupons.pick(rng, customer["created"])
    begin = max(customer["created"], coupon_created)
    begin = rng.randint(begin, max(begin, now - 3600))
    end = add_months(begin, months) if months else None
    if end is None or end > now:
        customer["discount"] = discount_object(rng, customer=customer["id"], coupon=coupon_id, start=begin, end=end)
