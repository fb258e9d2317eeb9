"""What the engine's unit tests share: an action run against a fake Stripe account (fake_stripe.py)
and an in-memory SQLite warehouse, and the table as a user would read it.

SQLite in memory (`sqlite://`) works here because the engine touches the warehouse from one
thread only: SQLite's writes are not handed to the background writer (Dialect.writes_in_background),
and the threads that list, retrieve and fetch child lists only call the client. SQLAlchemy keeps
one connection per thread for such a database, so a warehouse call from another thread would
see an empty database and fail at once, not pass by chance.
"""

from __future__ import annotations

import sqlalchemy as sa

from stripe_pipeline.actions import StripeSyncActionMixin
from stripe_pipeline.warehouse import Warehouse

from .fake_stripe import FakeStripe

CUSTOMERS = "/v1/customers"


def rows(warehouse: Warehouse, action: type[StripeSyncActionMixin]) -> dict[str, dict]:
    """The action's table, every row by ID, `_deleted_at` included."""
    with warehouse.engine.connect() as connection:
        return {row["id"]: dict(row) for row in connection.execute(sa.select(action.table())).mappings()}


def live(warehouse: Warehouse, action: type[StripeSyncActionMixin]) -> set[str]:
    return {object_id for object_id, row in rows(warehouse, action).items() if row["_deleted_at"] is None}


def state(warehouse: Warehouse, action: type[StripeSyncActionMixin]) -> dict:
    found = warehouse.load_state(action.table_name(), None)
    assert found is not None
    return found


def customer(stripe: FakeStripe, object_id: str, event: str | None = "customer.created", **fields) -> dict:
    return stripe.save(CUSTOMERS, {"id": object_id, "object": "customer", "email": f"{object_id}@example.com", **fields}, event)


def requests_to(stripe: FakeStripe, path: str) -> list[dict]:
    return [params for requested, params in stripe.requests if requested == path]
