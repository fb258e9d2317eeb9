"""One request budget for every process that syncs into the same warehouse."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

from stripe_pipeline.actions import StripeCustomerAction
from stripe_pipeline.stripe_api import BackoffPolicy, StripeApiClient
from stripe_pipeline.stripe_api.budget import LIVE_REQUESTS_PER_SECOND, TEST_REQUESTS_PER_SECOND, default_rate

from .conftest import table_rows

_SYNC_SCRIPT = """
import sys
from stripe_pipeline.actions import ALL_ACTIONS
from stripe_pipeline.warehouse import Warehouse
base_url, url, schema, object_type = sys.argv[1:]
action = next(a for a in ALL_ACTIONS if a.object_name() == object_type)
action(api_key="sk_test_emulator", api_base=base_url, warehouse=Warehouse(url, schema or None)).sync_all()
"""


def test_two_processes_share_one_budget(make_emulator, warehouse_config):
    budget, account_limit = 18, 20
    # The emulator enforces the account's limit: a request over it would come back as a 429.
    # The budget leaves the account 10 % of headroom for timing jitter at the emulator, which
    # stamps requests when its busy threads get to them.
    emulator = make_emulator({"customer": 1_500, "product": 10, "price": 1_500}, latency=0.02, rate_limit=account_limit)
    env = {**os.environ, "STRIPE_REQUESTS_PER_SECOND": str(budget), "STRIPE_API_KEY": ""}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _SYNC_SCRIPT, emulator.base_url, warehouse_config["url"], warehouse_config["schema"], object_type],
            env=env,
        )
        for object_type in ("customer", "price")
    ]
    for process in processes:
        assert process.wait(timeout=120) == 0
    log = emulator.requests
    requests = log.by_route["GET /v1/customers"] + log.by_route["GET /v1/prices"]
    assert log.by_route["GET /v1/customers"] >= 15 and log.by_route["GET /v1/prices"] >= 15
    # Together, the two processes kept to one budget: never above the account's limit, no 429,
    # and on average not above the budget either.
    assert log.max_in_any_window(1.0, which="all") <= account_limit and log.rate_limited == 0
    seconds = sorted(log.per_second(which="all"))
    assert requests / (seconds[-1] - seconds[0] + 1) <= budget


def test_429s_that_still_happen_are_retried_and_counted(make_emulator, warehouse):
    emulator = make_emulator({"customer": 2_000}, rate_limit=10)
    # A budget above what the account allows: the emulator answers some requests with 429.
    backoff = BackoffPolicy(max_retries=10, base_delay=0.2, max_delay=1.0)
    client = StripeApiClient(emulator.api_key, emulator.base_url, backoff=backoff, requests_per_second=20)
    stats = StripeCustomerAction(client=client, warehouse=warehouse, concurrency=4).sync_all()
    assert emulator.requests.rate_limited > 0
    assert client.stats.rate_limited == emulator.requests.rate_limited and client.stats.retries >= client.stats.rate_limited
    assert stats.fetched == 2_000 and len(table_rows(warehouse, StripeCustomerAction.table())) == 2_000


def test_the_default_budget_follows_the_keys_mode():
    assert default_rate("sk_test_123") == default_rate("rk_test_123") == TEST_REQUESTS_PER_SECOND == 25
    assert default_rate("sk_live_123") == default_rate("rk_live_123") == LIVE_REQUESTS_PER_SECOND == 100


def test_a_slot_store_slower_than_a_slot_does_not_stall_requests(make_emulator, warehouse):
    # At 100,000 requests/s a slot lasts 10 µs: less than the warehouse takes to hand one out,
    # so every slot is in the past by the time it is known. That is no reason to requeue.
    emulator = make_emulator({"customer": 300})
    client = StripeApiClient(emulator.api_key, emulator.base_url, requests_per_second=100_000, slot_store=warehouse.slot_store())
    pages: list[list[dict]] = []
    listing = threading.Thread(target=lambda: pages.extend(client.list_pages("/v1/customers", {"limit": 100})), daemon=True)
    listing.start()
    listing.join(timeout=30)
    assert not listing.is_alive(), "the listing is stuck waiting for request slots"
    assert sum(len(page) for page in pages) == 300
