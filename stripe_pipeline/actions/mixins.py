"""The action: one Stripe object type, what it declares, its hooks, and `sync`.

`sync` runs `pre_set_defualt` (sic: the documented spelling, kept from the Django library
this project ports), `set_default` and `post_set_default`, then stages the row. Rows are
written in multi-row upserts every `flush_every` rows and at the end of a batch (`sync_all`,
`sync_by_ids`, `sync_incremental`, `batched()`); outside one, `sync` writes its row at once.

What the declarations imply (events, children, hooks) is in declarations.py. The machinery
behind the public methods lives in actions/sync/, one module per job: mapping.py (an object
becomes a row), batch.py and buffer.py (staging, flushing, the sync error table), listing.py
(cursor walk, created windows, retrieval by ID), backfill.py, events.py, reconcile.py, and
runner.py (the lock, the account check and the choice of mode).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import Table
from stripe import APIResource, StripeObject

from .. import policies
from ..catalog import ChildTable, ObjectType
from ..models import StripeModel, account_key
from ..stripe_api import StripeApiClient
from ..warehouse import UpsertResult, Warehouse
from . import declarations
from .children import ChildSync
from .sync import backfill, listing, mapping, reconcile, runner
from .sync.batch import Batch
from .sync.buffer import ObjectSyncError, RowBuffer
from .sync.stats import SyncStats

if TYPE_CHECKING:
    from .catalogued import ChildAction

__all__ = ["ObjectSyncError", "StripeSyncActionMixin", "SyncStats"]


class StripeSyncActionMixin:
    """Sync one Stripe object type into its table. Subclasses declare two class attributes:

    - `model_class`: the SQLAlchemy model of the table (from `stripe_pipeline.models`)
    - `stripe_object_class`: the `stripe` package's class, e.g. `stripe.Customer`

    and override hooks where the default mapping is not enough.
    """

    model_class: ClassVar[type[StripeModel]]
    stripe_object_class: ClassVar[type[APIResource[Any]]]
    # The catalogue's description of the type (catalog/): fields, events, area. Set for every
    # action this package ships; an action of your own may leave it unset.
    stripe_type: ClassVar[ObjectType | None] = None
    # Filters that every full listing needs, e.g. subscriptions hide canceled ones by default.
    list_params: ClassVar[dict[str, Any]] = {}
    # Prefixes of this type's IDs, for the ID sync job; empty where users pick IDs (coupons).
    id_prefixes: ClassVar[tuple[str, ...]] = ()
    # Fields that must not reach the warehouse, e.g. a PaymentIntent's client_secret.
    redacted_fields: ClassVar[tuple[str, ...]] = ()
    # Defaults that a subclass or the constructor may change.
    flush_every: int = policies.FLUSH_EVERY
    concurrency: int = policies.CONCURRENCY
    # A list filter that takes many IDs at once (products: `ids`), for retrieving in batches.
    list_ids_filter: ClassVar[str | None] = None
    # Events whose `data.object` is this type's object; None: `<object>.created|updated|deleted`.
    event_types: ClassVar[tuple[str, ...] | None] = None
    # Which of them mean the object is gone; None: those ending in `.deleted`.
    deletion_event_types: ClassVar[tuple[str, ...] | None] = None
    # The actions of this type's child tables (actions/children.py), from the catalogue.
    child_actions: ClassVar[tuple[type[ChildAction], ...]] = ()
    # Set on a child table's own action: where its rows come from (an invoice's `lines`).
    child_table: ClassVar[ChildTable | None] = None

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
        self._api_key, self._api_base, self._timeout = api_key, api_base, timeout_seconds
        self._warehouse = warehouse
        self._warehouse_url = warehouse_url
        # The Connect account whose data this is; None for the platform account.
        self.stripe_account = stripe_account or (client.stripe_account if client else None)
        self.log = logger or logging.getLogger(f"stripe_pipeline.{self.table_name()}")
        if flush_every is not None:
            self.flush_every = flush_every
        if concurrency is not None:
            self.concurrency = concurrency
        self.chosen_children = declarations.choose_children(type(self), children)
        self.stats = SyncStats()
        # What the machinery in actions/sync/ shares with the action:
        self.rows = RowBuffer(self)  # rows staged for the next flush
        self.observed_at: datetime | None = None  # when the data being synced was observed at Stripe (None: now)
        self.children: ChildSync | None = None  # the chosen child tables, during a batch
        # IDs the synced rows refer to, by object name, while `track_references()` is on.
        self.references: dict[str, set[str]] | None = None
        self._batch = Batch(self)
        self._lock = runner.TypeLock(self)

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
        """Event types whose `data.object` is this type's object or one of its children's."""
        return declarations.watched_events(cls)

    @classmethod
    def deletion_events(cls) -> frozenset[str]:
        """Event types after which the object no longer exists (its row gets `_deleted_at`)."""
        return declarations.deletion_events(cls)

    @property
    def log_name(self) -> str:
        """How log lines name this sync: its table, and its Connect account when it reads one."""
        return f"{self.table_name()} ({self.stripe_account})" if self.stripe_account else self.table_name()

    @property
    def child_stats(self) -> dict[str, SyncStats]:
        """What each child table's sync did in the current or last batch, by table name."""
        return self.children.stats if self.children else {}

    @property
    def client(self) -> StripeApiClient:
        if self._client is None:
            self._client = StripeApiClient(
                self._api_key,
                self._api_base,
                timeout=self._timeout,
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
        if self.chosen_children and not self._batch.is_open:
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
            if not declarations.has_hooks(type(self)):
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
            self.rows.add(defaults)
        except Exception as error:  # noqa: BLE001 - whatever a hook raises, the object is kept and named
            self.rows.fail(stripe_data, error, f"hook {stage} failed" if stage != "the row" else "its row is unusable")
            return None
        self._flush_if_due()
        return defaults

    def sync_by_ids(self, ids: Iterable[str]) -> SyncStats:
        """Retrieve the given objects and sync each one; IDs Stripe does not know are listed
        in `stats.missing_ids` and the rest still sync."""
        with self.batched():
            for object_id, stripe_data in listing.retrieve_each(self, dict.fromkeys(ids)):  # de-duplicated, order kept
                if stripe_data is None:
                    self.stats.missing_ids.append(object_id)
                    self.log.warning(f"{self.log_name}: Stripe has no {self.object_name()} {object_id!r}")
                    continue
                self.sync(stripe_data)
        self.log.info(f"{self.log_name}: synced {self.stats.fetched:,} of {len(self.stats.missing_ids) + self.stats.fetched:,} IDs")
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

    def sync_incremental(
        self, *, reconcile: bool = False, trust_event_payloads: bool = False, full_refresh: bool = False, run_key: str | None = None
    ) -> SyncStats:
        """Bring the table up to date at the lowest cost that is still correct: a (resumed)
        backfill on the first run, the events since the last run afterwards (actions/sync/runner.py).
        `reconcile` relists every ID afterwards, to flag deletes no event reported.

        Changed objects are retrieved again by default, so rows hold the current API version's
        shape; `trust_event_payloads` takes them from the events instead and saves the requests.
        `run_key` names the run this sync is one table of (a Dagster run's ID): the tables of one
        run read each account's events once, staged in the warehouse (actions/sync/event_log.py).
        """
        runner.run(self, reconcile_after=reconcile, trust_event_payloads=trust_event_payloads, full_refresh=full_refresh, run_key=run_key)
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
        row["_account"] = account_key(self.stripe_account)
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

    def batched(self) -> AbstractContextManager[None]:
        """Stage the rows of the `sync` calls inside and write them in multi-row upserts (every
        `flush_every` rows and at the end), as `sync_all` does (actions/sync/batch.py):

        >>> with action.batched():
        ...     for customer in stripe.Customer.list(limit=100).auto_paging_iter():
        ...         action.sync(customer)
        """
        return self._batch.open()

    def flush(self) -> UpsertResult:
        """Write the staged rows and deletions now (children first: a checkpoint never vouches
        for children that did not land), after any write still in flight."""
        self._batch.writer.wait()
        return self._take_writes()()

    def _take_writes(self) -> Callable[[], UpsertResult]:
        """What is staged, children first, as one write to run now or in the background."""
        children = self.children.take() if self.children is not None else None
        rows = self.rows.take()

        def write() -> UpsertResult:
            if children is not None:
                children()
            return rows()

        return write

    def flag_deleted(self, ids: Iterable[str]) -> None:
        """Give these IDs' rows `_deleted_at` with the next flush; their data stays."""
        for object_id in ids:
            self._stage_deletion({"id": object_id, "object": self.object_name(), "deleted": True})

    def exclusive(self) -> AbstractContextManager[None]:
        """Hold this type's sync lock: one run per type and account at a time, across processes."""
        return self._lock.held()

    def load_state(self) -> dict | None:
        """This type's and account's row of `_stripe_sync_state`, or None."""
        self._batch.writer.wait()  # a checkpoint in flight first
        return self.warehouse.load_state(self.table_name(), self.stripe_account)

    def save_state(self, **values: Any) -> None:
        self._batch.writer.wait()  # after the checkpoint in flight, never overwritten by it
        self.warehouse.save_state(self.table_name(), self.stripe_account, **values)

    def redacted(self, stripe_data: dict) -> dict:
        """The object without its `redacted_fields`, as `_raw` keeps it."""
        return mapping.redacted(stripe_data, self.redacted_fields)

    # -- inside --------------------------------------------------------------------------------

    def _stage_deletion(self, stub: dict) -> dict:
        now = datetime.now(UTC)
        row = self.rows.add_deletion(stub, now, self._observed_time(now))
        if self.children is not None:
            self.children.parent_deleted(stub["id"])
        self._flush_if_due()
        return row

    def _flush_if_due(self) -> None:
        if not self._batch.is_open:
            self.flush()
        elif len(self.rows) >= self.flush_every:
            # A flush waits for the child lists still being fetched (a long invoice's lines, page
            # after page): put it off while they are, up to a bound (policies.FLUSH_PUT_OFF).
            waiting = self.children is not None and self.children.fetching
            if not waiting or len(self.rows) >= self.flush_every * policies.FLUSH_PUT_OFF:
                self._batch.writer.submit(self._take_writes())  # written while the listing goes on

    def _observed_time(self, now: datetime) -> datetime:
        if self.observed_at is not None:
            return self.observed_at
        # A row synced without a response time (a hook's own `sync(obj)`): observed now, by Stripe's clock.
        return self.client.observation_now() if self._client is not None else now
