"""Full syncs through the real `stripe` package over HTTP into SQLite and PostgreSQL."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
import stripe

from stripe_pipeline.actions import HAND_WRITTEN, StripeCustomerAction, StripeSubscriptionAction
from stripe_pipeline.models import StripeCustomer, StripeSubscription

from .conftest import table_rows


@pytest.mark.parametrize("count", [0, 1, 100, 101, 1000])
def test_pagination_syncs_every_object_once(count, make_emulator, client_for, warehouse):
    emulator = make_emulator({"customer": count} if count else None)
    stats = StripeCustomerAction(client=client_for(emulator), warehouse=warehouse).sync_all()

    assert set(table_rows(warehouse, StripeCustomer.__table__)) == set(emulator.store.collections["customers"].objects)
    assert stats.fetched == count
    assert stats.written.inserted == count
    # limit=100 pages, in created windows: at least one request a page plus one for the years
    # before Stripe, and at most the windows' stated waste: 5 % of the pages plus one per worker
    # (how many windows idle workers get cut depends on their timing, not on the objects).
    pages = math.ceil(count / 100)
    concurrency = StripeCustomerAction.concurrency
    assert pages + 1 <= emulator.requests.by_route["GET /v1/customers"] <= pages + 1 + math.floor(0.05 * pages) + concurrency


def test_every_type_syncs_and_raw_equals_the_api_object(emulator, client_for, warehouse):
    api = stripe.StripeClient(emulator.api_key, base_addresses={"api": emulator.base_url})
    for action in HAND_WRITTEN:
        action(client=client_for(emulator), warehouse=warehouse).sync_all()  # under Stripe's limits
        rows = table_rows(warehouse, action.table())
        assert set(rows) == set(emulator.store.collections[action.table_name()].objects), action.table_name()
        limits = emulator.rate_limiter.rate, emulator.rate_limiter.endpoint_rate
        emulator.rate_limiter.rate = emulator.rate_limiter.endpoint_rate = None  # the check's own reads, one after another
        for object_id, row in rows.items():
            api_object = api.raw_request("get", f"{action.api_path()}/{object_id}").data
            for secret in action.redacted_fields:
                api_object[secret] = None
            assert row["_raw"] == api_object
            assert row["_account"] == "" and row["_deleted_at"] is None
            assert row["_synced_at"] is not None
        emulator.rate_limiter.rate, emulator.rate_limiter.endpoint_rate = limits


def test_payment_intent_client_secrets_never_reach_the_warehouse(emulator, client_for, warehouse):
    from stripe_pipeline.actions import StripePaymentIntentAction

    StripePaymentIntentAction(client=client_for(emulator), warehouse=warehouse).sync_all()
    with warehouse.engine.connect() as connection:
        dump = " ".join(str(row) for row in connection.execute(sa.select(StripePaymentIntentAction.table())))
    secrets = [obj["client_secret"] for obj in emulator.store.collections["payment_intents"].objects.values()]
    assert secrets and all(secret and secret not in dump for secret in secrets)


def test_default_mapping_converts_timestamps_references_and_nested_values(emulator, client_for, warehouse):
    # Expanding the customer makes the API nest the whole object; the column keeps its ID.
    StripeSubscriptionAction(client=client_for(emulator), warehouse=warehouse).sync_all(expand=["data.customer"])
    rows = table_rows(warehouse, StripeSubscription.__table__)
    for object_id, api_object in emulator.store.collections["subscriptions"].objects.items():
        row = rows[object_id]
        assert isinstance(row["_raw"]["customer"], dict)
        assert row["customer"] == api_object["customer"]
        created = row["created"].replace(tzinfo=row["created"].tzinfo or UTC)
        assert created == datetime.fromtimestamp(api_object["created"], UTC)
        assert row["items"] == api_object["items"]
        assert row["metadata"] == api_object["metadata"]


def test_canceled_subscriptions_are_kept(emulator, client_for, warehouse):
    subscriptions = emulator.store.collections["subscriptions"].objects
    canceled = {i for i, s in subscriptions.items() if s["status"] == "canceled"}
    assert canceled, "the seed should contain canceled subscriptions"
    # Stripe's default listing leaves them out; that is the trap this guards against.
    api = stripe.StripeClient(emulator.api_key, base_addresses={"api": emulator.base_url})
    default_listing = {s.id for s in api.v1.subscriptions.list({"limit": 100}).auto_paging_iter()}
    assert default_listing.isdisjoint(canceled)

    StripeSubscriptionAction(client=client_for(emulator), warehouse=warehouse).sync_all()
    rows = table_rows(warehouse, StripeSubscription.__table__)
    assert canceled <= set(rows)
    assert {rows[i]["status"] for i in canceled} == {"canceled"}


def test_rerun_changes_nothing_and_an_update_changes_the_row(make_emulator, client_for, warehouse):
    emulator = make_emulator({"customer": 150})
    client = client_for(emulator)
    StripeCustomerAction(client=client, warehouse=warehouse).sync_all()
    before = table_rows(warehouse, StripeCustomer.__table__)

    rerun = StripeCustomerAction(client=client, warehouse=warehouse).sync_all()
    assert (rerun.written.inserted, rerun.written.updated, rerun.written.unchanged) == (0, 0, 150)
    assert table_rows(warehouse, StripeCustomer.__table__) == before

    changed_id = next(iter(before))
    emulator.store.update(changed_id, email="changed@example.com", metadata={"tier": "gold"})
    update = StripeCustomerAction(client=client, warehouse=warehouse).sync_all()
    assert (update.written.inserted, update.written.updated, update.written.unchanged) == (0, 1, 149)
    after = table_rows(warehouse, StripeCustomer.__table__)
    assert after[changed_id]["email"] == "changed@example.com"
    assert after[changed_id]["metadata"]["tier"] == "gold"
    assert after[changed_id]["_raw"]["email"] == "changed@example.com"
    assert after[changed_id]["_synced_at"] > before[changed_id]["_synced_at"]
    assert {i: r for i, r in after.items() if i != changed_id} == {i: r for i, r in before.items() if i != changed_id}


def test_sync_by_ids_syncs_known_ids_and_reports_unknown_ones(emulator, client_for, warehouse):
    known = list(emulator.store.collections["customers"].objects)[:3]
    stats = StripeCustomerAction(client=client_for(emulator), warehouse=warehouse).sync_by_ids(known + ["cus_doesnotexist", known[0]])
    assert stats.missing_ids == ["cus_doesnotexist"]
    assert set(table_rows(warehouse, StripeCustomer.__table__)) == set(known)


def test_writes_are_batched_and_pages_streamed(make_emulator, client_for, warehouse, monkeypatch):
    emulator = make_emulator({"customer": 1000})
    inserts: list[int] = []
    listed_at_first_write: list[int] = []
    # A warehouse whose flushes are larger by design (Dialect.least_flush: Snowflake's 10,000,
    # BigQuery's 20,000) flushes every 250 rows here too.
    monkeypatch.setattr(warehouse.database.dialect, "least_flush", 0)

    @sa.event.listens_for(warehouse.engine, "before_cursor_execute")
    def count_inserts(conn, cursor, statement, parameters, context, executemany):
        # Snowflake's and BigQuery's upserts are a MERGE (their rows staged apart).
        if ("INSERT INTO" in statement.upper() or statement.upper().startswith("MERGE")) and "customers" in statement:
            inserts.append(1)
            listed_at_first_write.append(emulator.requests.listed["customers"])

    StripeCustomerAction(client=client_for(emulator), warehouse=warehouse, flush_every=250, concurrency=1).sync_all()
    # One multi-row upsert per 250 rows, not one round trip per row.
    assert len(inserts) == 4
    # The first flush comes after 3 of the 10 pages, with one more page queued and one in
    # flight at most: pages are streamed, not collected first. Counted in objects served, as
    # the lister's empty probe windows return none.
    assert 250 <= listed_at_first_write[0] <= (3 + 2) * 100


def test_a_deleted_object_keeps_its_row_and_gets_deleted_at(emulator, client_for, warehouse):
    client = client_for(emulator)
    StripeCustomerAction(client=client, warehouse=warehouse).sync_all()
    gone = next(iter(emulator.store.collections["customers"].objects))
    before = table_rows(warehouse, StripeCustomer.__table__)[gone]
    emulator.store.delete(gone)

    action = StripeCustomerAction(client=client, warehouse=warehouse)
    stats = action.sync_by_ids([gone])
    row = table_rows(warehouse, StripeCustomer.__table__)[gone]
    assert stats.deleted == 1 and stats.missing_ids == []
    assert row["_deleted_at"] is not None
    # The data stays as last seen; the deletion is observed now (the Date header's second: the
    # same as the backfill's, or later when a second boundary fell in between).
    written = ("_deleted_at", "_synced_at", "_observed_at")
    assert {k: v for k, v in row.items() if k not in written} == {k: v for k, v in before.items() if k not in written}
    assert row["_observed_at"] >= before["_observed_at"]
    # Seeing the deletion again changes nothing; an ID the table never held gets no row (a row of
    # NULLs would count as a deleted customer the warehouse never had).
    assert action.sync_by_ids([gone]).deleted == 0
    assert table_rows(warehouse, StripeCustomer.__table__)[gone]["_deleted_at"] == row["_deleted_at"]
    new = emulator.store.create("customer")
    emulator.store.delete(new["id"])
    assert action.sync_by_ids([new["id"]]).deleted == 0
    assert new["id"] not in table_rows(warehouse, StripeCustomer.__table__)


def test_hooks_cannot_change_raw_even_through_nested_values(make_emulator, client_for, warehouse):
    emulator = make_emulator({"customer": 5})
    for object_id in emulator.store.collections["customers"].objects:
        emulator.store.update(object_id, metadata={"crm": "42"})

    class Nested(StripeCustomerAction):
        def pre_set_defualt(self, stripe_data):
            stripe_data["invoice_settings"]["footer"] = "changed by a hook"

        def post_set_default(self, defaults):
            defaults["metadata"].pop("crm")

    Nested(client=client_for(emulator), warehouse=warehouse).sync_all()
    for object_id, row in table_rows(warehouse, StripeCustomer.__table__).items():
        assert "crm" not in row["metadata"] and row["invoice_settings"]["footer"] == "changed by a hook"
        assert row["_raw"] == emulator.store.collections["customers"].objects[object_id]


def test_stats_describe_one_call_and_sync_takes_stripe_objects(make_emulator, client_for, warehouse):
    emulator = make_emulator({"customer": 3})
    client = client_for(emulator)
    action = StripeCustomerAction(client=client, warehouse=warehouse)
    assert action.sync_all().fetched == 3
    assert action.sync_all().fetched == 3
    api = stripe.StripeClient(emulator.api_key, base_addresses={"api": emulator.base_url})
    customer = api.v1.customers.retrieve(next(iter(emulator.store.collections["customers"].objects)))
    assert action.sync(customer)["id"] == customer.id


def test_progress_is_logged(make_emulator, client_for, warehouse, caplog, monkeypatch):
    from stripe_pipeline.actions.sync import progress

    monkeypatch.setattr(progress, "PROGRESS_EVERY_SECONDS", 0.0)
    emulator = make_emulator({"customer": 250})
    with caplog.at_level("INFO", logger="stripe_pipeline.customers"):
        StripeCustomerAction(client=client_for(emulator), warehouse=warehouse).sync_all()
    messages = [record.getMessage() for record in caplog.records]
    counts = [int(re.search(r"pages, ([\d,]+) objects", m).group(1).replace(",", "")) for m in messages]
    assert counts == sorted(counts) and counts[-1] == 250 and len(messages) >= 3
    assert all("objects/s" in m for m in messages)
    assert re.match(r"customers: done, \d+ pages, 250 objects in [\d.]+ s", messages[-1])


def test_progress_names_what_it_cannot_estimate(make_emulator, client_for, warehouse, caplog, monkeypatch):
    """Customers all from an import six years ago: no log line promises the end while most of
    them are still to come; what no page has measured yet is named by its dates."""
    from stripe_pipeline.actions.sync import progress

    monkeypatch.setattr(progress, "PROGRESS_EVERY_SECONDS", 0.0)
    emulator = make_emulator({"customer": 3_000}, timeline="burst-past")
    with caplog.at_level("INFO", logger="stripe_pipeline.customers"):
        StripeCustomerAction(client=client_for(emulator), warehouse=warehouse, concurrency=4).sync_all()
    messages = [record.getMessage() for record in caplog.records if "done" not in record.getMessage()]
    assert any(re.search(r"objects created 2011-01-01 to 20\d\d-\d\d-\d\d not counted yet", m) for m in messages)
    for message in messages:
        listed = int(re.search(r"pages, ([\d,]+) objects", message).group(1).replace(",", ""))
        promised = re.search(r"about ([\d,]+) to go \(~", message)
        if promised:  # a time to go only with a full estimate, and one of the right size
            assert 3_000 - listed <= max(3 * int(promised.group(1).replace(",", "")), 1_000), message


def test_an_api_that_refuses_created_is_listed_by_one_cursor_walk(make_emulator, client_for, warehouse, caplog):
    """An older API version or a proxy may answer `created` with a 400 (unknown parameter): the
    backfill says so and walks the list instead of failing the table."""
    emulator = make_emulator({"customer": 250}, refuse_params={"customers": ["created"]})
    with caplog.at_level("WARNING", logger="stripe_pipeline"):
        stats = StripeCustomerAction(client=client_for(emulator), warehouse=warehouse).sync_incremental()
    assert set(table_rows(warehouse, StripeCustomer.__table__)) == set(emulator.store.collections["customers"].objects)
    assert stats.modes == ["backfill"] and stats.written.inserted == 250
    assert any("refused the `created` filter" in record.getMessage() for record in caplog.records)
    emulator.store.update(next(iter(emulator.store.collections["customers"].objects)), name="Later")
    assert StripeCustomerAction(client=client_for(emulator), warehouse=warehouse).sync_incremental().written.updated == 1
