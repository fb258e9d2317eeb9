"""Stripe's clock to the microsecond: when a response's data was observed, so that of two
observations of one object, the newer always wins (`_observed_at`, warehouse/rules.py).

Stripe's `Date` header has whole seconds, and so does an event's `created`. Within one second
an ID sync and a backfill page can observe the same object before and after a change; with
whole seconds the two tie, and the later writer, often the older page, wins. So each response
is dated by this machine's clock when it arrived, kept within its `Date` second:

- Where this machine's clock agrees with Stripe's (NTP keeps both within milliseconds of UTC),
  that is the local receive time itself: monotonic on one host, and as close across hosts as
  their clocks are, so processes and machines order their observations alike.
- Where it does not (a proxy, a fake, an emulator whose clock runs apart), it is the local time
  plus an offset that agrees with every `Date` seen in this process: the least one the first
  disagreeing answer allows, raised only when a later `Date` proves it too small, so one
  process's observations keep their order.

A request's data was read at Stripe between the request leaving and its answer arriving; any
point of that span orders two requests that do not overlap. The arrival is the one each
response has, and clamped to its `Date` second it never claims a time Stripe's header denies.
An event's payload is counted at the end of its second (events.py): a later change has a later
event, which replaces it.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

# The last microsecond of a `Date` second: observations are kept within [Date, Date + 1).
END_OF_SECOND = 1 - 1e-6


class ServerClock:
    """One per Stripe host and process (`for_host`): every client of a process dates its
    responses with the same offset."""

    def __init__(self) -> None:
        self._offset = 0.0  # Stripe's clock minus this machine's, as far as the Date headers tell
        self._lock = threading.Lock()

    def observe(self, date: int, sent: float, received: float) -> float:
        """A response of Stripe's second `date` to a request that left at `sent` and was
        answered at `received` (this machine's time.time()): when its data was observed, by
        Stripe's clock (Unix time with microseconds)."""
        with self._lock:
            if not (date <= received + self._offset and sent + self._offset < date + 1):
                # The answer came from a later second than the offset says, or the request left
                # after its answer's second had ended: the offset becomes the least that agrees
                # with this answer, a bound Stripe's true offset is never below.
                self._offset = date - received
            estimate = received + self._offset
        return min(max(estimate, date), date + END_OF_SECOND)

    def now(self) -> float:
        """Stripe's time now, as far as this process knows it."""
        return time.time() + self._offset


_CLOCKS: dict[str, ServerClock] = {}
_CLOCKS_GUARD = threading.Lock()


def for_host(api_base: str) -> ServerClock:
    with _CLOCKS_GUARD:
        return _CLOCKS.setdefault(api_base, ServerClock())


def end_of_second(unix_time: int) -> datetime:
    """An event's `created` second as an observation time: its last microsecond."""
    return datetime.fromtimestamp(unix_time + END_OF_SECOND, UTC)
