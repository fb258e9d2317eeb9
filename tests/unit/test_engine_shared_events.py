"""The tables of one run read their account's events once (actions/sync/event_log.py): the first
table to need them reads every type and stages them in the warehouse, the others take theirs
from there, and the next run reads only what is new since."""

from __future__ import annotations

from stripe_pipeline.actions import StripeCustomerAction, StripeProductAction
from stripe_pipeline.policies import EVENT_OVERLAP_SECONDS

from .engine import customer, requests_to, rows

PRODUCTS = "/v1/products"


def product(stripe_account, object_id: str, event: str, name: str) -> dict:
    return stripe_account.save(PRODUCTS, {"id": object_id, "object": "product", "name": name}, event)


def sync_run(stripe_account, warehouse, run_key: str) -> list[list[str]]:
    actions = (StripeCustomerAction, StripeProductAction)
    return [action(client=stripe_account, warehouse=warehouse).sync_incremental(run_key=run_key).modes for action in actions]


def test_the_tables_of_one_run_read_the_accounts_events_once(stripe_account, warehouse):
    customer(stripe_account, "cus_1", name="Ada")
    product(stripe_account, "prod_1", "product.created", "Plan")
    assert sync_run(stripe_account, warehouse, "run-1") == [["backfill"], ["backfill"]]
    stripe_account.tick(2 * EVENT_OVERLAP_SECONDS)
    customer(stripe_account, "cus_1", event="customer.updated", name="Ada Lovelace")
    product(stripe_account, "prod_1", "product.updated", "Plan 2")
    stripe_account.tick(2 * EVENT_OVERLAP_SECONDS)  # the read is later than the tables' cursors
    stripe_account.requests.clear()

    assert sync_run(stripe_account, warehouse, "run-2") == [["incremental"], ["incremental"]]

    (read,) = requests_to(stripe_account, "/v1/events")  # every type, for both tables
    assert "types" not in read
    assert rows(warehouse, StripeCustomerAction)["cus_1"]["name"] == "Ada Lovelace"
    assert rows(warehouse, StripeProductAction)["prod_1"]["name"] == "Plan 2"

    # The next run reads from where this one's read ended (less the overlap), not from the cursors.
    read_at = stripe_account.now
    stripe_account.tick(2 * EVENT_OVERLAP_SECONDS)
    product(stripe_account, "prod_1", "product.updated", "Plan 3")
    stripe_account.requests.clear()
    sync_run(stripe_account, warehouse, "run-3")
    (read,) = requests_to(stripe_account, "/v1/events")
    assert read_at - EVENT_OVERLAP_SECONDS - 60 < read["created"]["gte"] <= read_at - EVENT_OVERLAP_SECONDS
    assert rows(warehouse, StripeProductAction)["prod_1"]["name"] == "Plan 3"
