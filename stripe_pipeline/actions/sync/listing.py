"""Reading objects from Stripe and handing each to the action's `sync`: a cursor walk, created
windows walked in parallel (stripe_api/windows.py), and retrieval by ID.

While an object is handed on, `run.observed_at` is the time of the response it came in:
rows carry it, and an older observation never overwrites a newer one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING

from ...policies import CHILD_LIST_QUEUE_PAGES
from ...stripe_api.windows import ParallelLister, Window
from .progress import Progress

if TYPE_CHECKING:
    from .run import SyncRun

# IDs retrieved per batch: one list request where the type filters by IDs (its page limit).
RETRIEVE_BATCH = 100


def list_and_sync(run: SyncRun, params: dict) -> Iterator[list[dict]]:
    """Page through the list endpoint in one cursor walk, syncing each object; yields each page
    once its objects are staged (reconcile, filtered listings, types without `created`)."""
    progress = Progress(run.log, run.log_name, run.stats)
    for page in run.client.list_pages(run.action.api_path(), {**params, "limit": 100}):
        _sync_page(run, page, progress, run.client.observed_at())
        yield page
    progress.done()


def list_windows_and_sync(
    run: SyncRun, windows: list[Window], checkpoint: Callable[[list[Window]], dict] | None = None
) -> Iterator[list[dict]]:
    """The created windows listed in parallel, each object synced; yields each page once its
    objects are staged.

    Each flush saves `checkpoint(windows)`, sync-state values made from the windows still to
    list, in the transaction of its rows: all that was listed outside them is in the table.
    """
    # While a flush waits for child lists (an invoice's lines beyond the 10 it embeds, page after
    # page), the listing goes on into a deeper queue instead of stalling (policies.py).
    queue_pages = CHILD_LIST_QUEUE_PAGES if run.chosen_children else None
    lister = ParallelLister(
        run.client, run.action.api_path(), dict(run.action.list_params), concurrency=run.action.concurrency, queue_pages=queue_pages
    )
    progress = Progress(run.log, run.log_name, run.stats, lister.remaining)
    outstanding = dict(enumerate(windows))  # as of the last completely staged page
    run.rows.checkpoint = (lambda: checkpoint(list(outstanding.values()))) if checkpoint else None
    try:
        for page in lister.pages(dict(outstanding)):
            _sync_page(run, page.objects, progress, page.observed_at)
            outstanding.update(page.new_windows)
            if page.remaining is None:
                del outstanding[page.window_id]
            else:
                outstanding[page.window_id] = page.remaining
            yield page.objects
    finally:
        run.rows.checkpoint = None
    progress.done()


def retrieve_each(run: SyncRun, ids: Iterable[str]) -> Iterator[tuple[str, dict | None]]:
    """(ID, object) for each ID, `concurrency` requests at a time, in batches through the list
    endpoint where it filters by IDs; None where Stripe has no such object."""
    client = run.client

    def retrieve(object_id: str) -> tuple[dict | None, datetime | None]:
        found = client.retrieve(run.action.api_path(), object_id)
        return found, client.observed_at()

    with ThreadPoolExecutor(run.action.concurrency, thread_name_prefix="stripe-retrieve") as pool:
        for batch in batches(ids, RETRIEVE_BATCH):
            if run.action.list_ids_filter:
                page = client.get(run.action.api_path(), {**run.action.list_params, run.action.list_ids_filter: batch, "limit": 100})
                found = {obj["id"]: obj for obj in page["data"]}  # one request for up to 100 IDs
                observed = client.observed_at()
                results: Iterable[tuple[str, tuple[dict | None, datetime | None]]] = [
                    (object_id, (found.get(object_id), observed)) for object_id in batch
                ]
            else:
                results = zip(batch, pool.map(retrieve, batch))
            for object_id, (stripe_data, observed_at) in results:
                run.observed_at = observed_at
                if stripe_data is not None:
                    run.stats.fetched += 1
                yield object_id, stripe_data


def batches(items: Iterable[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _sync_page(run: SyncRun, objects: list[dict], progress: Progress, observed_at: datetime | None) -> None:
    run.stats.pages += 1
    run.stats.fetched += len(objects)
    run.observed_at = observed_at
    for stripe_data in objects:
        run.action.sync(stripe_data)
    progress.tick()
