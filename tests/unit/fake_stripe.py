"""An in-memory Stripe account that answers what the sync engine asks of a StripeApiClient.

The engine's decisions (actions/sync/) depend on what Stripe lists, in what order, and when:
this fake keeps objects per list path and events (the list at /v1/events) newest first, pages
them 100 at a time by `starting_after`, filters by `created` and `types[]`, and answers a
missing object with Stripe's 404. Its clock moves only when a test says so (`tick`), in whole
seconds, so that cursors and observation times are exact. No HTTP, no budget, no retries.
"""

from __future__ import annotations

import copy
import itertools
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import stripe

EVENTS = "/v1/events"


class FakeStripe:
    """Objects by list path (`/v1/customers`, and a parent's child list: `/v1/invoices/in_1/lines`)."""

    def __init__(self, now: int = 1_750_000_000, account: str = "acct_fake"):
        self.now = now
        self.collections: dict[str, dict[str, dict]] = {}
        self.requests: list[tuple[str, dict]] = []  # (path, params) of every GET
        self.stripe_account: str | None = None
        self.livemode = False
        self.key_fingerprint = "fake-key"
        self._account = account
        self._ids = itertools.count(1)
        self._lock = threading.Lock()  # the engine lists and retrieves from several threads

    # -- what tests do to the account -------------------------------------------------------

    def tick(self, seconds: int = 1) -> None:
        self.now += seconds

    def save(self, path: str, obj: dict, event: str | None = None) -> dict:
        """Create or replace an object (`created` defaults to now); `event`: also send one of that type."""
        obj = {"created": self.now, **obj}
        self.collections.setdefault(path, {})[obj["id"]] = obj
        if event:
            self.send(event, obj)
        return obj

    def delete(self, path: str, object_id: str, event: str | None = None) -> None:
        obj = self.collections[path].pop(object_id)
        if event:
            self.send(event, {**obj, "deleted": True})

    def send(self, event_type: str, obj: dict, created: int | None = None) -> dict:
        """An event about `obj`, created now (or at `created`: one that became visible late)."""
        event = {"id": f"evt_{next(self._ids):06d}", "object": "event", "type": event_type, "data": {"object": copy.deepcopy(obj)}}
        return self.save(EVENTS, {**event, "created": self.now if created is None else created})

    # -- what the engine asks (StripeApiClient's methods) --------------------------------------

    def get(self, path: str, params: dict | None = None) -> dict:
        params = dict(params or {})
        with self._lock:
            self.requests.append((path, params))
            segments = path.split("/")
            for end in range(3, len(segments) + 1):  # each object on the way: /v1/invoices/in_1/lines
                parent, object_id = "/".join(segments[: end - 1]), segments[end - 1]
                if parent in self.collections and object_id not in self.collections[parent]:
                    raise stripe.InvalidRequestError(f"No such object: '{object_id}'", "id", code="resource_missing", http_status=404)
            parent, _, object_id = path.rpartition("/")
            if parent in self.collections:
                return copy.deepcopy(self.collections[parent][object_id])
            return self._page(path, params)  # a list, empty until something is saved in it

    def list_pages(self, path: str, params: dict | None = None) -> Iterator[list[dict]]:
        params = dict(params or {})
        while True:
            page = self.get(path, params)
            if page["data"]:
                yield page["data"]
            if not page["has_more"] or not page["data"]:
                return
            params["starting_after"] = page["data"][-1]["id"]

    def retrieve(self, path: str, object_id: str) -> dict | None:
        try:
            return self.get(f"{path}/{object_id}")
        except stripe.InvalidRequestError as error:
            if error.http_status == 404:
                return None
            raise

    def server_now(self) -> int:
        return self.now

    def observed_at(self) -> datetime:
        return datetime.fromtimestamp(self.now, UTC)

    def observation_now(self) -> datetime:
        return self.observed_at()

    def account_id(self) -> str | None:
        return self._account

    # -- listing ------------------------------------------------------------------------------

    def _page(self, path: str, params: dict) -> dict:
        # Newest first; within a second, the one saved last first (as Stripe lists).
        objects = sorted(reversed(self.collections.get(path, {}).values()), key=lambda obj: -obj["created"])
        created = params.get("created") or {}
        bounds = {"gte": int.__ge__, "gt": int.__gt__, "lte": int.__le__, "lt": int.__lt__}
        objects = [obj for obj in objects if all(bounds[op](obj["created"], value) for op, value in created.items())]
        if params.get("types"):
            objects = [obj for obj in objects if obj["type"] in params["types"]]
        if params.get("ids"):
            objects = [obj for obj in objects if obj["id"] in params["ids"]]
        if params.get("starting_after"):
            after = [obj["id"] for obj in objects].index(params["starting_after"]) + 1
            objects = objects[after:]
        limit = params.get("limit", 10)
        return {"object": "list", "data": copy.deepcopy(objects[:limit]), "has_more": len(objects) > limit}
