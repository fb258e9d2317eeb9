"""Parallel created-window listing: every object exactly once, whatever the distribution."""

from __future__ import annotations

import math
import random
import threading
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stripe_emulator.collection import Collection
from stripe_emulator.store import EPOCH
from stripe_emulator.timelines import TIMELINES
from stripe_pipeline.stripe_api.windows import PAGE_SIZE, ParallelLister, Remaining, Window, initial_windows


@pytest.fixture(scope="module")
def account():
    from stripe_emulator import Emulator
    from stripe_pipeline.stripe_api import StripeApiClient

    with Emulator() as emulator:
        yield emulator, StripeApiClient(emulator.api_key, emulator.base_url, requests_per_second=10_000)


def _offsets(count: int, spread: int, clusters: int, seed: int) -> list[int]:
    """Seconds before the emulator's start: a few dense clusters (ties, often more than a page
    in one second) of the given spread, anywhere in three years."""
    rng = random.Random(seed)
    centers = [rng.randint(0, 3 * 365 * 86_400) for _ in range(clusters)]
    return [rng.choice(centers) + rng.randint(0, spread) for _ in range(count)]


def _shaped(count: int, shape: str, seed: int) -> list[int]:
    """Seconds before the emulator's start, `created` as one of the emulator's timelines
    (an import burst years ago, bursts with nothing between, a dormant account, ties, a
    recent launch), with the same stratified draw the emulator seeds with."""
    rng, created = random.Random(seed), TIMELINES[shape].quantile(EPOCH)
    return [EPOCH - created((n + rng.random()) / count) for n in range(count)]


def _load(emulator, offsets: list[int]) -> set[str]:
    customers = Collection("customer", "customers")
    customers.add_many([{"id": f"cus_{n:08d}", "object": "customer", "created": EPOCH - offset} for n, offset in enumerate(offsets)])
    emulator.store.collections["customers"] = customers
    return {f"cus_{n:08d}" for n in range(len(offsets))}


def _consume(lister: ParallelLister, windows: dict[int, Window], on_page=lambda page: None) -> Counter:
    """Read every page as the backfill does, checking what its checkpoints rely on: a window's
    pages stop with the one that closes it, and nothing is outstanding at the end."""
    listed: Counter = Counter()
    outstanding, closed = dict(windows), set()
    for page in lister.pages(windows):
        assert page.window_id not in closed, f"a page of window {page.window_id} after the one that closed it"
        assert page.window_id in outstanding, f"a page of window {page.window_id} before the one that made it"
        listed.update(obj["id"] for obj in page.objects)
        outstanding.update(page.new_windows)
        if page.remaining is None:
            del outstanding[page.window_id]
            closed.add(page.window_id)
        else:
            outstanding[page.window_id] = page.remaining
        on_page(page)
    assert outstanding == {}
    return listed


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    count=st.integers(0, 1_500),
    spread=st.sampled_from([0, 3, 60, 86_400, 365 * 86_400]),
    clusters=st.integers(1, 4),
    shape=st.sampled_from([None, *TIMELINES]),
    seed=st.integers(0, 2**32),
    concurrency=st.integers(1, 6),
    inserts=st.integers(0, 30),
)
def test_every_object_is_listed_exactly_once(account, count, spread, clusters, shape, seed, concurrency, inserts):
    offsets = _offsets(count, spread, clusters, seed) if shape is None else _shaped(count, shape, seed)
    emulator, client = account
    existing = _load(emulator, offsets)
    started_at = emulator.clock.now()
    walking = threading.Event()
    inserted: list[str] = []

    def insert_during_the_walk():
        walking.wait()
        for _ in range(inserts):  # created "now": at or after the walk's start
            inserted.append(emulator.store.create("customer")["id"])

    inserter = threading.Thread(target=insert_during_the_walk)
    inserter.start()
    # Windows worth a single page: cuts happen as often as they can.
    lister = ParallelLister(client, "/v1/customers", {}, concurrency=concurrency, queue_pages=2, min_pages_per_window=1)
    # One window tight around the data, so that cuts land among the objects and their ties.
    oldest = EPOCH - max(offsets, default=0)
    try:
        listed = _consume(lister, {0: Window(oldest, started_at)}, on_page=lambda page: walking.set())
    finally:
        walking.set()
        inserter.join()

    assert all(count == 1 for count in listed.values()), [i for i, c in listed.items() if c > 1]
    # Everything that existed at the start, once; objects created during the walk at most once.
    assert existing <= set(listed) <= existing | set(inserted)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    count=st.integers(0, 6_000),
    shape=st.sampled_from(list(TIMELINES)),
    seed=st.integers(0, 2**32),
    concurrency=st.integers(1, 16),
)
def test_requests_stay_within_five_percent_of_the_pages_plus_the_concurrency(account, count, shape, seed, concurrency):
    """The walk spends on what it must list: empty windows, part-full last pages and the
    second walker of a tie cost at most 5 % of the pages plus one request per worker."""
    emulator, client = account
    existing = _load(emulator, _shaped(count, shape, seed))
    emulator.requests.reset()
    lister = ParallelLister(client, "/v1/customers", {}, concurrency=concurrency)  # as the backfill runs it
    listed = _consume(lister, dict(enumerate(initial_windows(emulator.clock.now()))))

    assert set(listed) == existing and all(count == 1 for count in listed.values())
    pages_needed = max(1, math.ceil(count / PAGE_SIZE))
    assert emulator.requests.total <= 1.05 * pages_needed + concurrency, (emulator.requests.total, pages_needed)


def test_a_second_that_holds_many_pages_is_walked_from_both_ends(account):
    """No `created` filter splits a second: a second walker pages up from the object below it
    (`ending_before`) to meet the one coming down, and each object is still listed once."""
    emulator, client = account
    offsets = [86_400] * 3_000 + [86_400 + 1 + n for n in range(500)] + [86_400 - 1 - n for n in range(500)]
    existing = _load(emulator, offsets)
    emulator.requests.reset()
    lister = ParallelLister(client, "/v1/customers", {}, concurrency=8)
    listed = _consume(lister, dict(enumerate(initial_windows(emulator.clock.now()))))

    assert set(listed) == existing and all(count == 1 for count in listed.values())
    assert lister.listed_from_below >= 500, "the tie second was walked by one walker only"
    assert emulator.requests.total <= 1.05 * 40 + 8


def test_what_remains_is_not_guessed_where_no_page_has_measured_it(account):
    """An account whose objects are all from a burst years ago: the estimate never says little
    is left while most of it is still to list (the progress log said "~1 s" with 95 % to go)."""
    emulator, client = account
    existing = _load(emulator, _shaped(20_000, "burst-past", seed=1))
    lister = ParallelLister(client, "/v1/customers", {}, concurrency=8)
    claims = []  # (objects still to list, what the lister says remains), after each page

    def claim(page):
        left = (claims[-1][0] if claims else len(existing)) - len(page.objects)
        claims.append((left, lister.remaining()))

    listed = _consume(lister, dict(enumerate(initial_windows(emulator.clock.now()))), on_page=claim)
    assert set(listed) == existing
    assert claims[0][1].unmeasured is not None  # after one page, nothing is known of the years below it
    for left, remaining in claims:
        if remaining.unmeasured is None:  # a full estimate: it must be of the right size
            assert left <= max(3 * remaining.objects, 10 * PAGE_SIZE), (left, remaining)
    assert lister.remaining() == Remaining(0, None)
