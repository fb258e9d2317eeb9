"""Progress lines every few seconds, so that a long listing is visibly alive."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ...policies import PROGRESS_EVERY_SECONDS
from ...stripe_api.windows import Remaining
from .stats import SyncStats


class Progress:
    """Counts one listing: a run that backfills and then reconciles logs each on its own."""

    def __init__(self, log: Any, table: str, stats: SyncStats, remaining: Callable[[], Remaining] | None = None):
        self._log, self._table, self._stats, self._remaining = log, table, stats, remaining
        self._started = self._last = time.monotonic()
        self._pages_before, self._fetched_before = stats.pages, stats.fetched

    def tick(self) -> None:
        now = time.monotonic()
        if now - self._last >= PROGRESS_EVERY_SECONDS:
            self._last = now
            self._log.info(f"{self._table}: {self._summary(now)}")

    def done(self) -> None:
        self._log.info(f"{self._table}: done, {self._summary(time.monotonic())}")

    def _summary(self, now: float) -> str:
        elapsed = max(now - self._started, 1e-9)
        pages = self._stats.pages - self._pages_before
        fetched = self._stats.fetched - self._fetched_before
        rate = fetched / elapsed
        summary = f"{pages:,} pages, {fetched:,} objects in {elapsed:.1f} s ({rate:,.0f} objects/s)"
        remaining = self._remaining() if self._remaining else None
        if remaining is None or (not remaining.objects and remaining.unmeasured is None):
            return summary
        if remaining.unmeasured is None:
            return summary + f", about {remaining.objects:,} to go" + (f" (~{remaining.objects / rate:,.0f} s)" if rate else "")
        # Not a guess: below the windows measured so far an account may hold nothing or millions.
        unknown = f"objects created {_day(remaining.unmeasured.gte)} to {_day(remaining.unmeasured.lte)} not counted yet"
        return summary + (
            f", about {remaining.objects:,} to go in the ranges measured so far; {unknown}" if remaining.objects else f"; {unknown}"
        )


def _day(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
