"""What networks, proxies and Stripe do wrong, injected by the emulator's fault layer: every
fault is retried, no message quotes a response body, and the table ends equal to the source."""

from __future__ import annotations

import logging

import pytest

from stripe_emulator.api import FAULT_KINDS
from stripe_pipeline.actions import StripeCustomerAction, StripeInvoiceAction, StripeSubscriptionAction
from stripe_pipeline.models import SyncError
from stripe_pipeline.stripe_api import BackoffPolicy

from .conftest import FAST_BACKOFF, table_rows

# The client gives a stalled answer this long; the stall lasts longer.
TIMEOUT_SECONDS = 0.5
STALL_SECONDS = 1.0
# Where retries are counted, an answer merely slowed by a loaded machine (three test processes on
# two cores) must not time out as well: CI once saw /v1/account take over 0.5 s and retry a third time.
COUNTED_TIMEOUT_SECONDS = 2.0
COUNTED_STALL_SECONDS = 3.0


def _assert_equal_to_source(emulator, warehouse, action, deleted: frozenset[str] = frozenset()) -> None:
    """Live rows are exactly the emulator's objects, each as the API returns it; deleted ones are flagged."""
    objects = emulator.store.collections[action.table_name()].objects
    rows = table_rows(warehouse, action.table())
    live = {object_id: row for object_id, row in rows.items() if row["_deleted_at"] is None}
    assert set(live) == set(objects)
    assert all(live[object_id]["_raw"] == obj for object_id, obj in objects.items())
    assert set(rows) - set(live) == deleted


@pytest.mark.parametrize("kind", [*FAULT_KINDS, 500, 429])
def test_each_fault_is_retried_and_no_message_quotes_a_body(kind, make_emulator, client_for, warehouse, caplog):
    emulator = make_emulator({"customer": 250})
    emulator.faults.stall_seconds = COUNTED_STALL_SECONDS
    if isinstance(kind, int):
        emulator.faults.fail_next(2, kind)
    else:
        emulator.faults.next(kind, 2)
    # Only a stall needs a client timeout short enough to give up on it.
    client = client_for(emulator, timeout=COUNTED_TIMEOUT_SECONDS) if kind == "stall" else client_for(emulator)
    with caplog.at_level(logging.INFO):
        StripeCustomerAction(client=client, warehouse=warehouse).sync_incremental()

    _assert_equal_to_source(emulator, warehouse, StripeCustomerAction)
    assert client.stats.retries == 2 and emulator.faults.injected[kind] == 2
    emails = [obj["email"] for obj in emulator.store.collections["customers"].objects.values() if obj.get("email")]
    assert not [record for record in caplog.records if any(email in record.getMessage() for email in emails)]


@pytest.mark.parametrize("kind", ["truncate", "drop", "proxy-502"])
def test_a_spoiled_answer_that_keeps_coming_fails_naming_its_length_not_its_content(kind, make_emulator, client_for, warehouse):
    emulator = make_emulator({"customer": 20})
    emulator.faults.next(kind, 50)
    with pytest.raises(Exception) as raised:
        StripeCustomerAction(client=client_for(emulator), warehouse=warehouse).sync_all()
    message = str(raised.value)
    assert "@" not in message and "<html>" not in message and "cus_" not in message, message


def test_mixed_faults_at_five_percent_each_end_exactly_equal_to_the_source(make_emulator, client_for, warehouse):
    """Backfill, changes, an incremental run and a reconcile, with every fault at 5 %."""
    emulator = make_emulator({"product": 3, "price": 5, "customer": 300, "subscription": 200, "invoice": 150})
    emulator.faults.stall_seconds = STALL_SECONDS
    kinds = [*FAULT_KINDS, 500, 429]
    emulator.faults.rates = {kind: 0.05 for kind in kinds}
    # At 40 % faulty answers, eight failures in a row would be 1 in 1,500 requests; twelve, 1 in 60,000.
    backoff = BackoffPolicy(max_retries=12, base_delay=FAST_BACKOFF.base_delay, max_delay=FAST_BACKOFF.max_delay)
    actions = (StripeCustomerAction, StripeSubscriptionAction, StripeInvoiceAction)

    def run(**options):
        client = client_for(emulator, backoff=backoff, timeout=TIMEOUT_SECONDS)
        for action in actions:
            action(client=client, warehouse=warehouse).sync_incremental(**options)

    run()
    store = emulator.store
    customers = list(store.collections["customers"].objects)
    for customer in customers[:20]:
        store.update(customer, name="Renamed ✓", metadata={"tier": "gold"})
    for customer in customers[20:30]:
        store.delete(customer)
    for _ in range(15):
        store.create("customer", name="New")
    subscriptions = [s for s, obj in store.collections["subscriptions"].objects.items() if obj["status"] != "canceled"]
    for subscription in subscriptions[:10]:
        store.delete(subscription)  # cancels
    run()
    run(reconcile=True)

    assert all(emulator.faults.injected[kind] > 0 for kind in kinds), emulator.faults.injected
    for action in actions:
        _assert_equal_to_source(emulator, warehouse, action, frozenset(customers[20:30]) if action is StripeCustomerAction else frozenset())
    assert warehouse.count(SyncError.__table__) == 0
