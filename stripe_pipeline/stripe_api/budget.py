"""The request budget: how fast this deployment may call Stripe, shared by every process.

Stripe allows 100 read requests per second in live mode and 25 in test mode, per account.
Every request first reserves a slot: slots are spaced 1/rate apart, so no one-second window
holds more than `rate` requests, whichever process or thread sends them. A slot store shared
between processes lives in the warehouse (warehouse/rate_budget.py); this module holds the
arithmetic and an in-process store.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from typing import Protocol

from .. import policies

LIVE_REQUESTS_PER_SECOND = policies.LIVE_REQUESTS_PER_SECOND
TEST_REQUESTS_PER_SECOND = policies.TEST_REQUESTS_PER_SECOND
SPACING_MARGIN = policies.BUDGET_SPACING_MARGIN  # why: see policies.py
LATE_SLOTS = policies.BUDGET_LATE_SLOTS


def default_rate(api_key: str) -> float:
    """Stripe's read limit for the key's mode."""
    return TEST_REQUESTS_PER_SECOND if api_key.startswith(("sk_test_", "rk_test_")) else LIVE_REQUESTS_PER_SECOND


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


class RateBudget:
    """Waits until a request may go: `budget.wait("GET /v1/customers")`."""

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
        self.key = key
        self.requests_per_second = requests_per_second
        self.endpoint_requests_per_second = endpoint_requests_per_second
        self.store = store or LocalSlotStore()
        self._clock, self._sleep = clock, sleep
        self.waited = 0.0  # seconds spent waiting for slots, for logs

    def wait(self, endpoint: str) -> None:
        interval = SPACING_MARGIN / self.requests_per_second
        while True:
            slot = self.store.reserve(self.key, self._clock(), interval)
            if self.endpoint_requests_per_second:
                slot = self.store.reserve(f"{self.key} {endpoint}", slot, SPACING_MARGIN / self.endpoint_requests_per_second)
            known = self._clock()
            if slot > known:
                self.waited += slot - known
                self._sleep(slot - known)
            # A thread that wakes up late (a busy interpreter) would send together with the ones
            # whose slots come next; it gives its slot up and queues again instead. Lateness
            # counts from when the slot was known: a slow store (a busy database) is no late
            # thread, and once a reservation outlasted two slots every thread would requeue forever.
            if self._clock() - max(slot, known) <= LATE_SLOTS * interval:
                return
