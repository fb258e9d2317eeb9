"""Every request the sync can build is one the API accepts: each list, child list, retrieve and
events request of every type carries only parameters that the installed `stripe` package says
its endpoint takes (the catalogue reads them from the package's params classes). Stripe answers
any other parameter with a 400, so one stray `limit` fails a table for every user.

No HTTP and no database server: a client whose transport is a recording fake, and an in-memory
SQLite warehouse.
"""

from __future__ import annotations

import re

import pytest

from stripe_pipeline.actions import ALL_ACTIONS
from stripe_pipeline.catalog import CATALOGUE, CHILD_TABLES, TYPES
from stripe_pipeline.stripe_api import StripeApiClient
from stripe_pipeline.warehouse import Warehouse

OBJECT_ID = "obj_1"


def _pattern(path: str) -> re.Pattern[str]:
    return re.compile("^" + re.escape(path).replace(r"\{id\}", "[^/]+") + "$")


# Each endpoint the sync may call, with the parameters it takes.
RETRIEVES = [(_pattern(t.path + "/{id}"), frozenset({"expand"})) for t in TYPES.values() if t.path]
ROUTES = [
    (_pattern("/v1/account"), frozenset({"expand"})),
    (_pattern("/v1/events"), frozenset(CATALOGUE["types"]["event"]["list_params"])),
    *((_pattern(t.path), frozenset(t.list_accepts)) for t in TYPES.values() if t.path),
    *((_pattern(c.url.replace("{parent}", "{id}")), frozenset(c.accepts)) for c in CHILD_TABLES.values()),
    *RETRIEVES,
]


def accepted(path: str) -> frozenset[str]:
    found = [accepts for pattern, accepts in ROUTES if pattern.match(path)]
    assert found, f"the sync called {path}, which no catalogued endpoint is"
    return found[0]


class RecordingClient(StripeApiClient):
    """Answers every request from memory and records it: lists give one object (so that its
    children are fetched) and then nothing, events give one event of `event_type`."""

    def __init__(self, event_type: str | None = None, object_name: str = "customer"):
        super().__init__("sk_test_recording", "https://api.stripe.invalid")
        self.requests: list[tuple[str, dict]] = []
        self.event_type, self.object_name = event_type, object_name

    def _request_json(self, method: str, path: str, params: dict) -> dict:
        self.requests.append((path, dict(params)))
        if path == "/v1/account":
            return {"id": "acct_recording", "object": "account"}
        if path == "/v1/events":
            events = [] if self.event_type is None or "starting_after" in params else [self._event()]
            return {"object": "list", "data": events[: params.get("limit", 10)], "has_more": False}
        if any(pattern.match(path) for pattern, _ in RETRIEVES):
            return {"id": path.rsplit("/", 1)[1], "object": self.object_name, "created": 1767225600}
        first_page = "starting_after" not in params and "ending_before" not in params
        data = [{"id": OBJECT_ID, "object": self.object_name, "created": 1767225600}] if first_page else []
        return {"object": "list", "data": data[: params.get("limit", 10)], "has_more": False}

    def _event(self) -> dict:
        data = {"id": OBJECT_ID, "object": self.object_name, "created": 1767225600}
        return {"id": "evt_1", "object": "event", "type": self.event_type, "created": 1767225600, "data": {"object": data}}


def _stray(client: RecordingClient) -> list[str]:
    return [f"{path} {sorted(set(params) - accepted(path))}" for path, params in client.requests if set(params) - accepted(path)]


@pytest.mark.parametrize("action", ALL_ACTIONS, ids=lambda action: action.table_name())
def test_every_request_of_every_type_is_one_the_api_accepts(action):
    warehouse = Warehouse("sqlite://")
    events = action.watched_events()
    client = RecordingClient(events[0] if events else None, action.object_name())
    sync = lambda: action(client=client, warehouse=warehouse, children="all")  # noqa: E731 - every child table too
    sync().sync_incremental()  # a backfill: created windows or a cursor walk, and the child lists
    sync().sync_incremental(reconcile=True)  # the events since, each object retrieved; a relisting
    sync().sync_by_ids([OBJECT_ID, "obj_2"])  # by ID: retrieves, or a list filtered by IDs
    called = {re.sub(r"/obj_\d+", "/{id}", path) for path, _ in client.requests}
    assert action.api_path() in called and "/v1/events" in (called if events else {"/v1/events"})
    assert all(re.sub(r"\{parent\}", "{id}", c.child_table.url) in called for c in action.child_actions if not c.child_table.parent_param)
    assert _stray(client) == []
