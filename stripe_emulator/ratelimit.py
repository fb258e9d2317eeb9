"""Stripe's request rate limiter: per API key, across all routes and per route.

Stripe counts requests per second per account ("100 operations per second" in live mode, 25
in a sandbox) and, on top, per endpoint (25/s unless documented otherwise), where an
endpoint is a method and route such as `GET /v1/customers`. Over either limit it answers
429 with `Stripe-Rate-Limited-Reason: global-rate` or `endpoint-rate`.

The limiter is a sliding-window log: a request is admitted when fewer than N admitted
requests of its key (and of its key and route) fall in the last `window` seconds. That is
exactly "at most N requests in any one-second window", which a token bucket is not: a full
bucket of N tokens refilled at N/s lets up to 2N through in one second. The log holds at
most N timestamps per key and route, so a check is a lock, a few pops and an append.
Refused requests do not enter the log: a 429 does not use up budget.
"""

from __future__ import annotations

import threading
import time
from collections import deque

GLOBAL_RATE = "global-rate"
ENDPOINT_RATE = "endpoint-rate"


class RateLimiter:
    """`rate` requests per API key and `endpoint_rate` per API key and route, per `window` seconds.

    Either limit may be None (off). Both can be changed on a live emulator, e.g.
    `emulator.rate_limiter.rate = 10`.
    """

    def __init__(self, rate: int | None = None, endpoint_rate: int | None = None, *, window: float = 1.0):
        self.rate = rate
        self.endpoint_rate = endpoint_rate
        self.window = window
        self._lock = threading.Lock()
        self._by_key: dict[str, deque[float]] = {}
        self._by_endpoint: dict[tuple[str, str], deque[float]] = {}

    @property
    def enabled(self) -> bool:
        return bool(self.rate or self.endpoint_rate)

    def admit(self, key: str, route: str) -> tuple[float, str | None]:
        """Take the request if the limits allow: (its time on `time.monotonic()`, None), else
        (its time, the Stripe-Rate-Limited-Reason it is refused for).

        The time is read under the lock, so admissions happen in time order and the window
        sums that tests compute from these times see exactly what the limiter saw.
        """
        rate, endpoint_rate = self.rate, self.endpoint_rate
        if not rate and not endpoint_rate:
            return time.monotonic(), None
        with self._lock:
            now = time.monotonic()
            horizon = now - self.window
            logs = []
            if rate:
                log = self._by_key.get(key)
                if log is None:
                    log = self._by_key[key] = deque()
                if not _has_room(log, rate, horizon):
                    return now, GLOBAL_RATE
                logs.append(log)
            if endpoint_rate:
                log = self._by_endpoint.get((key, route))
                if log is None:
                    log = self._by_endpoint[(key, route)] = deque()
                if not _has_room(log, endpoint_rate, horizon):
                    return now, ENDPOINT_RATE
                logs.append(log)
            for log in logs:
                log.append(now)
            return now, None

    def reset(self) -> None:
        """Forget past requests: the next ones start with a full budget."""
        with self._lock:
            self._by_key.clear()
            self._by_endpoint.clear()


def _has_room(log: deque[float], limit: int, horizon: float) -> bool:
    while log and log[0] <= horizon:
        log.popleft()
    return len(log) < limit
