"""The action: one Stripe object type, what it declares, its hooks, and `sync`.

`sync` runs `pre_set_defualt` (sic: the documented spelling, kept from the Django library
this project ports), `set_default` and `post_set_default`, then stages the row. Rows are
written in multi-row upserts every `flush_every` rows and at the end of a batch (`sync_all`,
`sync_by_ids`, `sync_incremental`, `batched()`); outside one, `sync` writes its row at once.

The class holds what users write: declarations and hooks, and thin public methods. A sync's
state while it runs (client, warehouse, staged rows, children, counts, lock, observation time)
is its `SyncRun` (actions/sync/run.py), which the engine's modules in actions/sync/ take as an
argument; they never set anything on the action. What the declarations imply (events, children,
hooks) is in sync/declarations.py; then mapping.py (an object becomes a row), buffer.py
(staging, flushing, the sync error table), children.py, listing.py (cursor walk, created
windows, retrieval by ID), backfill.py, events.py, reconcile.py, and runner.py (the account
check and the choice of mode).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any, ClassVar, cast

from sqlalchemy import Table
from stripe import APIResource

from .. import policies
from ..catalog import ChildTable, ObjectType
from ..models import StripeModel, account_key
from ..stripe_api import StripeApiClient
from ..warehouse import UpsertResult, Warehouse
from .sync import backfill, declarations, listing, mapping, reconcile, runner
from .sync.buffer import ObjectSyncError
from .sync.run import SyncRun
from .sync.stats import SyncStats

__all__ = ["ChildAction", "ObjectSyncError", "StripeSyncActionMixin", "SyncStats"]


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
    # The actions of this type's child tables (actions/sync/children.py), from the catalogue.
    child_actions: ClassVar[tuple[type[ChildAction], ...]] = ()
    # Set on a child table's own action: where its rows come from (an invoice's `lines`).
    child_table: ClassVar[ChildTable | None] = None
    # This class's hooks are the defaults: a subclass that overrides one has hooks (declarations.py).
    _default_hooks: ClassVar[bool] = True

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
        if flush_every is not None:
            self.flush_every = flush_every
        if concurrency is not None:
            self.concurrency = concurrency
        self._sync_run = SyncRun(
            self,
            client=client,
            warehouse=warehouse,
            connect={"api_key": api_key, "api_base": api_base, "timeout_seconds": timeout_seconds, "warehouse_url": warehouse_url},
            stripe_account=stripe_account,
            logger=logger or logging.getLogger(f"stripe_pipeline.{self.table_name()}"),
            children=children,
            strict=strict,
        )

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

    # -- what a sync holds while it runs, read from its run (actions/sync/run.py) ----------------

    @property
    def sync_run(self) -> SyncRun:
        """The engine's state of this action's syncs; hooks need not touch it."""
        return self._sync_run

    @property
    def stripe_account(self) -> str | None:
        """The Connect account whose data this is; None for the platform account."""
        return self._sync_run.stripe_account

    @stripe_account.setter
    def stripe_account(self, value: str | None) -> None:
        self._sync_run.stripe_account = value

    @property
    def strict(self) -> bool:
        return self._sync_run.strict

    @strict.setter
    def strict(self, value: bool) -> None:
        self._sync_run.strict = value

    @property
    def log(self) -> logging.Logger | Any:
        return self._sync_run.log

    @log.setter
    def log(self, value: logging.Logger | Any) -> None:
        self._sync_run.log = value

    @property
    def log_name(self) -> str:
        """How log lines name this sync: its table, and its Connect account when it reads one."""
        return self._sync_run.log_name

    @property
    def stats(self) -> SyncStats:
        """What the current or last batch did (`sync_all` and friends return it too)."""
        return self._sync_run.stats

    @property
    def child_stats(self) -> dict[str, SyncStats]:
        """What each child table's sync did in the current or last batch, by table name."""
        return self._sync_run.child_stats

    @property
    def chosen_children(self) -> tuple[type[ChildAction], ...]:
        """The actions of the child tables synced with each object (the constructor's `children`)."""
        return cast(tuple[type[ChildAction], ...], self._sync_run.chosen_children)  # chosen from child_actions

    @property
    def references(self) -> dict[str, set[str]] | None:
        """IDs the synced rows refer to, by object name, while `track_references()` is on."""
        return self._sync_run.references

    @property
    def observed_at(self) -> datetime | None:
        """When the data being synced was observed at Stripe (None: now). A test or a hook that
        syncs what it read itself may set it: rows carry it, and an older observation never
        overwrites a newer one."""
        return self._sync_run.observed_at

    @observed_at.setter
    def observed_at(self, value: datetime | None) -> None:
        self._sync_run.observed_at = value

    @property
    def client(self) -> StripeApiClient:
        return self._sync_run.client

    @property
    def warehouse(self) -> Warehouse:
        return self._sync_run.warehouse

    # -- the seed API ----------------------------------------------------------------------

    def sync(self, stripe_data: dict) -> dict | None:
        """Run one object through the hooks and stage its row. Returns the row values, or
        None when the object could not be synced (it is kept in `_stripe_sync_errors`).

        A deleted object (Stripe answers `{"id": …, "deleted": true}`) skips the hooks: its row
        keeps the last known data and gets `_deleted_at`.
        """
        return self._sync_run.stage(stripe_data)

    def sync_by_ids(self, ids: Iterable[str]) -> SyncStats:
        """Retrieve the given objects and sync each one; IDs Stripe does not know are listed
        in `stats.missing_ids` and the rest still sync."""
        with self.batched():
            for object_id, stripe_data in listing.retrieve_each(self._sync_run, dict.fromkeys(ids)):  # de-duplicated, order kept
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
                for _ in listing.list_and_sync(self._sync_run, {**self.list_params, **list_params}):
                    pass
            return self.stats
        with self.exclusive(), self.batched():
            state = self.load_state()
            backfill.backfill(self._sync_run, resume=state["backfill"] if state else None)
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
        runner.sync_incremental(
            self._sync_run, reconcile_after=reconcile, trust_event_payloads=trust_event_payloads, full_refresh=full_refresh, run_key=run_key
        )
        return self.stats

    def reconcile(self) -> SyncStats:
        """Relist every object and compare IDs with the table: rows Stripe no longer lists get
        `_deleted_at`, flagged rows that Stripe lists are restored (actions/sync/reconcile.py)."""
        with self.exclusive(), self.batched():
            reconcile.reconcile(self._sync_run)
        return self.stats

    def set_default(self, stripe_data: dict) -> dict:
        """Map the object to row values: each model column from the top-level field of the same
        name; timestamps become UTC datetimes, expanded references their ID, nested values JSON
        (actions/sync/mapping.py)."""
        row = mapping.map_fields(mapping.mapping_plan(self.table()), stripe_data, self._sync_run.stats.drifted)
        row["_raw"] = self.redacted(stripe_data)
        row["_account"] = account_key(self.stripe_account)
        row["_synced_at"] = now = datetime.now(UTC)
        row["_deleted_at"] = None
        row["_observed_at"] = self._sync_run.observed_time(now)
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
        self._sync_run.references = {}

    # -- batches, writes and state -----------------------------------------------------------

    def batched(self) -> AbstractContextManager[None]:
        """Stage the rows of the `sync` calls inside and write them in multi-row upserts (every
        `flush_every` rows and at the end), as `sync_all` does (actions/sync/run.py):

        >>> with action.batched():
        ...     for customer in stripe.Customer.list(limit=100).auto_paging_iter():
        ...         action.sync(customer)
        """
        return self._sync_run.batched()

    def flush(self) -> UpsertResult:
        """Write the staged rows and deletions now (children first: a checkpoint never vouches
        for children that did not land), after any write still in flight."""
        return self._sync_run.flush()

    def flag_deleted(self, ids: Iterable[str]) -> None:
        """Give these IDs' rows `_deleted_at` with the next flush; their data stays."""
        self._sync_run.flag_deleted(ids)

    def exclusive(self) -> AbstractContextManager[None]:
        """Hold this type's sync lock: one run per type and account at a time, across processes."""
        return self._sync_run.exclusive()

    def load_state(self) -> dict | None:
        """This type's and account's row of `_stripe_sync_state`, or None."""
        return self._sync_run.load_state()

    def save_state(self, **values: Any) -> None:
        self._sync_run.save_state(**values)

    def redacted(self, stripe_data: dict) -> dict:
        """The object without its `redacted_fields`, as `_raw` keeps it."""
        return mapping.redacted(stripe_data, self.redacted_fields)


class ChildAction(StripeSyncActionMixin):
    """A child table's action (children.py). Its rows get the parent's ID in `parent_column`, and
    a key that stays unique where Stripe's ID is unique only within the parent (an account's
    `card_payments`)."""

    child_table: ClassVar[ChildTable]
    # Its `set_default` only adds the parent's ID: not a hook that changes what it is given.
    _default_hooks: ClassVar[bool] = True

    @property
    def parent_id(self) -> str | None:
        """The parent whose children are being synced (set on the run by sync/children.py)."""
        return self.sync_run.parent_id

    def set_default(self, stripe_data: dict) -> dict:
        row = super().set_default(stripe_data)
        row[self.child_table.parent_column] = self.parent_id
        if self.child_table.keyed_by_parent:
            row["id"] = f"{self.parent_id}/{stripe_data['id']}"
        return row
