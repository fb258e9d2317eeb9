"""The action: one Stripe object type, what it declares, its hooks, and `sync`.

`sync` runs `pre_set_defualt` (sic: the documented spelling, kept from the Django library
this project ports), `set_default` and `post_set_default`, then stages the row. Rows are
written in multi-row upserts every `flush_every` rows and at the end of a batch (`sync_all`,
`sync_by_ids`, `sync_incremental`, `batched()`); outside one, `sync` writes its row at once.

The machinery behind the public methods lives in actions/sync/, one module per job:
mapping.py (an object becomes a row), buffer.py (staging, flushing, the sync error table),
listing.py (cursor walk, created windows, retrieval by ID), backfill.py, events.py,
reconcile.py, and runner.py (the lock, the account check and the choice of mode).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import Table
from stripe import StripeObject

from .. import policies
from ..catalog import ObjectType
from ..models import StripeModel
from ..stripe_api import StripeApiClient
from ..stripe_api.events import MAX_TYPES_PER_REQUEST
from ..warehouse import UpsertResult, Warehouse
from .children import ChildSync
from .sync import backfill, listing, mapping, reconcile, runner
from .sync.buffer import ObjectSyncError, RowBuffer
from .sync.stats import SyncStats

__all__ = ["ObjectSyncError", "StripeSyncActionMixin", "SyncStats"]

_HOOKS = ("pre_set_defualt", "pre_set_default", "set_default", "post_set_default")


class StripeSyncActionMixin:
    """Sync one Stripe object type into its table. Subclasses declare two class attributes:

    - `model_class`: the SQLAlchemy model of the table (from `stripe_pipeline.models`)
    - `stripe_object_class`: the `stripe` package's class, e.g. `stripe.Customer`

    and override hooks where the default mapping is not enough.
    """

    model_class: ClassVar[type[StripeModel]]
    stripe_object_class: ClassVar[type]
    # The catalogue's description of the type (catalog/): fields, events, area. Set for every
    # action this package ships; an action of your own may leave it unset.
    stripe_type: ClassVar[ObjectType | None] = None
    # Filters that every full listing needs, e.g. subscriptions hide canceled ones by default.
    list_params: ClassVar[dict[str, Any]] = {}
    # Prefixes of this type's IDs, for the ID sync job; empty where users pick IDs (coupons).
    id_prefixes: ClassVar[tuple[str, ...]] = ()
    # Fields that must not reach the warehouse, e.g. a PaymentIntent's client_secret.
    redacted_fields: ClassVar[tuple[str, ...]] = ()
    flush_every: ClassVar[int] = policies.FLUSH_EVERY
    concurrency: ClassVar[int] = policies.CONCURRENCY
    # A list filter that takes many IDs at once (products: `ids`), for retrieving in batches.
    list_ids_filter: ClassVar[str | None] = None
    # Events whose `data.object` is this type's object; None: `<object>.created|updated|deleted`.
    event_types: ClassVar[tuple[str, ...] | None] = None
    # Which of them mean the object is gone; None: those ending in `.deleted`.
    deletion_event_types: ClassVar[tuple[str, ...] | None] = None
    # The actions of this type's child tables (actions/children.py), from the catalogue.
    child_actions: ClassVar[tuple[type[StripeSyncActionMixin], ...]] = ()

    def __init__(
        self,
        *,
        client: StripeApiClient | None = None,
        warehouse: Warehouse | None = None,
        api_key: str | None = None,
        api_base: str | None = None,
        stripe_account: str | None = None,
        warehouse_url: str | None = None,
        logger: logging.Logger | Any | None = None,
        flush_every: int | None = None,
        concurrency: int | None = None,
        children: Iterable[str] | str | None = None,
        timeout_seconds: float | None = None,
        strict: bool = False,
    ):
        """`children`: the child tables to sync with each object, by table name, or "all";
        by default those the object embeds, which cost no request (an invoice's lines).
        `strict`: an object that cannot be synced (a hook raises, the database refuses a value)
        fails the run at once; by default it is kept in `_stripe_sync_errors` and the run goes on."""
        self.strict = strict
        self._client = client
        self._client_args = {"api_key": api_key, "api_base": api_base, "timeout": timeout_seconds}
        self._warehouse = warehouse
        self._warehouse_url = warehouse_url
        # The Connect account whose data this is; None for the platform account.
        self.stripe_account = stripe_account or (client.stripe_account if client else None)
        self.log = logger or logging.getLogger(f"stripe_pipeline.{self.table_name()}")
        if flush_every is not None:
            self.flush_every = flush_every
        if concurrency is not None:
            self.concurrency = concurrency
        self.stats = SyncStats()
        # What the machinery in actions/sync/ shares with the action:
        self.rows = RowBuffer(self)  # rows staged for the next flush
        self.observed_at: datetime | None = None  # when the data being synced was observed at Stripe (None: now)
        self.children: ChildSync | None = None  # the chosen child tables, during a batch
        # IDs the synced rows refer to, by object name, while `track_references()` is on.
        self.references: dict[str, set[str]] | None = None
        self._chosen_children = self._choose_children(children)
        self._batch_depth = 0
        self._exclusive_depth = 0

    # -- what the class declares, derived ------------------------------------------------

    @classmethod
    def table(cls) -> Table:
        return cls.model_class.__table__

    @classmethod
    def table_name(cls) -> str:
        return cls.model_class.__tablename__

    @classmethod
    def object_name(cls) -> str:
        return cls.stripe_type.object_name if cls.stripe_type is not None else cls.stripe_object_class.OBJECT_NAME

    @classmethod
    def api_path(cls) -> str:
        if cls.stripe_type is not None and cls.stripe_type.path:
            return cls.stripe_type.path
        return cls.stripe_object_class.class_url()

    @classmethod
    def watched_events(cls) -> tuple[str, ...]:
        """Event types whose `data.object` is this type's object, or one of its children's (a
        customer's tax ID: the customer is synced again). At most 20: one request."""
        if cls.event_types is not None:
            own = tuple(cls.event_types)
        elif cls.stripe_type is not None:
            own = cls.stripe_type.events
        else:
            name = cls.object_name()
            own = (f"{name}.created", f"{name}.updated", f"{name}.deleted")
        children = [name for child in cls.child_actions for name in child.stripe_type.events if name not in own]
        return tuple(dict.fromkeys([*own, *children]))[:MAX_TYPES_PER_REQUEST]

    @classmethod
    def deletion_events(cls) -> frozenset[str]:
        """Event types after which the object no longer exists (its row gets `_deleted_at`)."""
        if cls.deletion_event_types is not None:
            return frozenset(cls.deletion_event_types)
        if cls.stripe_type is not None:
            return frozenset(cls.stripe_type.deletion_events)
        return frozenset(t for t in cls.watched_events() if t.endswith(".deleted"))

    @classmethod
    def _choose_children(cls, children: Iterable[str] | str | None) -> tuple[type[StripeSyncActionMixin], ...]:
        if children is None:
            return tuple(action for action in cls.child_actions if action.child_table.embedded)
        if children == "all":
            return cls.child_actions
        wanted = set([children] if isinstance(children, str) else children)
        known = {action.table_name(): action for action in cls.child_actions}
        if not wanted <= known.keys():
            raise ValueError(f"{cls.__name__} has no child tables {sorted(wanted - known.keys())}; it has {sorted(known) or 'none'}.")
        return tuple(known[name] for name in sorted(wanted))

    @property
    def chosen_children(self) -> tuple[type[StripeSyncActionMixin], ...]:
        return self._chosen_children

    @property
    def child_stats(self) -> dict[str, SyncStats]:
        """What each child table's sync did in the current or last batch, by table name."""
        return self.children.stats if self.children else {}

    @property
    def client(self) -> StripeApiClient:
        if self._client is None:
            self._client = StripeApiClient(
                self._client_args["api_key"],
                self._client_args["api_base"],
                timeout=self._client_args["timeout"],
                stripe_account=self.stripe_account,
                logger=self.log,
                slot_store=self.warehouse.slot_store(),  # one budget with every other process
            )
        return self._client

    @property
    def warehouse(self) -> Warehouse:
        if self._warehouse is None:
            self._warehouse = Warehouse(self._warehouse_url)
        return self._warehouse

    # -- the seed API ----------------------------------------------------------------------

    def sync(self, stripe_data: dict) -> dict | None:
        """Run one object through the hooks and stage its row. Returns the row values, or
        None when the object could not be synced (it is kept in `_stripe_sync_errors`).

        A deleted object (Stripe answers `{"id": …, "deleted": true}`) skips the hooks: its row
        keeps the last known data and gets `_deleted_at`.
        """
        if isinstance(stripe_data, StripeObject):
            stripe_data = stripe_data.to_dict()
        if self._chosen_children and self._batch_depth == 0:
            with self.batched():  # children are fetched and written with their parent
                return self.sync(stripe_data)
        if stripe_data.get("deleted") is True:
            return self._stage_deletion(stripe_data)
        if self.children is not None:
            self.children.collect(stripe_data)
        stage = "set_default"
        try:
            # Hooks may change what they are given, nested values included; `_raw` keeps what the API
            # returned. Actions without hooks skip the copy, it is most of their per-object cost.
            if not _has_hooks(type(self)):
                defaults = self.set_default(stripe_data)  # its `_raw` is the API's object already
            else:
                data = mapping.json_copy(stripe_data)
                stage = "pre_set_defualt"
                data = self.pre_set_defualt(data) or data
                stage = "set_default"
                defaults = self.set_default(data)
                defaults["_raw"] = self.redacted(stripe_data)
                stage = "post_set_default"
                defaults = self.post_set_default(defaults) or defaults
            stage = "the row"
            self._stage(defaults)
        except Exception as error:  # noqa: BLE001 - whatever a hook raises, the object is kept and named
            self.rows.fail(stripe_data, error, f"hook {stage} failed" if stage != "the row" else "its row is unusable")
            return None
        return defaults

    def sync_by_ids(self, ids: Iterable[str]) -> SyncStats:
        """Retrieve the given objects and sync each one; IDs Stripe does not know are listed
        in `stats.missing_ids` and the rest still sync."""
        with self.batched():
            for object_id, stripe_data in listing.retrieve_each(self, dict.fromkeys(ids)):  # de-duplicated, order kept
                if stripe_data is None:
                    self.stats.missing_ids.append(object_id)
                    self.log.warning(f"{self.table_name()}: Stripe has no {self.object_name()} {object_id!r}")
                    continue
                self.sync(stripe_data)
        self.log.info(f"{self.table_name()}: synced {self.stats.fetched:,} of {len(self.stats.missing_ids) + self.stats.fetched:,} IDs")
        return self.stats

    def sync_all(self, **list_params: Any) -> SyncStats:
        """Page through the whole list endpoint (limit=100) and sync every object.

        Without filters this is the checkpointed backfill: a run that dies resumes where its
        last flush left off, and a finished one hands over to the events (`sync_incremental`).
        Filters (`sync_all(created={"gte": …})`) make it a plain listing that keeps no state.
        """
        if list_params:
            with self.batched():
                for _ in listing.list_and_sync(self, {**self.list_params, **list_params}):
                    pass
            return self.stats
        with self.exclusive(), self.batched():
            state = self.load_state()
            backfill.backfill(self, resume=state["backfill"] if state else None)
        return self.stats

    def sync_incremental(self, *, reconcile: bool = False, trust_event_payloads: bool = False, full_refresh: bool = False) -> SyncStats:
        """Bring the table up to date at the lowest cost that is still correct: a (resumed)
        backfill on the first run, the events since the last run afterwards (actions/sync/runner.py).
        `reconcile` relists every ID afterwards, to flag deletes no event reported.

        Changed objects are retrieved again by default, so rows hold the current API version's
        shape; `trust_event_payloads` takes them from the events instead and saves the requests.
        """
        runner.run(self, reconcile_after=reconcile, trust_event_payloads=trust_event_payloads, full_refresh=full_refresh)
        return self.stats

    def reconcile(self) -> SyncStats:
        """Relist every object and compare IDs with the table: rows Stripe no longer lists get
        `_deleted_at`, flagged rows that Stripe lists are restored (actions/sync/reconcile.py)."""
        with self.exclusive(), self.batched():
            reconcile.reconcile(self)
        return self.stats

    def set_default(self, stripe_data: dict) -> dict:
        """Map the object to row values: each model column from the top-level field of the same
        name; timestamps become UTC datetimes, expanded references their ID, nested values JSON
        (actions/sync/mapping.py)."""
        row = mapping.map_fields(mapping.mapping_plan(self.table()), stripe_data, self.stats.drifted)
        row["_raw"] = self.redacted(stripe_data)
        row["_account"] = self.stripe_account
        row["_synced_at"] = now = datetime.now(UTC)
        row["_deleted_at"] = None
        row["_observed_at"] = self._observed_time(now)
        return row

    def pre_set_defualt(self, stripe_data: dict) -> dict | None:  # sic: the documented spelling
        """Hook before the mapping. Change `stripe_data` in place or return a new dict."""
        return self.pre_set_default(stripe_data)

    def pre_set_default(self, stripe_data: dict) -> dict | None:
        """The correctly spelled hook, for subclasses that prefer it."""
        return None

    def post_set_default(self, defaults: dict) -> dict | None:
        """Hook after the mapping. Change `defaults` in place or return a new dict."""
        return None

    def track_references(self) -> None:
        """From now on, note the IDs that synced rows refer to (a price's product), so that
        actions/related.py can fetch those the warehouse lacks, in batches, after the sync."""
        self.references = {}

    # -- batches, writes and state -----------------------------------------------------------

    @contextmanager
    def batched(self) -> Iterator[None]:
        """Stage the rows of the `sync` calls inside and write them in multi-row upserts (every
        `flush_every` rows and at the end), as `sync_all` does:

        >>> with action.batched():
        ...     for customer in stripe.Customer.list(limit=100).auto_paging_iter():
        ...         action.sync(customer)
        """
        with ExitStack() as stack:
            if self._batch_depth == 0:
                self.stats = SyncStats()
                # Before any request: a sync that finds nothing still leaves the table for SQL to query.
                self.warehouse.ensure_tables([self.table()])
                if self._chosen_children:
                    self.children = ChildSync(self, self._chosen_children)
                    for child in self.children.actions:
                        stack.enter_context(child.batched())
            self._batch_depth += 1
            try:
                yield
            finally:
                self._batch_depth -= 1
                if self._batch_depth == 0:
                    self.flush()  # what was fetched before a failure is kept, not lost
                    self._report_failures()

    def flush(self) -> UpsertResult:
        """Write the staged rows and deletions now (children first: a checkpoint never vouches
        for children that did not land)."""
        if self.children is not None:
            self.children.flush()
        return self.rows.flush()

    def flag_deleted(self, ids: Iterable[str]) -> None:
        """Give these IDs' rows `_deleted_at` with the next flush; their data stays."""
        for object_id in ids:
            self._stage_deletion({"id": object_id, "object": self.object_name(), "deleted": True})

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold this type's sync lock (re-entrant within one action): one run per type and
        account at a time, across processes (warehouse/locks.py)."""
        if self._exclusive_depth == 0:
            wait = lambda seconds: self.log.info(  # noqa: E731
                f"{self.table_name()}: waiting {seconds:.0f} s for another run of this type to finish"
            )
            lock = self.warehouse.sync_lock(self.table_name(), self.stripe_account, wait)
        else:
            lock = nullcontext()
        self._exclusive_depth += 1
        try:
            with lock:
                yield
        finally:
            self._exclusive_depth -= 1

    def load_state(self) -> dict | None:
        """This type's and account's row of `_stripe_sync_state`, or None."""
        return self.warehouse.load_state(self.table_name(), self.stripe_account)

    def save_state(self, **values: Any) -> None:
        self.warehouse.save_state(self.table_name(), self.stripe_account, **values)

    def redacted(self, stripe_data: dict) -> dict:
        """The object without its `redacted_fields`, as `_raw` keeps it."""
        return mapping.redacted(stripe_data, self.redacted_fields)

    # -- inside --------------------------------------------------------------------------------

    def _stage(self, row: dict) -> None:
        plan = mapping.mapping_plan(self.table())
        if not row.keys() <= plan.column_set:
            unknown = row.keys() - plan.column_set
            raise ValueError(
                f"{type(self).__name__} produced values for columns that {self.table_name()} does not have: "
                f"{sorted(unknown)}. Add them to {self.model_class.__name__} or drop them in post_set_default."
            )
        if self.references is not None:
            for name, target in _reference_targets(type(self)):
                value = row.get(name)
                if isinstance(value, str) and value:
                    self.references.setdefault(target, set()).add(value)
        self.rows.stage(mapping.full_row(plan, row))
        self._flush_if_due()

    def _stage_deletion(self, stub: dict) -> dict:
        now = datetime.now(UTC)
        tombstone = {
            "id": stub["id"],
            "_raw": stub,
            "_synced_at": now,
            "_deleted_at": now,
            "_account": self.stripe_account,
            "_observed_at": self._observed_time(now),
        }
        self.rows.stage_deletion(tombstone)
        if self.children is not None:
            self.children.parent_deleted(stub["id"])
        self._flush_if_due()
        return dict.fromkeys(mapping.mapping_plan(self.table()).columns) | tombstone

    def _flush_if_due(self) -> None:
        if self._batch_depth == 0 or len(self.rows) >= self.flush_every:
            self.flush()

    def _observed_time(self, now: datetime) -> datetime:
        if self.observed_at is not None:
            return self.observed_at
        # A row synced without a response time (a hook's own `sync(obj)`): observed now, by Stripe's clock.
        return datetime.fromtimestamp(self.client.server_now(), UTC) if self._client is not None else now

    def _report_failures(self) -> None:
        if self.stats.failed:
            self.log.warning(f"{self.table_name()}: {self.stats.failed:,} objects failed, see _stripe_sync_errors")
        if self.stats.drifted:
            fields = ", ".join(f"{name} ({count:,})" for name, count in self.stats.drifted.most_common())
            self.log.warning(f"{self.table_name()}: values that do not fit their column are NULL there, kept in _raw: {fields}")


@functools.cache
def _has_hooks(action: type) -> bool:
    return any(getattr(action, hook) is not getattr(StripeSyncActionMixin, hook) for hook in _HOOKS)


@functools.cache
def _reference_targets(action: type[StripeSyncActionMixin]) -> tuple[tuple[str, str], ...]:
    return mapping.reference_targets(action.stripe_type)
