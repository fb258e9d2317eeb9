"""The request budget: how fast this deployment may call Stripe, shared by every process.

Stripe limits an account's requests per second globally (100 in live mode, 25 in a sandbox) and
per endpoint (25 unless documented otherwise; endpoints.py). By default the sync takes a share
of the global limit (policies.DEFAULT_BUDGET_SHARE) and each endpoint's whole cap.

Every request first takes its place in its endpoint's line, then, when that comes, a slot of
the global budget. Slots are spaced 1/rate apart, so no one-second window holds more than `rate`
requests, whichever process or thread sends them. The order matters: a request waiting for its
endpoint holds no global slot, so while one endpoint is at its cap every other endpoint's
requests get the global slots it does not use, and a type that is done leaves its share to the
rest at once. A slot store shared between processes lives in the sync's state store
(warehouse/state_store.py, rate_budget.py; any object with SlotStore's `reserve`); this module
holds the arithmetic and an in-process store.

A 429 lowers the rate of the limit it names for a while (`AdaptiveRate`): the application's own
traffic, or a budget set higher than Stripe allows, slows the sync down instead of meeting
the wall on every retry. And while the usually largest type lists, the others give way to it
(`_give_way`): the listing that sets a full sync's length gets its endpoint's cap.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable
from typing import Protocol

from .. import policies
from .endpoints import endpoint_limit, is_child_list

LIVE_REQUESTS_PER_SECOND = policies.LIVE_REQUESTS_PER_SECOND
TEST_REQUESTS_PER_SECOND = policies.TEST_REQUESTS_PER_SECOND
SPACING_MARGIN = policies.BUDGET_SPACING_MARGIN  # why: see policies.py
ENDPOINT_SPACING_MARGIN = policies.ENDPOINT_SPACING_MARGIN
LATE_SLOTS = policies.BUDGET_LATE_SLOTS
ENDPOINT_LATE_SLOTS = policies.ENDPOINT_LATE_SLOTS


def stripe_limit(api_key: str) -> float:
    """Stripe's global limit for the key's mode."""
    return TEST_REQUESTS_PER_SECOND if api_key.startswith(("sk_test_", "rk_test_")) else LIVE_REQUESTS_PER_SECOND


def default_rate(api_key: str) -> float:
    """The sync's default budget: its share of Stripe's limit for the key's mode."""
    return policies.DEFAULT_BUDGET_SHARE * stripe_limit(api_key)


def budget_key(api_key: str) -> str:
    """Whose budget a request spends, without the key in it. One per key: a platform's requests
    for its connected accounts share it, so that many accounts cannot add up to a 429 storm."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


class SlotStore(Protocol):
    def reserve(self, bucket: str, not_before: float, interval: float) -> float:
        """Reserve the next free slot of `bucket` at or after `not_before` (Unix time); the
        bucket's following slot becomes `slot + interval`. Returns the slot."""


class LocalSlotStore:
    """Slots within one process: for a client with no warehouse to share them through."""

    def __init__(self):
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def reserve(self, bucket: str, not_before: float, interval: float) -> float:
        with self._lock:
            slot = max(self._next.get(bucket, 0.0), not_before)
            self._next[bucket] = slot + interval
            return slot


class AdaptiveRate:
    """How far below its configured rate one limit runs after a 429: cut at once, then back up
    by a little each second (additive increase, multiplicative decrease, as TCP does)."""

    def __init__(self, clock: Callable[[], float]):
        self._clock = clock
        self._low, self._since = 1.0, -math.inf
        self._lock = threading.Lock()

    def factor(self) -> float:
        """The share of the configured rate to run at now."""
        return min(1.0, self._low + policies.ADAPTIVE_RECOVERY_PER_SECOND * (self._clock() - self._since))

    def cut(self, sent_at: float | None = None) -> bool:
        """A 429 for this limit, for a request sent at `sent_at`. False when it was sent before
        the last cut: it tells nothing about the rate since. (Without a time, 429s within
        ADAPTIVE_HOLD_SECONDS of a cut count as sent before it.)"""
        with self._lock:
            now = self._clock()
            before_cut = sent_at < self._since if sent_at is not None else now - self._since < policies.ADAPTIVE_HOLD_SECONDS
            if before_cut:
                return False
            self._low, self._since = max(policies.ADAPTIVE_FLOOR, self.factor() * policies.ADAPTIVE_CUT), now
            return True


class RateBudget:
    """Waits until a request may go: `budget.wait("GET /v1/customers")`.

    `requests_per_second`: the global budget; `endpoint_requests_per_second`: each endpoint's
    cap (None: none), lowered where Stripe documents a stricter limit."""

    def __init__(
        self,
        key: str,
        requests_per_second: float,
        endpoint_requests_per_second: float | None = None,
        store: SlotStore | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if requests_per_second <= 0:
            raise ValueError(f"The request budget must be positive, not {requests_per_second}")
        if endpoint_requests_per_second is not None and endpoint_requests_per_second <= 0:
            raise ValueError(f"The cap per endpoint must be positive, not {endpoint_requests_per_second}")
        self.key = key
        self.requests_per_second = requests_per_second
        self.endpoint_requests_per_second = endpoint_requests_per_second
        self.store = store or LocalSlotStore()
        self._clock, self._sleep = clock, sleep
        self._global = AdaptiveRate(clock)
        self._endpoints: dict[str, AdaptiveRate] = {}
        self._lock = threading.Lock()
        self.waited = 0.0  # seconds spent waiting for slots, for logs
        # Where this process's listing ranks among those that go first (None: not among them):
        # see `_give_way`. Set by whoever knows what is listed (actions/runs.py: goes_first).
        self.rank: int | None = None
        self._heard: dict[int, tuple[float, float]] = {}  # rank -> (when read, its last heartbeat)
        self._beat_at = -math.inf

    def wait(self, endpoint: str) -> None:
        bucket, rate = endpoint_limit(endpoint, self.endpoint_requests_per_second)
        while rate is not None:
            # The endpoint's line first: see the module's docstring. A thread that wakes up late
            # queues again, as for the global slot below.
            interval = ENDPOINT_SPACING_MARGIN / (rate * self._adaptive(bucket).factor())
            turn = self.store.reserve(f"{self.key} {bucket}", self._clock(), interval)
            known = self._clock()  # lateness counts from here: see below
            self._sleep_until(turn)
            if self._clock() - max(turn, known) <= ENDPOINT_LATE_SLOTS * interval:
                break
        self._give_way(endpoint)
        while True:
            interval = SPACING_MARGIN / (self.requests_per_second * self._global.factor())
            slot = self.store.reserve(self.key, self._clock(), interval)
            known = self._clock()
            self._sleep_until(slot)
            # A thread that wakes up late (a busy interpreter) would send together with the ones
            # whose slots come next; it gives its slot up and queues again instead. Lateness
            # counts from when the slot was known: a slow store (a busy database) is no late
            # thread, and once a reservation outlasted two slots every thread would requeue forever.
            if self._clock() - max(slot, known) <= LATE_SLOTS * interval:
                return

    def _give_way(self, endpoint: str) -> None:
        """While a listing that goes first runs (`rank`: the usually largest types), the others'
        requests share what its endpoint cap leaves of the global budget, in a line of their own:
        first in first out, the global slots would go to every running listing alike, and the
        largest, the one that sets the run's length, would get a fifth of them. A listing that
        goes first says so in the store once a second (a slot that is only read back: a heartbeat).

        A child list's pages (`GET /v1/invoices/{id}/lines`) do not give way: they are read one
        after another while their parents' rows wait for them, and in a line of some fifty
        listing threads each page waited over a second (a long invoice's nine pages, 13 s)."""
        cap = self.endpoint_requests_per_second
        if cap is None or is_child_list(endpoint):
            return
        now = self._clock()
        if self.rank is not None and now - self._beat_at >= 1.0:
            self._beat_at = now
            self.store.reserve(f"{self.key} first {self.rank}", now, 0.0)
        higher = range(self.rank) if self.rank is not None else range(policies.RANKS_THAT_GO_FIRST)
        if not any(self._running(rank, now) for rank in higher):
            return
        rest = self.requests_per_second * self._global.factor() - cap
        if rest <= 0.25 * self.requests_per_second:  # a budget of about one endpoint's cap: nothing to give
            return
        self._sleep_until(self.store.reserve(f"{self.key} rest", self._clock(), SPACING_MARGIN / rest))

    def _running(self, rank: int, now: float) -> bool:
        read_at, beat = self._heard.get(rank, (-math.inf, -math.inf))
        if now - read_at >= 1.0:
            beat = self.store.reserve(f"{self.key} first {rank}", 0.0, 0.0)  # reads, changes nothing
            self._heard[rank] = (now, beat)
        return now - beat < 3.0

    def rate_limited(self, endpoint: str, reason: str | None, sent_at: float | None = None) -> bool:
        """Stripe answered 429 for `reason` (its Stripe-Rate-Limited-Reason header) to a request
        sent at `sent_at`: slow the endpoint down for `endpoint-…` reasons, the whole budget
        otherwise (also without a reason: a proxy's own limit). True when the rate was cut."""
        if reason and reason.startswith("endpoint"):
            return self._adaptive(endpoint_limit(endpoint, None)[0]).cut(sent_at)
        return self._global.cut(sent_at)

    def factors(self) -> dict[str, float]:
        """The share of its configured rate each limit runs at now, for logs: `global` and endpoints."""
        with self._lock:
            endpoints = dict(self._endpoints)
        return {"global": self._global.factor(), **{name: rate.factor() for name, rate in endpoints.items()}}

    def _adaptive(self, bucket: str) -> AdaptiveRate:
        with self._lock:
            rate = self._endpoints.get(bucket)
            if rate is None:
                rate = self._endpoints[bucket] = AdaptiveRate(self._clock)
            return rate

    def _sleep_until(self, moment: float) -> None:
        delay = moment - self._clock()
        if delay > 0:
            self.waited += delay
            self._sleep(delay)
