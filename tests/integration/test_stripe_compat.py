"""The private `stripe` calls the client uses, and the public fallback when a release drops them
(stripe_api/compat.py): both give the same rows, retries and errors."""

from __future__ import annotations

import pytest
import stripe

from stripe_pipeline.actions import StripeCustomerAction
from stripe_pipeline.stripe_api import StripeAccessError, StripeApiClient, compat

from .conftest import FAST_BACKOFF, table_rows


@pytest.mark.parametrize("private_calls", [True, False])
def test_both_paths_sync_the_same_rows_and_fail_the_same_way(private_calls, make_emulator, warehouse, monkeypatch):
    assert compat.PRIVATE_CALLS, "the installed stripe package lacks the private calls: the fast path is never taken"
    monkeypatch.setattr(compat, "PRIVATE_CALLS", private_calls)  # as a stripe release without them would have it
    emulator = make_emulator({"customer": 230})
    emulator.faults.next("truncate", 1)
    client = StripeApiClient(emulator.api_key, emulator.base_url, backoff=FAST_BACKOFF)
    assert client.uses_private_stripe_calls is private_calls

    StripeCustomerAction(client=client, warehouse=warehouse).sync_all()
    rows = table_rows(warehouse, StripeCustomerAction.table())
    assert {i: row["_raw"] for i, row in rows.items()} == emulator.store.collections["customers"].objects
    assert client.stats.retries == 1  # the body cut short was retried

    with pytest.raises(stripe.InvalidRequestError, match="Received unknown parameter: colour"):
        client.get("/v1/customers", {"colour": "red"})
    with pytest.raises(StripeAccessError, match="rejected the API key"):
        StripeApiClient("sk_test_wrong", emulator.base_url, backoff=FAST_BACKOFF).get("/v1/customers")
