"""Parallel created-window listing: every object exactly once, whatever the distribution."""

from __future__ import annotations

import random
import threading
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stripe_pipeline.emulator.collection import Collection
from stripe_pipeline.emulator.store import EPOCH
from stripe_pipeline.stripe_api.windows import ParallelLister, Window, initial_windows, split


@pytest.fixture(scope="module")
def account():
    from stripe_pipeline.emulator import Emulator
    from stripe_pipeline.stripe_api import StripeApiClient

    with Emulator() as emulator:
        yield emulator, StripeApiClient(emulator.api_key, emulator.base_url, requests_per_second=10_000)


def _offsets(count: int, spread: int, clusters: int, seed: int) -> list[int]:
    """Seconds before the emulator's start: a few dense clusters (ties, often more than a page
    in one second) of the given spread, anywhere in three years."""
    rng = random.Random(seed)
    centers = [rng.randint(0, 3 * 365 * 86_400) for _ in range(clusters)]
    return [rng.choice(centers) + rng.randint(0, spread) for _ in range(count)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    count=st.integers(0, 1_500),
    spread=st.sampled_from([0, 3, 60, 86_400, 365 * 86_400]),
    clusters=st.integers(1, 4),
    seed=st.integers(0, 2**32),
    concurrency=st.integers(1, 6),
    inserts=st.integers(0, 30),
)
def test_every_object_is_listed_exactly_once(account, count, spread, clusters, seed, concurrency, inserts):
    offsets = _offsets(count, spread, clusters, seed)
    emulator, client = account
    customers = Collection("customer", "customers")
    customers.add_many(
        [{"id": f"cus_{n:08d}", "object": "customer", "created": EPOCH - offset} for n, offset in enumerate(offsets)]
    )
    emulator.store.collections["customers"] = customers
    started_at = emulator.clock.now()
    walking = threading.Event()
    inserted: list[str] = []

    def insert_during_the_walk():
        walking.wait()
        for _ in range(inserts):  # created "now": at or after the walk's start
            inserted.append(emulator.store.create("customer")["id"])

    inserter = threading.Thread(target=insert_during_the_walk)
    inserter.start()
    listed: Counter = Counter()
    # Windows worth a single page: cuts happen as often as they can.
    lister = ParallelLister(client, "/v1/customers", {}, concurrency=concurrency, queue_pages=2, min_pages_per_window=1)
    # One window tight around the data, so that cuts land among the objects and their ties.
    oldest = EPOCH - max(offsets, default=0)
    try:
        for page in lister.pages({0: Window(oldest, started_at)}):
            walking.set()
            listed.update(obj["id"] for obj in page.objects)
    finally:
        walking.set()
        inserter.join()

    assert all(count == 1 for count in listed.values()), [i for i, c in listed.items() if c > 1]
    # Everything that existed at the start, once; objects created during the walk at most once.
    existing = {f"cus_{n:08d}" for n in range(len(offsets))}
    assert existing <= set(listed) <= existing | set(inserted)


@given(gte=st.integers(0, 10**9), span=st.integers(1, 10**6), parts=st.integers(1, 50))
def test_split_windows_cover_the_window_without_overlap(gte, span, parts):
    window = Window(gte, gte + span - 1)
    pieces = split(window, parts)
    assert pieces[0].lte == window.lte and pieces[-1].gte == window.gte
    assert all(newer.gte == older.lte + 1 for newer, older in zip(pieces, pieces[1:]))
    assert len(pieces) == min(parts, span) and all(piece.span() >= 1 for piece in pieces)


def test_the_initial_windows_start_at_zero_and_end_at_the_backfill_start():
    windows = initial_windows(EPOCH)
    assert windows[0].gte == 0 and windows[-1].lte == EPOCH
    assert all(newer.gte == older.lte + 1 for older, newer in zip(windows, windows[1:]))
