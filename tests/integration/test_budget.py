"""One request budget for every process that syncs into the same warehouse."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

from stripe_pipeline import policies
from stripe_pipeline.actions import StripeCustomerAction, StripePriceAction
from stripe_pipeline.stripe_api import BackoffPolicy, StripeApiClient

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


def test_one_type_lists_at_its_endpoints_cap_without_429s(make_emulator, warehouse):
    # Stripe's real limits (the emulator's default) for a live key: 100/s in all, 25/s per
    # endpoint. The default budget (60/s) is more than one endpoint may take, so the listing
    # runs at the endpoint's cap: 2,500 objects/s at most, and not into 429s (one in 85 requests
    # at most: the emulator, in this process, stamps a request when its thread gets the CPU).
    emulator = make_emulator({"customer": 8_000}, api_key="sk_live_emulator")
    client = StripeApiClient(emulator.api_key, emulator.base_url, slot_store=warehouse.slot_store())
    stats = StripeCustomerAction(client=client, warehouse=warehouse).sync_all()
    log = emulator.requests
    first, last = log.route_span("GET /v1/customers")
    pages = log.by_route["GET /v1/customers"]
    assert stats.fetched == 8_000 and log.rate_limited <= 1
    # By arrival stamps, which the emulator (in this process, sharing its CPU) takes when its
    # thread runs: one request early or late now and then (26 measured once in a loaded suite);
    # the limit itself is what Stripe's limiter answered: 429s, at most one.
    assert log.route_max_in_any_window("GET /v1/customers") <= 26
    # The cap's slots, most of them used: they are spaced ENDPOINT_SPACING_MARGIN (8 %) wider
    # than 1/25 s, so 23 a second at most; alone this test lists at 22-23. The bar is 60 % of
    # that: in the whole suite (three workers on two cores) this process, which also runs the
    # emulator and writes to DuckDB or SQLite in the listing's thread, gets well under a core,
    # and 16.4 a second was measured there. First in first out behind a halved cap would be 12.
    assert pages / (last - first + 0.04) >= 0.6 * 25 / policies.ENDPOINT_SPACING_MARGIN


def test_a_budget_set_higher_than_stripe_allows_converges_with_few_429s(make_emulator, warehouse):
    # The user set 100/s where the account allows 40 (a sandbox, or the application's own
    # traffic): each 429 cuts the rate, which then probes back up, instead of retrying into the wall.
    emulator = make_emulator({"customer": 15_000, "price": 15_000}, api_key="sk_live_emulator", rate_limit=40, endpoint_rate_limit=None)
    store = warehouse.slot_store()
    clients = [StripeApiClient(emulator.api_key, emulator.base_url, slot_store=store, requests_per_second=100) for _ in range(2)]
    runs = [
        threading.Thread(target=action(client=client, warehouse=warehouse).sync_all)
        for action, client in zip((StripeCustomerAction, StripePriceAction), clients)
    ]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    log = emulator.requests
    assert len(table_rows(warehouse, StripeCustomerAction.table())) == len(table_rows(warehouse, StripePriceAction.table())) == 15_000
    assert log.rate_limited <= 0.05 * log.total, f"{log.rate_limited} of {log.total} requests answered 429"
    assert log.max_in_any_window(1.0, which="accepted") >= 0.8 * 40  # and it probes back up to what Stripe allows


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
