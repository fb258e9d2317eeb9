"""A sync's run state, kept apart from the action users subclass.

An action is what a user writes: its declarations and hooks (actions/mixins.py). Everything a
sync holds while it runs lives here instead: the Stripe client and the warehouse, the rows staged
for the next flush, the child tables being fetched, the counts, the lock, and when the data being
synced was observed at Stripe. The engine's modules (backfill.py, events.py, listing.py, …) take a
`SyncRun` and never set anything on the action, so a subclass cannot shadow the engine's state by
naming an attribute `rows` or `stats`, and the engine's decisions can be tested with any client
and warehouse of the same shape.

`stage` is the hook pipeline that the action's `sync` runs: `pre_set_defualt` (sic),
`set_default`, `post_set_default`, then the row is staged and written when a flush is due.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from datetime import UTC, datetime
from typing import Any

from stripe import StripeObject

from ... import policies
from ...stripe_api import StripeApiClient
from ...warehouse import UpsertResult, Warehouse
from ...warehouse.errors import failed_objects
from . import declarations, mapping
from .buffer import RowBuffer
from .children import ChildSync
from .protocol import ActionType
from .stats import SyncStats
from .writer import Writer


class SyncRun:
    """The state of one action's syncs: made by the action's constructor, one per instance."""

    def __init__(
        self,
        action: ActionType,
        *,
        client: StripeApiClient | None,
        warehouse: Warehouse | None,
        connect: dict[str, Any],
        stripe_account: str | None,
        logger: logging.Logger | Any,
        children: Iterable[str] | str | None,
        strict: bool,
    ):
        self.action = action
        self.strict = strict
        self._client, self._warehouse = client, warehouse
        self._connect = connect  # how to make a client or warehouse when none was given
        # The Connect account whose data this is; None for the platform account.
        self.stripe_account = stripe_account or (client.stripe_account if client else None)
        self.log = logger
        self.chosen_children: tuple[type[ActionType], ...] = declarations.choose_children(type(action), children)
        self.stats = SyncStats()
        self.rows = RowBuffer(self)  # rows staged for the next flush
        self.observed_at: datetime | None = None  # when the data being synced was observed at Stripe (None: now)
        self.children: ChildSync | None = None  # the chosen child tables, during a batch
        self.parent_id: str | None = None  # a child table's run: the parent whose children are being staged
        # IDs the synced rows refer to, by object name, while `track_references()` is on.
        self.references: dict[str, set[str]] | None = None
        self._batch_depth = 0  # batches nest: only the outermost one opens and writes (batched)
        self._lock_depth = 0  # the sync lock is re-entrant within a run (exclusive)
        self.writer = Writer(background=False)  # due flushes, in the background while a batch is open

    @property
    def log_name(self) -> str:
        """How log lines name this sync: its table, and its Connect account when it reads one."""
        name = self.action.table_name()
        return f"{name} ({self.stripe_account})" if self.stripe_account else name

    @property
    def client(self) -> StripeApiClient:
        if self._client is None:
            self._client = StripeApiClient(
                self._connect.get("api_key"),
                self._connect.get("api_base"),
                timeout=self._connect.get("timeout_seconds"),
                stripe_account=self.stripe_account,
                logger=self.log,
                slot_store=self.warehouse.slot_store(),  # one budget with every other process
            )
        return self._client

    @property
    def warehouse(self) -> Warehouse:
        if self._warehouse is None:
            self._warehouse = Warehouse(self._connect.get("warehouse_url"))
        return self._warehouse

    @property
    def child_stats(self) -> dict[str, SyncStats]:
        return self.children.stats if self.children else {}

    # -- the hook pipeline -----------------------------------------------------------------------

    def stage(self, stripe_data: dict | StripeObject) -> dict | None:
        """What the action's `sync` does: run one object through the hooks and stage its row
        (actions/mixins.py says what users see of it)."""
        if isinstance(stripe_data, StripeObject):
            stripe_data = stripe_data.to_dict()
        if self.chosen_children and not self.batch_is_open:
            with self.action.batched():  # children are fetched and written with their parent
                return self.action.sync(stripe_data)
        if stripe_data.get("deleted") is True:
            return self.stage_deletion(stripe_data)
        if self.children is not None:
            self.children.collect(stripe_data)
        action = self.action
        stage = "set_default"
        try:
            # Hooks may change what they are given, nested values included; `_raw` keeps what the API
            # returned. Actions without hooks skip the copy, it is most of their per-object cost.
            if not declarations.has_hooks(type(action)):
                defaults = action.set_default(stripe_data)  # its `_raw` is the API's object already
            else:
                data = mapping.json_copy(stripe_data)
                stage = "pre_set_defualt"
                data = action.pre_set_defualt(data) or data
                stage = "set_default"
                defaults = action.set_default(data)
                defaults["_raw"] = action.redacted(stripe_data)
                stage = "post_set_default"
                defaults = action.post_set_default(defaults) or defaults
            stage = "the row"
            self.rows.add(defaults)
        except Exception as error:  # noqa: BLE001 - whatever a hook raises, the object is kept and named
            self.rows.fail(stripe_data, error, f"hook {stage} failed" if stage != "the row" else "its row is unusable")
            return None
        self._flush_if_due()
        return defaults

    def stage_deletion(self, stub: dict) -> dict:
        now = datetime.now(UTC)
        row = self.rows.add_deletion(stub, now, self.observed_time(now))
        if self.children is not None:
            self.children.parent_deleted(stub["id"])
        self._flush_if_due()
        return row

    def flag_deleted(self, ids: Iterable[str]) -> None:
        """Give these IDs' rows `_deleted_at` with the next flush; their data stays."""
        for object_id in ids:
            self.stage_deletion({"id": object_id, "object": self.action.object_name(), "deleted": True})

    def observed_time(self, now: datetime) -> datetime:
        """When the row being staged was observed at Stripe: the response it came in."""
        if self.observed_at is not None:
            return self.observed_at
        # A row synced without a response time (a hook's own `sync(obj)`): observed now, by Stripe's clock.
        return self._client.observation_now() if self._client is not None else now

    # -- batches, writes and state ---------------------------------------------------------------

    @property
    def batch_is_open(self) -> bool:
        return self._batch_depth > 0

    @contextmanager
    def batched(self) -> Iterator[None]:
        """A batch: the `sync` calls inside stage their rows, written every `flush_every` rows and
        once more at its end; outside one, each `sync` writes its row at once. Batches nest (a
        backfill inside a run, a child table inside its parent's), and only the outermost one
        starts the counts, opens the child tables and writes the rest at its end."""
        with ExitStack() as stack:
            if self._batch_depth == 0:
                self.stats = SyncStats()
                self.writer = Writer(background=self.warehouse.writes_in_background)
                stack.callback(self._close_writer)  # after the last flush below
                # Before any request: a sync that finds nothing still leaves the table for SQL to query.
                self.warehouse.ensure_tables([self.action.table()])
                if self.chosen_children:
                    self.children = ChildSync(self, self.chosen_children)
                    stack.callback(self.children.close)  # after the last flush below
                    for child in self.children.runs:
                        stack.enter_context(child.action.batched())
            self._batch_depth += 1
            try:
                yield
            finally:
                self._batch_depth -= 1
                if self._batch_depth == 0:
                    self.action.flush()  # what was fetched before a failure is kept, not lost
                    self._report_problems()

    def _close_writer(self) -> None:
        self.writer.close()
        self.writer = Writer(background=False)

    def _report_problems(self) -> None:
        if self.stats.failed:
            self.log.warning(f"{self.log_name}: {failed_objects(self.stats.failed)}")
        if self.stats.drifted:
            fields = ", ".join(f"{name} ({count:,})" for name, count in self.stats.drifted.most_common())
            self.log.warning(f"{self.log_name}: values that do not fit their column are NULL there, kept in _raw: {fields}")

    def flush(self) -> UpsertResult:
        """Write the staged rows and deletions now (children first: a checkpoint never vouches
        for children that did not land), after any write still in flight."""
        self.writer.wait()
        return self._take_writes()()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold this type's and account's sync lock (warehouse/locks.py): one run at a time across
        processes. Re-entrant within a run, so that a run may call `sync_all` or `reconcile`."""
        lock: AbstractContextManager[None] = nullcontext()
        if self._lock_depth == 0:
            wait = lambda seconds: self.log.info(  # noqa: E731
                f"{self.log_name}: waiting {seconds:.0f} s for another run of this type to finish"
            )
            lock = self.warehouse.sync_lock(self.action.table_name(), self.stripe_account, wait)
        self._lock_depth += 1
        try:
            with lock:
                yield
        finally:
            self._lock_depth -= 1

    def load_state(self) -> dict | None:
        """This type's and account's row of `_stripe_sync_state`, or None."""
        self.writer.wait()  # a checkpoint in flight first
        return self.warehouse.load_state(self.action.table_name(), self.stripe_account)

    def save_state(self, **values: Any) -> None:
        self.writer.wait()  # after the checkpoint in flight, never overwritten by it
        self.warehouse.save_state(self.action.table_name(), self.stripe_account, **values)

    def _take_writes(self) -> Callable[[], UpsertResult]:
        """What is staged, children first, as one write to run now or in the background."""
        children = self.children.take() if self.children is not None else None
        rows = self.rows.take()

        def write() -> UpsertResult:
            if children is not None:
                children()
            return rows()

        return write

    def _flush_if_due(self) -> None:
        if not self.batch_is_open:
            self.action.flush()
        elif len(self.rows) >= (every := max(self.action.flush_every, self.warehouse.least_flush)):
            # A flush waits for the child lists still being fetched (a long invoice's lines, page
            # after page): put it off while they are, up to a bound (policies.FLUSH_PUT_OFF).
            waiting = self.children is not None and self.children.fetching
            # The bound is the default flush's: a warehouse's larger flush is put off no further.
            if not waiting or len(self.rows) >= max(every, self.action.flush_every * policies.FLUSH_PUT_OFF):
                self.writer.submit(self._take_writes())  # written while the listing goes on
