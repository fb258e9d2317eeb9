"""Incremental sync: backfill, then the Events API; retention, resume after kill -9, reconcile."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime

import sqlalchemy as sa

from stripe_pipeline.actions import (
    StripeCouponAction,
    StripeCustomerAction,
    StripeProductAction,
    StripeSubscriptionAction,
)
from stripe_pipeline.models import StripeCoupon, StripeCustomer, StripeProduct, StripeSubscription
from stripe_pipeline.models.sync_state import SyncState

from .conftest import table_rows

DAY = 86_400


def _live_rows(warehouse, table) -> dict[str, dict]:
    return {i: row for i, row in table_rows(warehouse, table).items() if row["_deleted_at"] is None}


def _assert_table_matches(emulator, warehouse, action) -> None:
    """Every object the emulator has is a live row holding exactly what the API returns."""
    path = action.table_name()
    visible = {object_id: obj for object_id, obj in emulator.store.collections[path].objects.items()}
    live = _live_rows(warehouse, action.table())
    assert set(live) == set(visible)
    for object_id, obj in visible.items():
        assert live[object_id]["_raw"] == obj, object_id


def test_create_update_and_delete_between_runs_reach_the_table(emulator, client_for, warehouse):
    client = client_for(emulator)
    actions = [StripeCustomerAction, StripeProductAction, StripeSubscriptionAction]
    for action in actions:
        assert action(client=client, warehouse=warehouse).sync_incremental().modes == ["backfill"]

    store = emulator.store
    new_customer = store.create("customer", name="New Customer")
    changed_customer, deleted_customer = list(store.collections["customers"].objects)[:2]
    store.update(changed_customer, name="Renamed", metadata={"tier": "gold"})
    store.delete(deleted_customer)
    new_product = store.create("product", name="Add-on")
    deleted_product = next(p for p in store.collections["products"].objects if p != new_product["id"])
    store.delete(deleted_product)
    canceled = next(s for s, obj in store.collections["subscriptions"].objects.items() if obj["status"] != "canceled")
    store.delete(canceled)  # cancels: the subscription stays

    for action in actions:
        stats = action(client=client, warehouse=warehouse).sync_incremental()
        assert stats.modes == ["incremental"]
        _assert_table_matches(emulator, warehouse, action)

    customers = table_rows(warehouse, StripeCustomer.__table__)
    assert customers[new_customer["id"]]["name"] == "New Customer"
    assert customers[changed_customer]["name"] == "Renamed" and customers[changed_customer]["metadata"] == {"tier": "gold"}
    # A delete is a soft delete: the row keeps its last data.
    assert customers[deleted_customer]["_deleted_at"] is not None and customers[deleted_customer]["email"]
    assert table_rows(warehouse, StripeProduct.__table__)[deleted_product]["_deleted_at"] is not None
    subscription = table_rows(warehouse, StripeSubscription.__table__)[canceled]
    assert subscription["status"] == "canceled" and subscription["_deleted_at"] is None


def test_a_deleted_and_recreated_id_is_live_again_with_its_new_data(emulator, client_for, warehouse):
    client = client_for(emulator)
    sync = lambda: StripeCouponAction(client=client, warehouse=warehouse).sync_incremental()  # noqa: E731
    sync()
    emulator.store.create("coupon", id="SPRING", percent_off=10.0, name="Spring")
    sync()
    emulator.store.delete("SPRING")
    sync()
    deleted = table_rows(warehouse, StripeCoupon.__table__)["SPRING"]
    assert deleted["_deleted_at"] is not None and deleted["percent_off"] == 10.0

    emulator.store.create("coupon", id="SPRING", percent_off=25.0, name="Spring again")
    sync()
    recreated = table_rows(warehouse, StripeCoupon.__table__)["SPRING"]
    assert recreated["_deleted_at"] is None
    assert (recreated["percent_off"], recreated["name"]) == (25.0, "Spring again")


def test_older_events_never_overwrite_newer_data(emulator, client_for, warehouse):
    client = client_for(emulator)
    StripeCustomerAction(client=client, warehouse=warehouse).sync_incremental()
    store = emulator.store
    first, deleted_then_kept, *others = list(store.collections["customers"].objects)
    store.update(first, name="Old name")
    # More than a page of events between the two updates of `first`: its older event is on a later page.
    for _ in range(6):
        for other in others:
            store.update(other, metadata={"n": str(time.monotonic_ns())})
    store.update(first, name="Newest name")
    # A newer delete wins over the older update of the same customer.
    store.update(deleted_then_kept, name="Before deletion")
    store.delete(deleted_then_kept)

    emulator.requests.reset()
    stats = StripeCustomerAction(client=client, warehouse=warehouse).sync_incremental(trust_event_payloads=True)
    assert stats.events == 1 + 6 * len(others) + 1 + 2
    assert emulator.requests.by_route["GET /v1/events"] == -(-stats.events // 100)  # pages of 100
    # Trusting the payloads costs no retrieve requests.
    assert emulator.requests.by_route["GET /v1/customers/:id"] == 0
    rows = table_rows(warehouse, StripeCustomer.__table__)
    assert rows[first]["name"] == "Newest name" and rows[first]["_raw"] == store.collections["customers"].objects[first]
    assert rows[deleted_then_kept]["_deleted_at"] is not None
    _assert_table_matches(emulator, warehouse, StripeCustomerAction)


def test_changed_objects_are_retrieved_once_each_in_their_current_shape(emulator, client_for, warehouse):
    client = client_for(emulator)
    StripeCustomerAction(client=client, warehouse=warehouse).sync_incremental()
    changed = list(emulator.store.collections["customers"].objects)[:3]
    for name in ("a", "b", "c"):
        for object_id in changed:
            emulator.store.update(object_id, name=name)
    emulator.requests.reset()
    stats = StripeCustomerAction(client=client, warehouse=warehouse).sync_incremental()
    assert stats.events == 9 and stats.written.updated == 3
    assert emulator.requests.by_route == {"GET /v1/events": 1, "GET /v1/customers/:id": 3}


class ShoutingCustomerAction(StripeCustomerAction):
    def post_set_default(self, defaults):
        defaults["name"] = (defaults["name"] or "").upper()


def test_hooks_apply_to_objects_that_arrive_through_events(emulator, client_for, warehouse):
    client = client_for(emulator)
    ShoutingCustomerAction(client=client, warehouse=warehouse).sync_incremental()
    changed = next(iter(emulator.store.collections["customers"].objects))
    emulator.store.update(changed, name="Quiet Name")
    created = emulator.store.create("customer", name="New And Quiet")
    for trust_event_payloads in (False, True):
        emulator.store.update(changed, name=f"Quiet {trust_event_payloads}")
        ShoutingCustomerAction(client=client, warehouse=warehouse).sync_incremental(trust_event_payloads=trust_event_payloads)
        rows = table_rows(warehouse, StripeCustomer.__table__)
        assert rows[changed]["name"] == f"QUIET {trust_event_payloads}".upper()
    assert rows[created["id"]]["name"] == "NEW AND QUIET"


def test_a_run_with_nothing_new_makes_exactly_one_events_request(emulator, client_for, warehouse):
    client = client_for(emulator)
    StripeCustomerAction(client=client, warehouse=warehouse).sync_incremental()
    emulator.store.update(next(iter(emulator.store.collections["customers"].objects)), name="Changed once")
    StripeCustomerAction(client=client, warehouse=warehouse).sync_incremental()

    emulator.requests.reset()
    started = time.monotonic()
    stats = StripeCustomerAction(client=client, warehouse=warehouse).sync_incremental()
    assert emulator.requests.snapshot()["by_route"] == {"GET /v1/events": 1}
    assert stats.modes == ["incremental"] and stats.events == 0 and stats.written.inserted + stats.written.updated == 0
    assert time.monotonic() - started < 5


def test_a_cursor_past_event_retention_falls_back_to_a_full_backfill(emulator, client_for, warehouse, caplog):
    client = client_for(emulator)
    StripeCustomerAction(client=client, warehouse=warehouse).sync_incremental()
    emulator.clock.advance(28 * DAY)
    assert StripeCustomerAction(client=client, warehouse=warehouse).sync_incremental().modes == ["incremental"]

    changed, deleted = list(emulator.store.collections["customers"].objects)[:2]
    emulator.store.update(changed, name="Changed, event expires")
    emulator.store.delete(deleted)
    emulator.clock.advance(31 * DAY)  # the events of those changes are gone
    with caplog.at_level(logging.INFO):
        stats = StripeCustomerAction(client=client, warehouse=warehouse).sync_incremental()
    assert stats.modes == ["backfill"]
    assert "full backfill, because events were last read" in caplog.text and "30 days" in caplog.text
    _assert_table_matches(emulator, warehouse, StripeCustomerAction)
    # The deletion that no event can tell any more is found by the backfill itself.
    assert stats.deleted == 1 and table_rows(warehouse, StripeCustomer.__table__)[deleted]["_deleted_at"] is not None
    assert StripeCustomerAction(client=client, warehouse=warehouse).sync_incremental().modes == ["incremental"]


def test_the_state_row_records_the_cursor_per_object_type_and_account(emulator, client_for, warehouse):
    client = client_for(emulator)
    StripeCustomerAction(client=client, warehouse=warehouse).sync_incremental()
    emulator.store.create("customer", name="After the backfill")
    StripeCustomerAction(client=client, warehouse=warehouse).sync_incremental()
    state_engine = warehouse.state.database.engine  # the warehouse's, unless STATE_URL names another database
    with state_engine.connect() as connection:
        [state] = connection.execute(sa.select(SyncState.__table__)).mappings().all()
    newest_event = max(emulator.store.events.objects.values(), key=lambda e: (e["created"], e["id"]))
    assert (state["object_type"], state["account"]) == ("customers", "")
    assert state["backfill"] is None and state["backfill_completed_at"] is not None
    assert (state["events_cursor_created"], state["events_cursor_id"]) == (newest_event["created"], newest_event["id"])
    with state_engine.connect() as connection:  # SQL NULL, as the query in docs/tables.md expects
        assert connection.scalar(sa.select(sa.func.count()).select_from(SyncState.__table__).where(SyncState.backfill.is_(None))) == 1


def test_reconcile_flags_a_deletion_no_event_reported_and_restores_wrong_flags(emulator, client_for, warehouse):
    client = client_for(emulator)
    StripeCustomerAction(client=client, warehouse=warehouse).sync_incremental()
    vanished, wrongly_flagged = list(emulator.store.collections["customers"].objects)[:2]
    emulator.store.collections["customers"].remove(vanished)  # gone, and no event says so
    table = StripeCustomer.__table__
    with warehouse.engine.begin() as connection:
        connection.execute(table.update().where(table.c.id == wrongly_flagged).values(_deleted_at=sa.func.now()))

    assert StripeCustomerAction(client=client, warehouse=warehouse).sync_incremental().deleted == 0
    stats = StripeCustomerAction(client=client, warehouse=warehouse).sync_incremental(reconcile=True)
    assert stats.modes == ["incremental", "reconcile"] and (stats.deleted, stats.restored) == (1, 1)
    rows = table_rows(warehouse, table)
    assert rows[vanished]["_deleted_at"] is not None and rows[wrongly_flagged]["_deleted_at"] is None
    _assert_table_matches(emulator, warehouse, StripeCustomerAction)


_BACKFILL_SCRIPT = """
import sys
from stripe_pipeline.actions import StripeCustomerAction
from stripe_pipeline.warehouse import Warehouse
base_url, url, schema = sys.argv[1:]
warehouse = Warehouse(url, schema or None)
# A flush of flush_every rows, where a cloud warehouse's would take them all (least_flush: Snowflake's 10,000, BigQuery's 20,000).
warehouse.database.dialect.least_flush = 0
action = StripeCustomerAction(api_key="sk_test_emulator", api_base=base_url, warehouse=warehouse, concurrency=4)
action.sync_all()
"""


def test_a_backfill_killed_mid_way_resumes_from_its_checkpoint(make_emulator, client_for, warehouse, warehouse_config):
    # Slow enough that the kill lands mid-way, also where processes take turns writing (DuckDB).
    emulator = make_emulator({"customer": 3_000}, latency=0.05)
    pages_needed, concurrency = 30, 4
    child = subprocess.Popen(
        [sys.executable, "-c", _BACKFILL_SCRIPT, emulator.base_url, warehouse_config["url"], warehouse_config["schema"]],
        env={**os.environ, "STRIPE_API_KEY": ""},
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and warehouse.count(StripeCustomer.__table__) < 1_000:
        time.sleep(0.01)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL
    pages_before_kill = emulator.requests.by_route["GET /v1/customers"]
    rows_before = warehouse.count(StripeCustomer.__table__)
    assert 1_000 <= rows_before < 3_000

    emulator.requests.reset()
    stats = StripeCustomerAction(client=client_for(emulator), warehouse=warehouse, concurrency=concurrency).sync_incremental()
    assert stats.modes == ["backfill"]
    pages_after = emulator.requests.by_route["GET /v1/customers"]
    # What was written before the kill is not fetched again (each flush saves its checkpoint in
    # its own transaction), except the page the last flush cut in two and ties at the windows' edges.
    assert stats.fetched <= 3_000 - rows_before + 100 + 50
    # Fetched twice: that page, the pages queued (one per worker) and in flight when the process
    # died; a few more requests go to windows' edges.
    assert pages_before_kill + pages_after - pages_needed <= 1 + 2 * concurrency + 4
    # One request for Stripe's time: a checkpoint older than event retention would start over.
    assert emulator.requests.by_route["GET /v1/events"] == 1
    _assert_table_matches(emulator, warehouse, StripeCustomerAction)
    with warehouse.engine.connect() as connection:
        assert connection.scalar(sa.select(sa.func.count()).select_from(StripeCustomer.__table__)) == 3_000


def test_a_late_event_is_applied_and_a_late_older_event_overwrites_nothing(emulator, client_for, warehouse):
    client = client_for(emulator)
    store = emulator.store
    StripeCustomerAction(client=client, warehouse=warehouse).sync_incremental()
    late, kept = list(store.collections["customers"].objects)[:2]
    store.update(kept, name="Newest")
    StripeCustomerAction(client=client, warehouse=warehouse).sync_incremental(trust_event_payloads=True)
    cursor_created = max(e["created"] for e in store.events.objects.values())

    # Two events become visible after the run, dated before its cursor: a change nobody has seen
    # yet, and an older version of `kept`, whose newest event was applied already.
    changed = store.collections["customers"].objects[late] | {"name": "Seen late"}
    store.collections["customers"].put(changed)
    store.emit_event("customer.updated", changed, created=cursor_created - 10)
    stale = store.collections["customers"].objects[kept] | {"name": "Stale"}
    store.emit_event("customer.updated", stale, created=cursor_created - 5)

    stats = StripeCustomerAction(client=client, warehouse=warehouse).sync_incremental()
    rows = table_rows(warehouse, StripeCustomer.__table__)
    assert rows[late]["name"] == "Seen late" and rows[kept]["name"] == "Newest"
    assert stats.events == 2


def test_an_event_payload_older_than_the_row_overwrites_nothing(emulator, client_for, warehouse):
    """Newer always wins: a payload is the object as of its event's `created`."""
    client = client_for(emulator)
    store = emulator.store
    StripeCustomerAction(client=client, warehouse=warehouse).sync_incremental()
    customer = next(iter(store.collections["customers"].objects))
    observed = table_rows(warehouse, StripeCustomer.__table__)[customer]["_observed_at"]
    store.emit_event(
        "customer.updated",
        store.collections["customers"].objects[customer] | {"name": "From before"},
        created=int(observed.timestamp()) - 60,
    )
    StripeCustomerAction(client=client, warehouse=warehouse).sync_incremental(trust_event_payloads=True)
    assert table_rows(warehouse, StripeCustomer.__table__)[customer]["name"] != "From before"


def test_reconcile_judges_only_its_own_accounts_rows(emulator, client_for, warehouse):
    client = client_for(emulator)
    StripeCustomerAction(client=client, warehouse=warehouse).sync_incremental()
    table = StripeCustomer.__table__
    # A connected account's customer, synced by another action with `stripe_account`.
    other_account = {
        "id": "cus_ConnectedAccount0001",
        "_raw": {"id": "cus_ConnectedAccount0001"},
        "_account": "acct_1Other",
        "_synced_at": datetime(2025, 1, 1, tzinfo=UTC),
        "created": datetime(2025, 1, 1, tzinfo=UTC),
    }
    # As that action writes it (BigQuery's client cannot bind a JSON parameter of an INSERT).
    warehouse.upsert(table, [dict.fromkeys(table.columns.keys()) | other_account])
    stats = StripeCustomerAction(client=client, warehouse=warehouse).sync_incremental(reconcile=True)
    assert stats.deleted == 0
    assert table_rows(warehouse, table)["cus_ConnectedAccount0001"]["_deleted_at"] is None


def test_a_second_run_of_the_same_type_waits_for_the_first(emulator, client_for, warehouse):
    client = client_for(emulator)
    finished = threading.Event()

    def second_run():
        StripeCustomerAction(client=client, warehouse=warehouse).sync_incremental()
        finished.set()

    with warehouse.sync_lock("customers", None, on_wait=lambda seconds: None):
        thread = threading.Thread(target=second_run)
        thread.start()
        time.sleep(1.5)
        assert not finished.is_set() and emulator.requests.total == 0
        # Another type, or another account, does not wait.
        StripeProductAction(client=client, warehouse=warehouse).sync_incremental()
    thread.join(timeout=30)
    assert finished.is_set()
    _assert_table_matches(emulator, warehouse, StripeCustomerAction)


def test_events_of_other_types_or_objects_are_skipped_and_counted(emulator, client_for, warehouse):
    """A proxy or a mock may ignore `types[]`: what does not belong to the table is not applied."""
    sync = lambda: StripeCustomerAction(client=client_for(emulator), warehouse=warehouse).sync_incremental()  # noqa: E731
    sync()
    api = emulator.api
    original = api._list

    def ignoring_types(params, resource):
        if resource == "events":
            params = {key: value for key, value in params.items() if key != "types"}
        return original(params, resource)

    api._list = ignoring_types
    product = emulator.store.create("product", name="Not a customer")  # product.created, on the same page
    price = next(iter(emulator.store.collections["prices"].objects.values()))
    emulator.store.emit_event("customer.updated", price)  # a customer event carrying another object
    customer = emulator.store.create("customer", name="Real")
    stats = sync()
    rows = table_rows(warehouse, StripeCustomer.__table__)
    assert customer["id"] in rows and product["id"] not in rows and price["id"] not in rows
    assert stats.events == 1 and stats.events_skipped == 2
    again = sync()
    assert again.events == 0 and again.written.inserted == again.written.updated == 0


def test_objects_deleted_before_the_backfill_leave_no_rows_behind(emulator, client_for, warehouse):
    """The first events run reads again the five minutes before its cursor, deletions from just
    before the backfill among them: they must not write rows for customers the table never had."""
    customers = list(emulator.store.collections["customers"].objects)
    for customer in customers[:3]:
        emulator.store.delete(customer)
    StripeCustomerAction(client=client_for(emulator), warehouse=warehouse).sync_incremental()
    stats = StripeCustomerAction(client=client_for(emulator), warehouse=warehouse).sync_incremental()
    assert stats.modes == ["incremental"] and stats.deleted == 0
    rows = table_rows(warehouse, StripeCustomer.__table__)
    assert set(rows) == set(customers[3:]) and warehouse.count(StripeCustomer.__table__, deleted=True) == 0


def test_the_first_events_run_after_a_backfill_does_not_apply_its_last_event_again(emulator, client_for, warehouse):
    emulator.store.update(next(iter(emulator.store.collections["customers"].objects)), name="Before the backfill")
    StripeCustomerAction(client=client_for(emulator), warehouse=warehouse).sync_incremental()
    emulator.requests.reset()
    stats = StripeCustomerAction(client=client_for(emulator), warehouse=warehouse).sync_incremental()
    assert stats.modes == ["incremental"] and stats.events == 0
    assert emulator.requests.by_route.get("GET /v1/customers/:id", 0) == 0


def test_an_id_sync_racing_a_backfill_ends_with_every_row_at_its_newest(make_emulator, client_for, warehouse):
    """The backfill's pages listed before a change must not overwrite what an ID sync fetched
    after it, though they are written later: rows carry `_observed_at`, and no lock is taken.
    At the emulator's own clock: most changes fall in the second of the page that listed them,
    and the `Date` header, in whole seconds as Stripe's, cannot tell which came first."""
    emulator = make_emulator({"customer": 4000}, latency=0.01)
    store = emulator.store
    listed_first = list(store.collections["customers"].objects)[-60:]  # the newest: the backfill lists them first
    # Within the sandbox's 25 requests/s: the backfill at 5 (40 pages, 8 s), the ID sync at its default 15.
    slow = client_for(emulator, requests_per_second=5)
    backfill = threading.Thread(
        # One flush at the end: every row it listed is written after the ID sync below.
        target=lambda: StripeCustomerAction(client=slow, warehouse=warehouse, concurrency=2, flush_every=10_000).sync_all()
    )
    backfill.start()
    deadline = time.monotonic() + 10
    while emulator.requests.by_route["GET /v1/customers"] < 6 and time.monotonic() < deadline:
        time.sleep(0.05)  # until the pages holding the newest customers are listed
    listed_in = emulator.clock.now()
    for customer in listed_first:
        store.update(customer, name="Changed during the backfill")
    # A tie: the changes come in the pages' second (or the next), by Stripe's clock, no `advance`.
    assert emulator.clock.now() - listed_in <= 1
    StripeCustomerAction(client=client_for(emulator), warehouse=warehouse).sync_by_ids(listed_first)
    assert backfill.is_alive()  # the race is real: the backfill has not written yet
    backfill.join()
    rows = table_rows(warehouse, StripeCustomer.__table__)
    assert len(rows) == 4000
    assert [c for c in listed_first if rows[c]["_raw"] != store.collections["customers"].objects[c]] == []
