"""The hook pipeline: the one place where a Stripe object becomes a warehouse row.

`sync` runs `pre_set_defualt` (sic: the documented spelling, kept from the Django library
this project ports), `set_default` and `post_set_default`, then stages the row. Rows are
written in multi-row upserts every `flush_every` rows and at the end of `sync_all` and
`sync_by_ids`; outside those, `sync` writes its row at once.
"""

from __future__ import annotations

import functools
import logging
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, ClassVar

import orjson
from stripe import StripeObject
from sqlalchemy import DateTime, Table

from ..catalog import ObjectType
from ..models import META_COLUMNS, StripeModel
from ..stripe_api import StripeApiClient
from ..stripe_api.windows import ParallelLister, Remaining, Window
from ..warehouse import UpsertResult, Warehouse, WarehouseError
from .children import ChildSync
from .incremental import RETRIEVE_BATCH, IncrementalSyncMixin

PROGRESS_EVERY_SECONDS = 5.0


@dataclass
class SyncStats:
    """What one action did; the Dagster layer turns it into asset metadata."""

    fetched: int = 0
    pages: int = 0
    written: UpsertResult = field(default_factory=UpsertResult)
    deleted: int = 0  # rows newly marked with _deleted_at
    restored: int = 0  # rows flagged deleted that Stripe still lists (reconcile)
    events: int = 0  # events read
    events_skipped: int = 0  # events of other types or objects that a page held anyway
    failed: int = 0  # objects kept in _stripe_sync_errors instead of the table
    drifted: Counter = field(default_factory=Counter)  # field -> values that did not fit its column (NULL; `_raw` keeps them)
    modes: list[str] = field(default_factory=list)  # backfill, incremental, reconcile
    missing_ids: list[str] = field(default_factory=list)

    def __iadd__(self, other: SyncStats) -> SyncStats:
        """Add another run's counts (one per Connect account) to these."""
        for name in ("fetched", "pages", "deleted", "restored", "events", "events_skipped", "failed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.written += other.written
        self.drifted.update(other.drifted)
        self.modes.extend(other.modes)
        self.missing_ids.extend(other.missing_ids)
        return self


@dataclass(frozen=True)
class _MappingPlan:
    fields: tuple[str, ...]  # Stripe's top-level fields that have a column of the same name
    timestamps: tuple[str, ...]  # of those, Unix times that become UTC datetimes
    references: tuple[str, ...]  # of those, expandable references: an ID, or the object when expanded
    typed: tuple[tuple[str, tuple[type, ...]], ...]  # scalar columns and the Python types that fit them
    columns: tuple[str, ...]
    column_set: frozenset[str]


@functools.cache
def _mapping_plan(table: Table) -> _MappingPlan:
    """Decided once per table from the column types, so the per-object work is a dict walk."""
    fields = [column for column in table.columns if column.name not in META_COLUMNS]
    names = tuple(column.name for column in table.columns)
    return _MappingPlan(
        fields=tuple(column.name for column in fields),
        timestamps=tuple(column.name for column in fields if isinstance(column.type, DateTime)),
        references=tuple(column.name for column in fields if column.type.python_type is str),
        typed=tuple((column.name, _FITS[column.type.python_type]) for column in fields if column.type.python_type in _FITS),
        columns=names,
        column_set=frozenset(names),
    )


# What a value must be to go into a column of each Python type; anything else is drift (an API
# version that changed a field's type, a proxy's junk): the column gets NULL, `_raw` keeps it.
_FITS = {int: (int,), float: (float, int), bool: (bool,), str: (str,), datetime: (datetime,)}
_HOOKS = ("pre_set_defualt", "pre_set_default", "set_default", "post_set_default")


class ObjectSyncError(RuntimeError):
    """One object could not be synced; the message names it (`customers/cus_123`) and the stage."""


@functools.cache
def _has_hooks(action: type) -> bool:
    return any(getattr(action, hook) is not getattr(StripeSyncActionMixin, hook) for hook in _HOOKS)


def _storable(value: Any) -> Any:
    """JSON without what PostgreSQL's JSONB cannot hold (NUL characters), for the errors table."""
    return orjson.loads(orjson.dumps(value).replace(b"\\u0000", b""))


def _json_copy(value: Any) -> Any:
    # JSON holds only dicts, lists and immutable scalars: a few times faster than copy.deepcopy.
    if isinstance(value, dict):
        return {key: _json_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_copy(item) for item in value]
    return value


class StripeSyncActionMixin(IncrementalSyncMixin):
    """Sync one Stripe object type into its table. Subclasses declare two class attributes:

    - `model_class`: the SQLAlchemy model of the table (from `stripe_pipeline.models`)
    - `stripe_object_class`: the `stripe` package's class, e.g. `stripe.Customer`

    and override hooks where the default mapping is not enough. The run modes that keep a
    table current (backfill, events, reconcile) are in incremental.py.
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
    flush_every: ClassVar[int] = 500
    # Requests in flight at once while listing or retrieving; the request budget caps the rate.
    concurrency: ClassVar[int] = 16
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
        self._staged: dict[str, dict] = {}
        self._staged_deletions: dict[str, dict] = {}
        self._batch_depth = 0
        self._checkpoint: Callable[[], dict] | None = None  # sync-state values each flush saves with its rows
        self._exclusive_depth = 0
        self._chosen_children = self._choose_children(children)
        self._children: ChildSync | None = None
        # When the data being synced was observed at Stripe (None: unknown, taken as now).
        self._observed_at: datetime | None = None
        self._failures: list[dict] = []  # objects for _stripe_sync_errors, written with the next flush
        self._has_open_errors: bool | None = None
        # IDs the synced rows refer to, by object name, while `track_references()` is on.
        self.references: dict[str, set[str]] | None = None

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

    def track_references(self) -> None:
        """From now on, note the IDs that synced rows refer to (a price's product), so that
        actions/related.py can fetch those the warehouse lacks, in batches, after the sync."""
        self.references = {}

    @property
    def chosen_children(self) -> tuple[type[StripeSyncActionMixin], ...]:
        return self._chosen_children

    @property
    def child_stats(self) -> dict[str, SyncStats]:
        """What each child table's sync did in the current or last batch, by table name."""
        return self._children.stats if self._children else {}

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

    def sync(self, stripe_data: dict) -> dict:
        """Run one object through the hooks and stage its row. Returns the row values.

        A deleted object (Stripe answers `{"id": …, "deleted": true}`) skips the hooks: its row
        keeps the last known data and gets `_deleted_at`.
        """
        if isinstance(stripe_data, StripeObject):
            stripe_data = stripe_data.to_dict()
        if self._chosen_children and self._batch_depth == 0:
            with self._batch():  # children are fetched and written with their parent
                return self.sync(stripe_data)
        if stripe_data.get("deleted") is True:
            return self._stage_deletion(stripe_data)
        if self._children is not None:
            self._children.collect(stripe_data)
        stage = "set_default"
        try:
            # Hooks may change what they are given, nested values included; `_raw` keeps what the API
            # returned. Actions without hooks skip the copy, it is most of their per-object cost.
            if not _has_hooks(type(self)):
                defaults = self.set_default(stripe_data)  # its `_raw` is the API's object already
            else:
                data = _json_copy(stripe_data)
                stage = "pre_set_defualt"
                data = self.pre_set_defualt(data) or data
                stage = "set_default"
                defaults = self.set_default(data)
                defaults["_raw"] = self._redacted(stripe_data)
                stage = "post_set_default"
                defaults = self.post_set_default(defaults) or defaults
            stage = "the row"
            self._stage(defaults)
        except Exception as error:  # noqa: BLE001 - whatever a hook raises, the object is kept and named
            self._failed(stripe_data, error, f"hook {stage} failed" if stage != "the row" else "its row is unusable")
            return None
        return defaults

    def sync_by_ids(self, ids: Iterable[str]) -> SyncStats:
        """Retrieve the given objects and sync each one; IDs Stripe does not know are listed
        in `stats.missing_ids` and the rest still sync."""
        with self._batch():
            for object_id, stripe_data in self._retrieve_each(dict.fromkeys(ids)):  # de-duplicated, order kept
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
            with self._batch():
                for _ in self._list_and_sync({**self.list_params, **list_params}):
                    pass
            return self.stats
        with self._exclusive(), self._batch():
            state = self._load_state()
            self._backfill(resume=state["backfill"] if state else None)
        return self.stats

    def set_default(self, stripe_data: dict) -> dict:
        """Map the object to row values: each model column from the top-level field of the same
        name; timestamps become UTC datetimes, expanded references their ID, nested values JSON."""
        plan = _mapping_plan(self.table())
        row = {"id": stripe_data["id"]}
        get = stripe_data.get
        for name in plan.fields:
            row[name] = get(name)
        for name in plan.timestamps:
            value = row[name]
            if isinstance(value, (int, float)):
                row[name] = datetime.fromtimestamp(value, timezone.utc)
        for name in plan.references:
            value = row[name]
            if isinstance(value, dict):
                row[name] = value.get("id")
        for name, fits in plan.typed:
            value = row[name]
            if value is not None and type(value) not in fits:
                row[name] = None
                self.stats.drifted[name] += 1
        row["_raw"] = self._redacted(stripe_data)
        row["_account"] = self.stripe_account
        row["_synced_at"] = now = datetime.now(timezone.utc)
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

    # -- reading ---------------------------------------------------------------------------

    def _list_and_sync(self, params: dict) -> Iterator[list[dict]]:
        """Page through the list endpoint one cursor walk, syncing each object; yields each page
        once its objects are staged (reconcile and filtered listings; backfills use windows)."""
        progress = _Progress(self.log, self.table_name(), self.stats)
        for page in self.client.list_pages(self.api_path(), {**params, "limit": 100}):
            self._sync_page(page, progress, self.client.observed_at())
            yield page
        progress.done()

    def _list_windows_and_sync(
        self, windows: list[Window], checkpoint: Callable[[list[Window]], dict] | None = None
    ) -> Iterator[list[dict]]:
        """The created windows listed in parallel (stripe_api/windows.py), each object synced;
        yields each page once its objects are staged.

        Each flush saves `checkpoint(windows)`, sync-state values made from the windows still to
        list, in the transaction of its rows: all that was listed outside them is in the table.
        """
        lister = ParallelLister(self.client, self.api_path(), dict(self.list_params), concurrency=self.concurrency)
        progress = _Progress(self.log, self.table_name(), self.stats, lister.remaining)
        outstanding = dict(enumerate(windows))  # as of the last completely staged page
        self._checkpoint = (lambda: checkpoint(list(outstanding.values()))) if checkpoint else None
        try:
            for page in lister.pages(dict(outstanding)):
                self._sync_page(page.objects, progress, page.observed_at)
                outstanding.update(page.new_windows)
                if page.remaining is None:
                    del outstanding[page.window_id]
                else:
                    outstanding[page.window_id] = page.remaining
                yield page.objects
        finally:
            self._checkpoint = None
        progress.done()

    def _sync_page(self, objects: list[dict], progress: _Progress, observed_at: datetime | None) -> None:
        self.stats.pages += 1
        self.stats.fetched += len(objects)
        self._observed_at = observed_at
        for stripe_data in objects:
            self.sync(stripe_data)
        progress.tick()

    def _retrieve_each(self, ids: Iterable[str]) -> Iterator[tuple[str, dict | None]]:
        """(ID, object) for each ID, `concurrency` requests at a time, in batches through the
        list endpoint where it filters by IDs; None where Stripe has no such object. While an
        object is handed on, `_observed_at` is the time of its response."""

        def retrieve(object_id: str) -> tuple[dict | None, datetime | None]:
            found = self.client.retrieve(self.api_path(), object_id)
            return found, self.client.observed_at()

        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="stripe-retrieve") as pool:
            for batch in _batches(ids, RETRIEVE_BATCH):
                if self.list_ids_filter:
                    found = self._list_by_ids(batch)  # one request for up to 100 IDs
                    observed = self.client.observed_at()
                    results = [(object_id, (found.get(object_id), observed)) for object_id in batch]
                else:
                    results = zip(batch, pool.map(retrieve, batch))
                for object_id, (stripe_data, observed_at) in results:
                    self._observed_at = observed_at
                    if stripe_data is not None:
                        self.stats.fetched += 1
                    yield object_id, stripe_data

    def _list_by_ids(self, ids: list[str]) -> dict[str, dict]:
        page = self.client.get(self.api_path(), {**self.list_params, self.list_ids_filter: ids, "limit": 100})
        return {obj["id"]: obj for obj in page["data"]}

    # -- writing ---------------------------------------------------------------------------

    def flush(self) -> UpsertResult:
        """Write the staged rows in one multi-row upsert and the staged deletions, in one
        transaction with the backfill's checkpoint when one is running."""
        if self._children is not None:
            self._children.flush()  # before the parents: a checkpoint never vouches for missing children
        rows, self._staged = list(self._staged.values()), {}
        tombstones, self._staged_deletions = list(self._staged_deletions.values()), {}
        state = (self.table_name(), self.stripe_account, self._checkpoint()) if self._checkpoint else None
        self._record_failures()  # before a checkpoint that moves past them
        try:
            result, deleted = self.warehouse.write(self.table(), rows, tombstones, state=state)
        except WarehouseError as error:
            if self.strict or not error.refused_row:
                raise
            rows, result, deleted = self._write_row_by_row(rows, tombstones, state)
        if rows and self._may_have_open_errors():
            self.warehouse.resolve_errors(self.table_name(), self.stripe_account, [row["id"] for row in rows])
        self.stats.written += result
        self.stats.deleted += deleted
        return result

    def _write_row_by_row(self, rows: list[dict], tombstones: list[dict], state) -> tuple[list[dict], UpsertResult, int]:
        """A value the database refuses fails its whole statement: write row by row to find
        which rows it was, keep those in `_stripe_sync_errors`, and write the rest."""
        written, result = [], UpsertResult()
        for row in rows:
            try:
                result += self.warehouse.write(self.table(), [row])[0]
                written.append(row)
            except WarehouseError as error:
                if not error.refused_row:
                    raise
                self._failed(row["_raw"], error, "the warehouse refused its row")
        self._record_failures()
        _, deleted = self.warehouse.write(self.table(), [], tombstones, state=state)
        return written, result, deleted

    def _record_failures(self) -> None:
        failures, self._failures = self._failures, []
        if not failures:
            return
        try:
            self.warehouse.record_errors(self.table_name(), self.stripe_account, failures)
        except WarehouseError as error:
            if not error.refused_row:
                raise
            # The very value the table refused (a NUL character on PostgreSQL) is in the `_raw` too.
            self.warehouse.record_errors(self.table_name(), self.stripe_account, [{**f, "raw": _storable(f["raw"])} for f in failures])
        self._has_open_errors = True

    def _may_have_open_errors(self) -> bool:
        """Whether this table may hold open errors that a clean sync resolves (asked once per action)."""
        if self._has_open_errors is None:
            self._has_open_errors = self.warehouse.open_errors(self.table_name(), self.stripe_account) > 0
        return self._has_open_errors

    def _stage_deletion(self, stub: dict) -> dict:
        now = datetime.now(timezone.utc)
        tombstone = {
            "id": stub["id"], "_raw": stub, "_synced_at": now, "_deleted_at": now, "_account": self.stripe_account,
            "_observed_at": self._observed_time(now),
        }
        self._staged.pop(stub["id"], None)
        self._staged_deletions[stub["id"]] = tombstone
        if self._children is not None:
            self._children.parent_deleted(stub["id"])
        self._flush_if_due()
        return dict.fromkeys(_mapping_plan(self.table()).columns) | tombstone

    def _failed(self, stripe_data: dict, error: Exception, what: str) -> None:
        """Keep an object that cannot be synced in `_stripe_sync_errors`, or fail at once when strict."""
        object_id = stripe_data.get("id") if isinstance(stripe_data.get("id"), str) else "(no id)"
        message = f"{what} for {self.table_name()}/{object_id}: {type(error).__name__}: {error}"
        if self.strict:
            raise ObjectSyncError(message) from error
        self.stats.failed += 1
        self._failures.append(
            {"object_id": object_id, "error_class": type(error).__name__, "error_message": message[:2000], "raw": self._redacted(stripe_data)}
        )

    def _observed_time(self, now: datetime) -> datetime:
        if self._observed_at is not None:
            return self._observed_at
        # A row synced without a response time (a hook's own `sync(obj)`): observed now, by Stripe's clock.
        return datetime.fromtimestamp(self.client.server_now(), timezone.utc) if self._client is not None else now

    def _flush_if_due(self) -> None:
        if self._batch_depth == 0 or len(self._staged) + len(self._staged_deletions) >= self.flush_every:
            self.flush()

    def _stage(self, row: dict) -> None:
        plan = _mapping_plan(self.table())
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
        # A multi-row INSERT needs the same keys in every row, and one row per ID.
        self._staged[row["id"]] = row if len(row) == len(plan.columns) else dict.fromkeys(plan.columns) | row
        self._staged_deletions.pop(row["id"], None)
        self._flush_if_due()

    def batched(self):
        """Stage the rows of the `sync` calls inside and write them in multi-row upserts (every
        `flush_every` rows and at the end), as `sync_all` does:

        >>> with action.batched():
        ...     for customer in stripe.Customer.list(limit=100).auto_paging_iter():
        ...         action.sync(customer)
        """
        return self._batch()

    @contextmanager
    def _batch(self) -> Iterator[None]:
        with ExitStack() as stack:
            if self._batch_depth == 0:
                self.stats = SyncStats()
                # Before any request: a sync that finds nothing still leaves the table for SQL to query.
                self.warehouse.ensure_tables([self.table()])
                if self._chosen_children:
                    self._children = ChildSync(self, self._chosen_children)
                    for child in self._children.actions:
                        stack.enter_context(child._batch())
            self._batch_depth += 1
            try:
                yield
            finally:
                self._batch_depth -= 1
                if self._batch_depth == 0:
                    self.flush()  # what was fetched before a failure is kept, not lost
                    self._report_failures()

    def _report_failures(self) -> None:
        if self.stats.failed:
            self.log.warning(f"{self.table_name()}: {self.stats.failed:,} objects failed, see _stripe_sync_errors")
        if self.stats.drifted:
            fields = ", ".join(f"{name} ({count:,})" for name, count in self.stats.drifted.most_common())
            self.log.warning(f"{self.table_name()}: values that do not fit their column are NULL there, kept in _raw: {fields}")

    def _redacted(self, stripe_data: dict) -> dict:
        if not self.redacted_fields or not any(name in stripe_data for name in self.redacted_fields):
            return stripe_data
        return {**stripe_data, **{name: None for name in self.redacted_fields if name in stripe_data}}


@functools.cache
def _reference_targets(action: type) -> tuple[tuple[str, str], ...]:
    """(column, object name) of each expandable reference whose type the catalogue names."""
    if action.stripe_type is None:
        return ()
    return tuple((f.name, f.detail) for f in action.stripe_type.fields if f.kind == "reference" and isinstance(f.detail, str))


def _batches(items: Iterable[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class _Progress:
    """Logs progress every few seconds, so a long backfill is visibly alive. Counts one listing:
    a run that backfills and then reconciles logs each on its own."""

    def __init__(self, log, table: str, stats: SyncStats, remaining: Callable[[], Remaining] | None = None):
        self._log, self._table, self._stats, self._remaining = log, table, stats, remaining
        self._started = self._last = time.monotonic()
        self._pages_before, self._fetched_before = stats.pages, stats.fetched

    def tick(self) -> None:
        now = time.monotonic()
        if now - self._last >= PROGRESS_EVERY_SECONDS:
            self._last = now
            self._log.info(f"{self._table}: {self._summary(now)}")

    def done(self) -> None:
        self._log.info(f"{self._table}: done, {self._summary(time.monotonic())}")

    def _summary(self, now: float) -> str:
        elapsed = max(now - self._started, 1e-9)
        pages = self._stats.pages - self._pages_before
        fetched = self._stats.fetched - self._fetched_before
        rate = fetched / elapsed
        summary = f"{pages:,} pages, {fetched:,} objects in {elapsed:.1f} s ({rate:,.0f} objects/s)"
        remaining = self._remaining() if self._remaining else None
        if remaining is None or (not remaining.objects and remaining.unmeasured is None):
            return summary
        if remaining.unmeasured is None:
            return summary + f", about {remaining.objects:,} to go" + (f" (~{remaining.objects / rate:,.0f} s)" if rate else "")
        # Not a guess: below the windows measured so far an account may hold nothing or millions.
        unknown = f"objects created {_day(remaining.unmeasured.gte)} to {_day(remaining.unmeasured.lte)} not counted yet"
        return summary + (f", about {remaining.objects:,} to go in the ranges measured so far; {unknown}" if remaining.objects else f"; {unknown}")


def _day(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%d")
