"""Reading Stripe's Events API: what changed since a point in time, newest first.

Events list newest first, so the first event a walk meets for an object is its newest. A
walk back to the last cursor costs one request when nothing happened.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from .. import policies
from .client import StripeApiClient

EVENTS_PATH = "/v1/events"
# Stripe keeps events for 30 days; events last read longer ago than this leave a gap that events
# cannot fill (a day of margin against clock skew and long runs).
SAFE_EVENT_AGE_SECONDS = policies.SAFE_EVENT_AGE_SECONDS
MAX_TYPES_PER_REQUEST = 20


@dataclass(frozen=True)
class EventCursor:
    """The last event processed: its `created` and ID. No ID means "everything after `created`"."""

    created: int
    id: str | None = None

    @classmethod
    def of(cls, event: dict) -> EventCursor:
        return cls(event["created"], event["id"])


class EventReader:
    def __init__(self, client: StripeApiClient, types: tuple[str, ...] | None = None):
        if types is not None and not 0 < len(types) <= MAX_TYPES_PER_REQUEST:
            raise ValueError(f"Stripe filters events by 1 to {MAX_TYPES_PER_REQUEST} types per request, not {len(types)}")
        self.client = client
        self._filter = {"types": list(types)} if types else {}
        self.truncated = False  # `since` stopped at `max_pages` with more events to read

    def newest(self) -> EventCursor | None:
        """The newest event of these types, as a cursor: where a backfill's events begin."""
        page = self.client.get(EVENTS_PATH, {**self._filter, "limit": 1})
        return EventCursor.of(page["data"][0]) if page["data"] else None

    def since(self, created_gte: int | None, stop_at: str | None = None, max_pages: int | None = None) -> Iterator[dict]:
        """Events created at or after `created_gte`, newest first, ending before the event
        `stop_at` if it is met, or after `max_pages` pages. With neither bound, every event
        Stripe still keeps."""
        params = {**self._filter, "limit": 100}
        if created_gte is not None:
            params["created"] = {"gte": created_gte}
        pages = 0
        while True:
            page = self.client.get(EVENTS_PATH, params)
            pages += 1
            for event in page["data"]:
                if event["id"] == stop_at:
                    return
                yield event
            if max_pages is not None and pages >= max_pages:
                self.truncated = bool(page.get("has_more"))
                return
            if not page.get("has_more") or not page["data"]:
                return
            params["starting_after"] = page["data"][-1]["id"]
