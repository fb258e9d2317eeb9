"""What one sync did; the Dagster layer turns it into asset metadata."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from ...warehouse import UpsertResult


@dataclass
class SyncStats:
    fetched: int = 0
    pages: int = 0
    written: UpsertResult = field(default_factory=UpsertResult)
    deleted: int = 0  # rows newly marked with _deleted_at
    restored: int = 0  # rows flagged deleted that Stripe still lists (reconcile)
    listed: int = 0  # objects the reconcile pass listed: what Stripe has
    events: int = 0  # events read
    events_skipped: int = 0  # events of other types or objects that a page held anyway
    failed: int = 0  # objects kept in _stripe_sync_errors instead of the table
    drifted: Counter = field(default_factory=Counter)  # field -> values that did not fit its column (NULL; `_raw` keeps them)
    modes: list[str] = field(default_factory=list)  # backfill, incremental, reconcile
    missing_ids: list[str] = field(default_factory=list)

    def __iadd__(self, other: SyncStats) -> SyncStats:
        """Add another run's counts (one per Connect account) to these."""
        for name in ("fetched", "pages", "deleted", "restored", "listed", "events", "events_skipped", "failed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.written += other.written
        self.drifted.update(other.drifted)
        self.modes.extend(other.modes)
        self.missing_ids.extend(other.missing_ids)
        return self
