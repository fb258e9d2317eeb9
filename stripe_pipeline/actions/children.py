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
from typing import TYPE_CHECKING

import stripe

if TYPE_CHECKING:
    from .catalogued import ChildAction
    from .mixins import StripeSyncActionMixin, SyncStats


class ChildSync:
    """The chosen child tables of one parent action, staged with the parent and written first."""

    def __init__(self, parent: StripeSyncActionMixin, actions: Iterable[type[ChildAction]]):
        self._parent = parent
        self._actions = [
            action(client=parent.client, warehouse=parent.warehouse, logger=parent.log, flush_every=10**9, strict=parent.strict)
            for action in actions
        ]
        # Child lists being fetched: (child action, parent ID) and the fetch.
        self._pending: list[tuple[ChildAction, str, Future[tuple[list[dict] | None, datetime | None]]]] = []
        self._pool: ThreadPoolExecutor | None = None
        self._fetching = 0  # fetches not done yet (their callbacks count down)
        self._count_lock = threading.Lock()
        self._sets: dict[str, dict[str, set[str]]] = {action.table_name(): {} for action in self._actions}

    @property
    def stats(self) -> dict[str, SyncStats]:
        return {action.table_name(): action.stats for action in self._actions}

    @property
    def actions(self) -> list[ChildAction]:
        return self._actions

    def collect(self, parent_data: dict) -> None:
        """Stage the children the parent embeds; note what must still be fetched."""
        parent_id = parent_data["id"]
        for action in self._actions:
            child = action.child_table
            self._sets[action.table_name()][parent_id] = set()
            page = parent_data.get(child.embedded) if child.embedded else None
            if isinstance(page, dict) and isinstance(page.get("data"), list):
                self._stage(action, parent_id, page["data"], self._parent.observed_at)
                if page.get("has_more") and page["data"]:
                    self._fetch_soon(action, parent_id, page["data"][-1]["id"])
            else:
                self._fetch_soon(action, parent_id, None)

    @property
    def fetching(self) -> bool:
        """Whether child lists are still being fetched: a flush now would wait for them."""
        return self._fetching > 0

    def parent_deleted(self, parent_id: str) -> None:
        for action in self._actions:
            self._sets[action.table_name()][parent_id] = set()

    def flush(self) -> None:
        """Wait for what the parents did not embed, then write every child table."""
        self.take()()

    def take(self) -> Callable[[], None]:
        """Wait for what the parents did not embed and stage it; returns the write of every child
        table, to run now or later (actions/sync/writer.py). The write first reads which children
        each parent had, to flag those that vanished: it runs after the writes before it."""
        pending, self._pending = self._pending, []
        for action, parent_id, fetch in pending:
            objects, observed_at = fetch.result()
            if objects is None:  # the parent is gone: its next sync decides its children
                self._sets[action.table_name()].pop(parent_id, None)
            else:
                self._stage(action, parent_id, objects, observed_at)
        now = datetime.now(UTC)
        writes = []
        for action in self._actions:
            sets, self._sets[action.table_name()] = self._sets[action.table_name()], {}
            writes.append((action, sets, action.rows.take(), action._observed_time(now)))

        def write() -> None:
            for action, sets, rows, observed_at in writes:
                if sets:
                    vanished = self._vanished(action, sets)
                    rows.tombstones.extend(
                        action.rows.tombstone({"id": object_id, "object": action.object_name(), "deleted": True}, now, observed_at)
                        for object_id in vanished
                    )
                rows()

        return write

    def close(self) -> None:
        """Stop the fetching threads; fetches not yet awaited are dropped (the batch failed)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def _fetch_soon(self, action: ChildAction, parent_id: str, after: str | None) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._parent.concurrency, thread_name_prefix="stripe-children")
        with self._count_lock:
            self._fetching += 1
        fetch = self._pool.submit(self._fetch, action, parent_id, after)
        fetch.add_done_callback(self._fetched)
        self._pending.append((action, parent_id, fetch))

    def _fetched(self, _: Future) -> None:
        with self._count_lock:
            self._fetching -= 1

    def _fetch(self, action: ChildAction, parent_id: str, after: str | None) -> tuple[list[dict] | None, datetime | None]:
        path, params = action.child_table.list_request(parent_id, after)
        objects: list[dict] = []
        try:
            for page in self._parent.client.list_pages(path, params):
                objects.extend(page)
        except stripe.InvalidRequestError as error:
            if error.http_status == 404 and error.code == "resource_missing":
                return None, None
            raise
        return objects, self._parent.client.observed_at()

    def _stage(self, action: ChildAction, parent_id: str, objects: list[dict], observed_at: datetime | None) -> None:
        action.parent_id, action.observed_at = parent_id, observed_at
        ids = self._sets[action.table_name()].setdefault(parent_id, set())
        for obj in objects:
            row = action.sync(obj)
            # A child that failed is in _stripe_sync_errors, not gone: it must not be flagged deleted.
            ids.add(row["id"] if row else f"{parent_id}/{obj.get('id')}" if action.child_table.keyed_by_parent else str(obj.get("id")))
        action.parent_id = None

    def _vanished(self, action: ChildAction, sets: dict[str, set[str]]) -> list[str]:
        """IDs of the table's live rows under these parents that their child sets no longer hold."""
        live = self._parent.warehouse.ids_by_parent(
            action.table(), action.child_table.parent_column, list(sets), self._parent.stripe_account
        )
        return [object_id for parent_id, ids in live.items() for object_id in sorted(ids - sets.get(parent_id, set()))]
