"""What the seeded-account generator shares between its phases: the plan (counts, seed, the
timeline's clock), each type's stream of IDs and created times, and the bounded samples of
parents that later phases pick from, so a million children stream in flat memory."""

from __future__ import annotations

import bisect
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from .helpers import DAY, new_id

# Bounds on what generate() remembers about parents, so a million children stream in flat memory.
KEEP_CUSTOMERS = 20_000
KEEP_PRODUCTS = 20_000
KEEP_PRICES = 5_000
KEEP_COUPONS = 2_000
# Only this many subscriptions get their latest invoice, and payment intents their charge, linked.
LINK_CAP = 50_000
# A created second repeats with this chance, giving ~5% of objects a same-second twin as in Stripe.
TIE_P = 0.026


def created_stream(
    seed: int, name: str, n: int, created_at: Callable[[float], int], start: int, forced: bool
) -> Iterator[tuple[str, int, float]]:
    """(id, created, a uniform draw) per object, from a stream of its own so other phases can replay it.
    Object i is created at the timeline's quantile (i + u) / n: ascending, spread as the timeline says."""
    rng = random.Random(f"{seed}:{name}:meta")
    if forced:
        # A stand-in parent predates everything that needs it.
        yield new_id(rng, name), start + rng.randrange(DAY), rng.random()
        return
    prev = None
    for i in range(n):
        oid = new_id(rng, name)
        t = created_at((i + rng.random()) / n)
        if prev is not None and rng.random() < TIE_P:
            t = prev
        prev = t
        yield oid, t, rng.random()


def keep_every(n: int, cap: int) -> int:
    return max(1, -(-n // cap))


class ByTime:
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


class Ties:
    """Lets an object take the created second of a recent one of its type, where its own constraints allow.

    The grid in created_stream makes ties for objects whose time is free; this does it for objects whose time
    follows a parent (a payment follows its invoice), where the stream is not in time order."""

    __slots__ = ("recent", "now")

    def __init__(self, now: int):
        self.recent: list[int] = []
        self.now = now

    def __call__(self, rng: random.Random, created: int, lo: int, p: float = TIE_P) -> int:
        if self.recent and rng.random() < p:
            low, high = max(lo, created - 2 * DAY), min(self.now, created + 2 * DAY)
            near = [t for t in self.recent if low <= t <= high]
            if near:
                created = rng.choice(near)
        self.recent.append(created)
        if len(self.recent) > 64:
            del self.recent[:32]
        return created


@dataclass(frozen=True)
class Seeding:
    """One generate() call: how many objects of each type, and when they were created."""

    seed: int
    counts: dict[str, int]
    forced: frozenset[str]  # parent types seeded with one stand-in, for children that need one
    now: int
    created_at: Callable[[float], int]
    start: int

    def rng(self, phase: str) -> random.Random:
        return random.Random(f"{self.seed}:{phase}")

    def stream(self, name: str) -> Iterator[tuple[str, int, float]]:
        return created_stream(self.seed, name, self.counts[name], self.created_at, self.start, name in self.forced)

    @property
    def linked_invoices(self) -> int:
        """Subscriptions whose latest invoice is the invoice of the same index."""
        return min(self.counts["subscription"], self.counts["invoice"], LINK_CAP)

    @property
    def paired_payments(self) -> int:
        """Invoices, payment intents and charges paired by index."""
        return min(self.counts["payment_intent"], self.counts["charge"], LINK_CAP)


@dataclass(frozen=True)
class PricePool:
    """A sample of the seeded prices, to pick a subscription's or an invoice's from."""

    all: ByTime
    recurring: ByTime
    by_interval: dict[tuple, ByTime]  # (currency, interval, interval_count)
    by_currency: dict[str, ByTime]

    @classmethod
    def of(cls, kept: list[dict]) -> PricePool:
        recurring = ByTime([(p["created"], p) for p in kept if p["recurring"]])
        by_interval: dict[tuple, list] = {}
        by_currency: dict[str, list] = {}
        for p in kept:
            by_currency.setdefault(p["currency"], []).append((p["created"], p))
            if p["recurring"]:
                key = (p["currency"], p["recurring"]["interval"], p["recurring"]["interval_count"])
                by_interval.setdefault(key, []).append((p["created"], p))
        return cls(
            all=ByTime([(p["created"], p) for p in kept]),
            recurring=recurring,
            by_interval={k: ByTime(v) for k, v in by_interval.items()},
            by_currency={k: ByTime(v) for k, v in by_currency.items()},
        )


@dataclass(frozen=True)
class CustomerPool:
    """A sample of the seeded customers. A record is [created, id, currency, (name, email, phone,
    address, tax_exempt), invoice prefix, next invoice number]: a list, as the number counts up."""

    all: ByTime
    by_currency: dict[str, ByTime]

    @classmethod
    def of(cls, kept: list[tuple[int, list]]) -> CustomerPool:
        by_currency: dict[str, list] = {}
        for created, record in kept:
            by_currency.setdefault(record[2], []).append((created, record))
        return cls(ByTime(list(kept)), {k: ByTime(v) for k, v in by_currency.items()})


def next_invoice_number(customer: list) -> str:
    """The customer's next invoice number, as Stripe numbers them: prefix-0001, prefix-0002, …"""
    customer[5] += 1
    return f"{customer[4]}-{customer[5] - 1:04d}"
