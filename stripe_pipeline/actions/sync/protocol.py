"""What the engine (this package) asks of an action: its declarations and its hooks.

The engine never imports the action class (actions/mixins.py imports the engine, which would be
a cycle); it works with anything of this shape, which keeps the layers one-way: mixins.py builds
a `SyncRun` (run.py) and hands it to the engine's modules, and they reach back into the action
only for what a user declares or overrides.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, ClassVar, Protocol

from sqlalchemy import Table

from ...catalog import ObjectType
from ...models import StripeModel
from ...stripe_api import StripeApiClient
from ...warehouse import UpsertResult, Warehouse
from .stats import SyncStats


class ActionType(Protocol):
    """An action class, as the engine sees it (StripeSyncActionMixin and its subclasses)."""

    model_class: ClassVar[type[StripeModel]]
    stripe_type: ClassVar[ObjectType | None]
    list_params: ClassVar[dict[str, Any]]
    list_ids_filter: ClassVar[str | None]
    redacted_fields: ClassVar[tuple[str, ...]]
    event_types: ClassVar[tuple[str, ...] | None]
    deletion_event_types: ClassVar[tuple[str, ...] | None]
    # The child tables' actions, and on a child table's action where its rows come from (None on
    # the others). Any: a child table's action narrows `child_table` to ChildTable, which a
    # protocol's class variable cannot follow; children.py's `child_table()` says the type.
    child_actions: ClassVar[tuple[type[Any], ...]]
    child_table: ClassVar[Any]
    flush_every: int
    concurrency: int

    @classmethod
    def table(cls) -> Table: ...

    @classmethod
    def table_name(cls) -> str: ...

    @classmethod
    def object_name(cls) -> str: ...

    @classmethod
    def api_path(cls) -> str: ...

    @classmethod
    def watched_events(cls) -> tuple[str, ...]: ...

    @classmethod
    def deletion_events(cls) -> frozenset[str]: ...

    # The hooks, in the order `SyncRun.stage` calls them; `sync` is the whole pipeline, which a
    # user may override too, so the engine hands every object to it.
    def sync(self, stripe_data: dict) -> dict | None: ...

    def pre_set_defualt(self, stripe_data: dict) -> dict | None: ...

    def set_default(self, stripe_data: dict) -> dict: ...

    def post_set_default(self, defaults: dict) -> dict | None: ...

    def redacted(self, stripe_data: dict) -> dict: ...

    # The public methods the engine calls through the action, as it always did: a subclass that
    # overrides one (a `flush` that tells something else, say) is heard. Each hands on to the run.
    def batched(self) -> AbstractContextManager[None]: ...

    def exclusive(self) -> AbstractContextManager[None]: ...

    def flush(self) -> UpsertResult: ...

    def flag_deleted(self, ids: Iterable[str]) -> None: ...

    def load_state(self) -> dict | None: ...

    def save_state(self, **values: Any) -> None: ...

    @property
    def sync_run(self) -> RunState:
        """The action's run state (a child table's run is made by its parent's, children.py)."""
        ...


class PendingRows(Protocol):
    """Rows taken out of a run's buffer, written by calling it (buffer.py: PendingWrite)."""

    tombstones: list[dict]

    def __call__(self) -> UpsertResult: ...


class Rows(Protocol):
    """A run's row buffer (buffer.py: RowBuffer), as the child tables' sync uses it."""

    def take(self) -> PendingRows: ...

    def tombstone(self, stub: dict, now: datetime, observed_at: datetime) -> dict: ...


class RunState(Protocol):
    """A run (run.py: SyncRun), as the parts it is made of see it: the row buffer (buffer.py)
    and the child tables' sync (children.py). They name this shape instead of importing the run,
    which imports them."""

    action: ActionType
    strict: bool
    stripe_account: str | None
    log: Any
    stats: SyncStats
    observed_at: datetime | None
    parent_id: str | None
    references: dict[str, set[str]] | None
    chosen_children: tuple[type[ActionType], ...]

    @property
    def rows(self) -> Rows: ...

    @property
    def log_name(self) -> str: ...

    @property
    def client(self) -> StripeApiClient: ...

    @property
    def warehouse(self) -> Warehouse: ...

    def observed_time(self, now: datetime) -> datetime: ...
