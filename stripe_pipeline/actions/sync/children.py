"""Child tables: lists that live under a parent object (an invoice's lines, an account's persons).

A parent that embeds its first page (`lines`, `items`) costs no request: its children are
taken from it, and only a page that says `has_more` is followed. Lists that are not embedded
cost one request per parent, so they sync only when their table is chosen. The requests go out
as soon as the parent is seen, in parallel with the parent's listing (a child list is an
endpoint of its own, with a rate limit of its own), and are awaited before the parent's rows
are written, never one by one in `sync`.

Whenever a parent syncs, its child set is replaced: children that vanished from it are
flagged `_deleted_at`, and a deleted parent's children with it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime

import stripe

from ...catalog import ChildTable
from .protocol import ActionType, RunState
from .stats import SyncStats


class ChildSync:
    """The chosen child tables of one parent's run, staged with the parent and written first.
    Each child table has an action of its own (catalogued.py: ChildAction) and that action's run."""

    def __init__(self, parent: RunState, actions: Iterable[type[ActionType]]):
        self._parent = parent
        self._runs = [
            action(client=parent.client, warehouse=parent.warehouse, logger=parent.log, flush_every=10**9, strict=parent.strict).sync_run  # type: ignore[call-arg]  # the mixin's constructor
            for action in actions
        ]
        # Child lists being fetched: (child table's run, parent ID) and the fetch.
        self._pending: list[tuple[RunState, str, Future[tuple[list[dict] | None, datetime | None]]]] = []
        self._pool: ThreadPoolExecutor | None = None
        self._fetching = 0  # fetches not done yet (their callbacks count down)
        self._count_lock = threading.Lock()
        self._sets: dict[str, dict[str, set[str]]] = {run.action.table_name(): {} for run in self._runs}

    @property
    def stats(self) -> dict[str, SyncStats]:
        return {run.action.table_name(): run.stats for run in self._runs}

    @property
    def runs(self) -> list[RunState]:
        return self._runs

    def collect(self, parent_data: dict) -> None:
        """Stage the children the parent embeds; note what must still be fetched."""
        parent_id = parent_data["id"]
        for run in self._runs:
            child = child_table(run)
            self._sets[run.action.table_name()][parent_id] = set()
            page = parent_data.get(child.embedded) if child.embedded else None
            if isinstance(page, dict) and isinstance(page.get("data"), list):
                self._stage(run, parent_id, page["data"], self._parent.observed_at)
                if page.get("has_more") and page["data"]:
                    self._fetch_soon(run, parent_id, page["data"][-1]["id"])
            else:
                self._fetch_soon(run, parent_id, None)

    @property
    def fetching(self) -> bool:
        """Whether child lists are still being fetched: a flush now would wait for them."""
        return self._fetching > 0

    def parent_deleted(self, parent_id: str) -> None:
        for run in self._runs:
            self._sets[run.action.table_name()][parent_id] = set()

    def flush(self) -> None:
        """Wait for what the parents did not embed, then write every child table."""
        self.take()()

    def take(self) -> Callable[[], None]:
        """Wait for what the parents did not embed and stage it; returns the write of every child
        table, to run now or later (actions/sync/writer.py). The write first reads which children
        each parent had, to flag those that vanished: it runs after the writes before it."""
        pending, self._pending = self._pending, []
        for run, parent_id, fetch in pending:
            objects, observed_at = fetch.result()
            if objects is None:  # the parent is gone: its next sync decides its children
                self._sets[run.action.table_name()].pop(parent_id, None)
            else:
                self._stage(run, parent_id, objects, observed_at)
        now = datetime.now(UTC)
        writes = []
        for run in self._runs:
            sets, self._sets[run.action.table_name()] = self._sets[run.action.table_name()], {}
            writes.append((run, sets, run.rows.take(), run.observed_time(now)))

        def write() -> None:
            for run, sets, rows, observed_at in writes:
                if sets:
                    vanished = self._vanished(run, sets)
                    rows.tombstones.extend(
                        run.rows.tombstone({"id": object_id, "object": run.action.object_name(), "deleted": True}, now, observed_at)
                        for object_id in vanished
                    )
                rows()

        return write

    def close(self) -> None:
        """Stop the fetching threads; fetches not yet awaited are dropped (the batch failed)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def _fetch_soon(self, run: RunState, parent_id: str, after: str | None) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._parent.action.concurrency, thread_name_prefix="stripe-children")
        with self._count_lock:
            self._fetching += 1
        fetch = self._pool.submit(self._fetch, run, parent_id, after)
        fetch.add_done_callback(self._fetched)
        self._pending.append((run, parent_id, fetch))

    def _fetched(self, _: Future) -> None:
        with self._count_lock:
            self._fetching -= 1

    def _fetch(self, run: RunState, parent_id: str, after: str | None) -> tuple[list[dict] | None, datetime | None]:
        path, params = child_table(run).list_request(parent_id, after)
        objects: list[dict] = []
        try:
            for page in self._parent.client.list_pages(path, params):
                objects.extend(page)
        except stripe.InvalidRequestError as error:
            if error.http_status == 404 and error.code == "resource_missing":
                return None, None
            raise
        return objects, self._parent.client.observed_at()

    def _stage(self, run: RunState, parent_id: str, objects: list[dict], observed_at: datetime | None) -> None:
        run.parent_id, run.observed_at = parent_id, observed_at
        ids = self._sets[run.action.table_name()].setdefault(parent_id, set())
        for obj in objects:
            row = run.action.sync(obj)
            # A child that failed is in _stripe_sync_errors, not gone: it must not be flagged deleted.
            ids.add(row["id"] if row else f"{parent_id}/{obj.get('id')}" if child_table(run).keyed_by_parent else str(obj.get("id")))
        run.parent_id = None

    def _vanished(self, run: RunState, sets: dict[str, set[str]]) -> list[str]:
        """IDs of the table's live rows under these parents that their child sets no longer hold."""
        live = self._parent.warehouse.ids_by_parent(
            run.action.table(), child_table(run).parent_column, list(sets), self._parent.stripe_account
        )
        return [object_id for parent_id, ids in live.items() for object_id in sorted(ids - sets.get(parent_id, set()))]


def child_table(run: RunState) -> ChildTable:
    """Where a child table's rows come from: set on every child table's action (catalogued.py)."""
    table = run.action.child_table
    assert table is not None, f"{type(run.action).__name__} is not a child table's action"
    return table
