"""Reading Stripe's Events API: what changed since a point in time, newest first.

Events list newest first, so the first event a walk meets for an object is its newest. A
walk back to the last cursor costs one request when nothing happened.
"""

from __future__ import annotations

import heapq
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
    """Events of the given types (all, when None), newest first. Stripe filters by at most 20
    types per request; more are read as one stream per 20, merged by `created`. The first 20
    (a type's own events, in declarations.watched_events) keep Stripe's order among themselves,
    so an object's own events still come newest first; the rest (its children's) only ask for
    their parent to be retrieved, in whatever order."""

    def __init__(self, client: StripeApiClient, types: tuple[str, ...] | None = None):
        if types is not None and not types:
            raise ValueError("Give at least one event type, or None for every type")
        self.client = client
        groups = (
            [types[start : start + MAX_TYPES_PER_REQUEST] for start in range(0, len(types), MAX_TYPES_PER_REQUEST)] if types else [None]
        )
        self._filters = [{"types": list(group)} if group else {} for group in groups]
        self.truncated = False  # `since` stopped at `max_pages` with more events to read

    def newest(self) -> EventCursor | None:
        """The newest event of these types, as a cursor: where a backfill's events begin."""
        newest = [page["data"][0] for page in (self.client.get(EVENTS_PATH, {**f, "limit": 1}) for f in self._filters) if page["data"]]
        return EventCursor.of(max(newest, key=lambda event: event["created"])) if newest else None

    def since(self, created_gte: int | None, stop_at: str | None = None, max_pages: int | None = None) -> Iterator[dict]:
        """Events created at or after `created_gte`, newest first, ending before the event
        `stop_at` if it is met, or after `max_pages` pages (of each stream). With neither bound,
        every event Stripe still keeps."""
        streams = [self._stream(f, created_gte, max_pages) for f in self._filters]
        merged = streams[0] if len(streams) == 1 else heapq.merge(*streams, key=lambda event: -event["created"])
        for event in merged:
            if event["id"] == stop_at:
                return
            yield event

    def _stream(self, filters: dict, created_gte: int | None, max_pages: int | None) -> Iterator[dict]:
        params = {**filters, "limit": 100}
        if created_gte is not None:
            params["created"] = {"gte": created_gte}
        pages = 0
        while True:
            page = self.client.get(EVENTS_PATH, params)
            pages += 1
            yield from page["data"]
            if max_pages is not None and pages >= max_pages:
                self.truncated = self.truncated or bool(page.get("has_more"))
                return
            if not page.get("has_more") or not page["data"]:
                return
            params["starting_after"] = page["data"][-1]["id"]
