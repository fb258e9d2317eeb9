"""Which mode an incremental run chooses, and what each leaves in the table and the sync state
(actions/sync/runner.py, backfill.py, events.py), against a fake Stripe account."""

from __future__ import annotations

import pytest

from stripe_pipeline.actions import StripeCustomerAction, StripeSubscriptionAction
from stripe_pipeline.policies import EVENT_OVERLAP_SECONDS
from stripe_pipeline.settings import ConfigurationError
from stripe_pipeline.stripe_api.windows import STRIPE_EPOCH

from .engine import CUSTOMERS, customer, live, requests_to, rows, state

DAY = 86_400


def sync(stripe_account, warehouse, action=StripeCustomerAction, **options):
    return action(client=stripe_account, warehouse=warehouse).sync_incremental(**options)


def test_the_first_run_backfills_and_hands_over_to_the_events(stripe_account, warehouse):
    for n in range(3):
        customer(stripe_account, f"cus_{n}")
        stripe_account.tick()
    newest_event = max(stripe_account.collections["/v1/events"].values(), key=lambda event: event["created"])

    assert sync(stripe_account, warehouse).modes == ["backfill"]

    assert live(warehouse, StripeCustomerAction) == {"cus_0", "cus_1", "cus_2"}
    synced = state(warehouse, StripeCustomerAction)
    assert synced["backfill"] is None and synced["backfill_completed_at"] is not None
    # The events take over from the newest event there was when the listing began.
    assert (synced["events_cursor_created"], synced["events_cursor_id"]) == (newest_event["created"], newest_event["id"])
    assert synced["events_read_at"].timestamp() == stripe_account.now
    assert synced["stripe_account_id"] == "acct_fake"


def test_a_second_run_applies_only_the_events_after_the_cursor(stripe_account, warehouse):
    for n in range(3):
        customer(stripe_account, f"cus_{n}", event=None, name="Before")
    sync(stripe_account, warehouse)
    cursor = state(warehouse, StripeCustomerAction)["events_cursor_created"]
    stripe_account.tick(2 * EVENT_OVERLAP_SECONDS)
    customer(stripe_account, "cus_1", event="customer.updated", name="Renamed")
    customer(stripe_account, "cus_new")
    stripe_account.requests.clear()

    stats = sync(stripe_account, warehouse)

    assert stats.modes == ["incremental"] and stats.events == 2
    table = rows(warehouse, StripeCustomerAction)
    assert table["cus_1"]["name"] == "Renamed" and table["cus_0"]["name"] == "Before"
    assert live(warehouse, StripeCustomerAction) == {"cus_0", "cus_1", "cus_2", "cus_new"}
    # Read from the cursor (less the overlap); only the changed objects are retrieved again.
    assert [params["created"] for params in requests_to(stripe_account, "/v1/events")] == [{"gte": cursor - EVENT_OVERLAP_SECONDS}]
    assert sorted(path for path, _ in stripe_account.requests if path.startswith(CUSTOMERS)) == [
        f"{CUSTOMERS}/cus_1",
        f"{CUSTOMERS}/cus_new",
    ]
    synced = state(warehouse, StripeCustomerAction)
    assert synced["events_cursor_created"] == stripe_account.now and synced["events_read_at"].timestamp() == stripe_account.now

    # The next run reads those events again (the overlap) and knows them by ID: nothing to retrieve.
    stripe_account.tick()
    stripe_account.requests.clear()
    assert sync(stripe_account, warehouse).events == 0
    assert [path for path, _ in stripe_account.requests if path.startswith(CUSTOMERS)] == []


def test_an_objects_newest_event_wins_and_an_older_event_read_later_never_overwrites_it(stripe_account, warehouse):
    customer(stripe_account, "cus_1", name="First")
    sync(stripe_account, warehouse)
    stripe_account.tick(2 * EVENT_OVERLAP_SECONDS)
    # Two updates in one second: the event listed first (the newer) is the one applied.
    older = customer(stripe_account, "cus_1", event="customer.updated", name="Older")
    customer(stripe_account, "cus_1", event="customer.updated", name="Newest")
    assert sync(stripe_account, warehouse, trust_event_payloads=True).events == 2
    assert rows(warehouse, StripeCustomerAction)["cus_1"]["name"] == "Newest"

    # An event of the second before, visible only now (Stripe does not promise `created` order).
    stripe_account.tick()
    stripe_account.send("customer.updated", {**older, "name": "Late"}, created=older["created"] - 1)
    sync(stripe_account, warehouse, trust_event_payloads=True)
    assert rows(warehouse, StripeCustomerAction)["cus_1"]["name"] == "Newest"


def test_a_deletion_event_flags_the_row_and_a_canceled_subscription_stays(stripe_account, warehouse):
    customer(stripe_account, "cus_1", name="Kept data")
    subscription = {"id": "sub_1", "object": "subscription", "customer": "cus_1", "status": "active"}
    stripe_account.save("/v1/subscriptions", subscription, "customer.subscription.created")
    for action in (StripeCustomerAction, StripeSubscriptionAction):
        sync(stripe_account, warehouse, action)
    stripe_account.tick(2 * EVENT_OVERLAP_SECONDS)
    stripe_account.delete(CUSTOMERS, "cus_1", event="customer.deleted")
    # Canceling sends `customer.subscription.deleted`, and the subscription is still there.
    stripe_account.save("/v1/subscriptions", {**subscription, "status": "canceled"}, "customer.subscription.deleted")

    for action in (StripeCustomerAction, StripeSubscriptionAction):
        assert sync(stripe_account, warehouse, action).modes == ["incremental"]

    deleted = rows(warehouse, StripeCustomerAction)["cus_1"]
    assert deleted["_deleted_at"] is not None and deleted["name"] == "Kept data"  # a soft delete
    canceled = rows(warehouse, StripeSubscriptionAction)["sub_1"]
    assert canceled["_deleted_at"] is None and canceled["status"] == "canceled"


def test_an_unfinished_backfill_resumes_from_its_checkpoint_windows(stripe_account, warehouse):
    old = customer(stripe_account, "cus_old", event=None)
    stripe_account.tick(DAY)
    customer(stripe_account, "cus_new", event=None)
    started_at = stripe_account.now
    # A run that stopped with only the older objects' window still to list.
    StripeCustomerAction(client=stripe_account, warehouse=warehouse).save_state(
        stripe_account_id="acct_fake",
        livemode=False,
        verified_key="fake-key",
        backfill={
            "started_at": started_at,
            "windows": [[STRIPE_EPOCH, old["created"]]],
            "events_cursor": {"created": started_at, "id": None},
        },
    )
    stripe_account.tick()

    assert sync(stripe_account, warehouse).modes == ["backfill"]

    # Only the outstanding window is listed: what was listed before the stop is not fetched again.
    assert [params["created"] for params in requests_to(stripe_account, CUSTOMERS)] == [{"gte": STRIPE_EPOCH, "lte": old["created"]}]
    assert live(warehouse, StripeCustomerAction) == {"cus_old"}
    synced = state(warehouse, StripeCustomerAction)
    assert synced["backfill"] is None
    assert (synced["events_cursor_created"], synced["events_read_at"].timestamp()) == (started_at, started_at)


def test_a_backfill_stopped_by_an_error_resumes_where_its_last_flush_left_off(stripe_account, warehouse):
    for n in range(250):
        customer(stripe_account, f"cus_{n:03d}", event=None)
        stripe_account.tick(60)
    pages = []
    original_get = stripe_account.get

    def get_then_fail(path, params=None):
        if path == CUSTOMERS:
            pages.append(params)
            if len(pages) == 4:  # the empty window before 2011, two pages, then the error
                raise RuntimeError("the connection dropped")
        return original_get(path, params)

    stripe_account.get = get_then_fail
    action = StripeCustomerAction(client=stripe_account, warehouse=warehouse, flush_every=100, concurrency=1)
    with pytest.raises(RuntimeError, match="dropped"):
        action.sync_incremental()
    checkpoint = state(warehouse, StripeCustomerAction)["backfill"]
    assert checkpoint is not None and len(live(warehouse, StripeCustomerAction)) == 200

    stripe_account.get = original_get
    stripe_account.requests.clear()
    stats = sync(stripe_account, warehouse)
    assert stats.modes == ["backfill"] and len(live(warehouse, StripeCustomerAction)) == 250
    # Not the first page again, which the last checkpoint vouched for: the page after it (its
    # checkpoint never landed), the 50 not listed yet, and the boundary's second (its ties) again.
    assert stats.fetched == 100 + 50 + 1
    # Resumed: the listing starts at the checkpoint's windows, not at the newest object again.
    first = requests_to(stripe_account, CUSTOMERS)[0]
    assert [first["created"]["gte"], first["created"]["lte"]] in checkpoint["windows"]
    assert state(warehouse, StripeCustomerAction)["backfill"] is None


def test_events_last_read_more_than_30_days_ago_force_a_backfill(stripe_account, warehouse):
    customer(stripe_account, "cus_1")
    customer(stripe_account, "cus_gone")
    sync(stripe_account, warehouse)
    stripe_account.tick(30 * DAY)
    stripe_account.delete(CUSTOMERS, "cus_gone")  # its event is older than Stripe keeps

    stats = sync(stripe_account, warehouse)

    assert stats.modes == ["backfill"]
    # The backfill flags what Stripe no longer lists: no event can tell of it any more.
    assert live(warehouse, StripeCustomerAction) == {"cus_1"}
    assert rows(warehouse, StripeCustomerAction)["cus_gone"]["_deleted_at"] is not None
    assert state(warehouse, StripeCustomerAction)["events_read_at"].timestamp() == stripe_account.now


def test_a_full_refresh_flags_rows_stripe_no_longer_lists(stripe_account, warehouse):
    for object_id in ("cus_1", "cus_2", "cus_gone"):
        customer(stripe_account, object_id)
    sync(stripe_account, warehouse)
    stripe_account.tick()
    stripe_account.delete(CUSTOMERS, "cus_gone")  # no event: a deletion only a listing finds

    assert sync(stripe_account, warehouse, full_refresh=True).deleted == 1
    assert live(warehouse, StripeCustomerAction) == {"cus_1", "cus_2"}


def test_a_sync_state_of_another_account_stops_the_run(stripe_account, warehouse):
    customer(stripe_account, "cus_1")
    sync(stripe_account, warehouse)
    stripe_account.key_fingerprint, stripe_account._account = "another-key", "acct_other"

    with pytest.raises(ConfigurationError, match="belongs to Stripe account acct_fake"):
        sync(stripe_account, warehouse)
    # A full refresh adopts the new account.
    assert sync(stripe_account, warehouse, full_refresh=True).modes == ["backfill"]
    assert state(warehouse, StripeCustomerAction)["stripe_account_id"] == "acct_other"


def test_the_engine_calls_the_public_methods_a_subclass_overrides(stripe_account, warehouse):
    # The engine's state is the run's, but `flush`, `save_state` and `flag_deleted` are still the
    # action's: a subclass that overrides one to tell something else is heard, as before 0.9.
    heard: list[str] = []

    class Told(StripeCustomerAction):
        def flush(self):
            heard.append("flush")
            return super().flush()

        def save_state(self, **values):
            heard.append("save_state")
            super().save_state(**values)

        def flag_deleted(self, ids):
            ids = list(ids)
            heard.extend(f"deleted {object_id}" for object_id in ids)
            super().flag_deleted(ids)

    customer(stripe_account, "cus_a")
    customer(stripe_account, "cus_b")
    stripe_account.tick()
    assert sync(stripe_account, warehouse, Told).modes == ["backfill"]
    assert "flush" in heard and "save_state" in heard
    stripe_account.delete(CUSTOMERS, "cus_b", "customer.deleted")
    stripe_account.tick()
    heard.clear()
    assert sync(stripe_account, warehouse, Told).modes == ["incremental"]
    assert "deleted cus_b" in heard and live(warehouse, Told) == {"cus_a"}
