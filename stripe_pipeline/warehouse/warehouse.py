"""The warehouse as the sync core sees it: tables that exist, upserts, counts."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Connection, Table, exists, false, func, or_, select, text
from sqlalchemy.engine import make_url

from .. import settings
from ..models import account_key
from ..models.sync_state import SyncError, SyncState
from . import errors
from .database import Database
from .dialects import DIALECTS
from .dialects.base import SlotStore
from .engine import safe_url
from .state import save_state
from .state_store import StateStore
from .transient import RECONNECT_SECONDS
from .upsert import UpsertResult, mark_deleted_rows, upsert_rows

T = TypeVar("T")


class EveryAccount:
    """`count(account=…)`'s default: the rows of every account (None is the platform's)."""


EVERY_ACCOUNT = EveryAccount()


class Warehouse:
    """A SQLAlchemy engine plus the few operations the sync needs.

    Table creation is safe when many Dagster processes start at once: each dialect serialises it
    (Dialect.creating_tables: PostgreSQL with an advisory lock, MySQL with GET_LOCK, SQLite with
    its write lock).
    """

    def __init__(
        self,
        url: str | None = None,
        schema: str | None = None,
        *,
        reconnect_seconds: float = RECONNECT_SECONDS,
        config: settings.Settings | None = None,
        state_url: str | None = None,
    ):
        """`url` and `schema` override WAREHOUSE_URL and WAREHOUSE_SCHEMA, `state_url`
        STATE_URL, or `config` (settings already loaded, a Dagster resource's).
        `reconnect_seconds`: how long a lost connection is retried before the sync fails (see
        transient.py)."""
        config = settings.load(config, warehouse_url=url, warehouse_schema=schema, state_url=state_url)
        self.url = config.warehouse_url
        self.reconnect_seconds = reconnect_seconds
        _require_state_url(self.url, config.state_url)  # before the engine: its driver may look for credentials
        self.database = Database(self.url, config.warehouse_schema, reconnect_seconds=reconnect_seconds, config=config)
        self.engine = self.database.engine
        self.dialect = self.engine.dialect.name
        self._dialect = self.database.dialect
        self.schema = self.database.schema
        scope = self.schema or "main"
        if config.state_url is None or config.state_url == self.url:
            self.state = StateStore(self.database, scope)  # today's layout: the state beside the tables
        else:
            # Its own database; the sync locks it holds still guard the warehouse's writes.
            state = Database(
                config.state_url,
                config.warehouse_schema,
                role="state database",
                variable="STATE_URL",
                reconnect_seconds=reconnect_seconds,
                held_locks=self.database.held_locks,
                config=config,
            )
            self.state = StateStore(state, scope, owner=f"{safe_url(self.url)} (schema {self.schema or 'none'})")

    @property
    def state_apart(self) -> bool:
        """Whether the state lives in a database of its own (STATE_URL)."""
        return self.state.database is not self.database

    @property
    def writes_in_background(self) -> bool:
        """Whether a batch's due flushes write on a thread of their own (Dialect.writes_in_background)."""
        return self._dialect.writes_in_background

    @property
    def least_flush(self) -> int:
        """The fewest rows a flush writes (Dialect.least_flush): more than `flush_every` where each statement is a job."""
        return self._dialect.least_flush

    def __repr__(self) -> str:
        return f"Warehouse({safe_url(self.url)!r})"

    def qualified_name(self, table: Table) -> str:
        return f"{self.schema}.{table.name}" if self.schema else table.name

    def ensure_tables(self, tables: Iterable[Table]) -> None:
        self.database.ensure_tables(tables)

    def upsert(self, table: Table, rows: list[dict]) -> UpsertResult:
        return self.write(table, rows)[0]

    def write(
        self,
        table: Table,
        rows: list[dict],
        tombstones: list[dict] | None = None,
        *,
        state: tuple[str, str | None, dict] | None = None,
    ) -> tuple[UpsertResult, int]:
        """Upsert `rows`, flag the `tombstones`' rows deleted and save `state` (object type,
        account, sync-state values), in one transaction: a checkpoint never vouches for rows
        that did not land. Returns the upsert's counts and how many rows were newly flagged."""
        if not rows and not tombstones and state is None:
            return UpsertResult(), 0
        # In one transaction when the state shares the warehouse; else the rows commit first, so
        # that the checkpoint still follows them (a crash between repeats some work, no more).
        together = state is not None and not self.state_apart
        self.ensure_tables([table, SyncState.__table__] if together else [table])

        def work(connection: Connection) -> tuple[UpsertResult, int]:
            written = upsert_rows(self._dialect, connection, table, rows)
            deleted = mark_deleted_rows(self._dialect, connection, table, tombstones) if tombstones else 0
            if together:
                save_state(self._dialect, connection, *state)  # type: ignore[misc]
            return written, deleted

        result = self._run(f"write {table.name}", work) if rows or tombstones or together else (UpsertResult(), 0)
        if state is not None and not together:
            object_type, account, values = state
            self.state.save_state(object_type, account, **values)
        return result

    def ids(
        self,
        table: Table,
        account: str | None,
        *,
        deleted: bool,
        created_before: datetime | None = None,
        created_in: list[tuple[datetime, datetime]] | None = None,
    ) -> set[str]:
        """IDs of one account's rows flagged deleted (or not), optionally only of objects created
        before a time, or within one of the (inclusive) ranges."""
        self.ensure_tables([table])
        query = select(table.c.id).where(
            table.c._deleted_at.is_not(None) if deleted else table.c._deleted_at.is_(None),
            table.c._account == account_key(account),
        )
        if created_before is not None:
            query = query.where(table.c.created < created_before)
        if created_in is not None:
            query = query.where(or_(false(), *(table.c.created.between(low, high) for low, high in created_in)))
        return self._run(f"read the IDs in {table.name}", lambda connection: set(connection.scalars(query)))

    def oldest_created(self, table: Table, account: str | None, column: str, value: str) -> datetime | None:
        """`created` of the oldest live row of this account whose `column` is `value`, if any."""
        self.ensure_tables([table])
        query = select(func.min(table.c.created)).where(
            table.c._deleted_at.is_(None), table.c._account == account_key(account), table.c[column] == value
        )
        return self._run(f"read the oldest {column} = {value} row in {table.name}", lambda connection: connection.scalar(query))

    # -- the sync's own state: kept by the state store (state_store.py) ----------------------------

    def shared_read(self, name: str) -> dict | None:
        return self.state.shared_read(name)

    def save_shared_read(self, name: str, run_key: str | None, value: dict) -> None:
        self.state.save_shared_read(name, run_key, value)

    def stage_events(self, account: str | None, read: int, events: list[dict], first_position: int) -> None:
        self.state.stage_events(account, read, events, first_position)

    def last_event_read(self, account: str | None) -> int:
        return self.state.last_event_read(account)

    def staged_events(self, account: str | None, types: tuple[str, ...] | None, since: int, limit: int | None = None) -> list[dict]:
        return self.state.staged_events(account, types, since, limit)

    def drop_events_before(self, account: str | None, created: int) -> int:
        return self.state.drop_events_before(account, created)

    def load_state(self, object_type: str, account: str | None) -> dict | None:
        """The sync-state row of one object type and account (see models/sync_state.py)."""
        return self.state.load_state(object_type, account)

    def sync_states(self) -> list[dict]:
        """Every sync-state row, by object type and account."""
        return self.state.sync_states()

    def oldest_events_cursor(self, account: str | None) -> int | None:
        """The oldest events cursor (`created`) among the account's tables: what staged events are still needed from."""
        return self.state.oldest_events_cursor(account)

    def save_state(self, object_type: str, account: str | None, **values) -> None:
        self.state.save_state(object_type, account, **values)

    def sync_lock(self, object_type: str, account: str | None, on_wait: Callable[[float], None]) -> AbstractContextManager[None]:
        """Only one sync of this object type and account at a time (see locks.py)."""
        return self.state.sync_lock(object_type, account, on_wait)

    def slot_store(self) -> SlotStore | None:
        """Where the request budget's slots are kept, shared by every process using this state
        (None for a database in memory: each client keeps its own)."""
        return self.state.slot_store()

    def existing_ids(self, table: Table, ids: set[str], account: str | None) -> set[str]:
        """Which of `ids` have a row of this account (deleted or not)."""
        self.ensure_tables([table])
        wanted = sorted(ids)

        def read(connection: Connection) -> set[str]:
            found: set[str] = set()
            for start in range(0, len(wanted), 1000):  # bound the statement's parameters
                found.update(
                    connection.scalars(
                        select(table.c.id).where(table.c.id.in_(wanted[start : start + 1000]), table.c._account == account_key(account))
                    )
                )
            return found

        return self._run(f"read the IDs in {table.name}", read)

    def ids_by_parent(self, table: Table, parent_column: str, parent_ids: list[str], account: str | None) -> dict[str, set[str]]:
        """IDs of the live rows of a child table, by the parent they belong to."""
        self.ensure_tables([table])
        parent = table.c[parent_column]
        found: dict[str, set[str]] = {}

        def read(connection: Connection) -> dict[str, set[str]]:
            for start in range(0, len(parent_ids), 1000):  # bound the statement's parameters
                query = select(parent, table.c.id).where(
                    parent.in_(parent_ids[start : start + 1000]),
                    table.c._deleted_at.is_(None),
                    table.c._account == account_key(account),
                )
                for parent_id, row_id in connection.execute(query):
                    found.setdefault(parent_id, set()).add(row_id)
            return found

        return self._run(f"read the IDs in {table.name}", read)

    def record_errors(self, object_type: str, account: str | None, failures: list[dict]) -> None:
        """Keep objects that could not be synced in `_stripe_sync_errors` (see warehouse/errors.py)."""
        self.ensure_tables([SyncError.__table__])
        self._run("record sync errors", lambda connection: errors.record_errors(self._dialect, connection, object_type, account, failures))

    def resolve_errors(self, object_type: str, account: str | None, object_ids: list[str]) -> None:
        self.ensure_tables([SyncError.__table__])
        self._run("resolve sync errors", lambda connection: errors.resolve_errors(connection, object_type, account, object_ids))

    def open_errors(self, object_type: str, account: str | None = None, *, any_account: bool = False) -> int:
        self.ensure_tables([SyncError.__table__])
        return self._run(
            "count sync errors", lambda connection: errors.open_errors(connection, object_type, account, any_account=any_account)
        )

    def open_error_objects(self, object_type: str, account: str | None, limit: int) -> list[tuple[str, dict | None]]:
        """(object ID, raw) of up to `limit` open errors of one table and account, oldest first."""
        self.ensure_tables([SyncError.__table__])
        return self._run("read sync errors", lambda connection: errors.open_error_objects(connection, object_type, account, limit))

    def close(self) -> None:
        """Close every connection this warehouse holds: the pool's and the request budget's. A
        process that runs step after step (a Celery worker) must not wait for the garbage
        collector to hand them back."""
        self.state.close(engine=self.state_apart)
        self.database.close()

    def count(self, table: Table, *, deleted: bool | None = None, account: str | None | EveryAccount = EVERY_ACCOUNT) -> int:
        """Rows of every account (or of one): all, or (`deleted`) only those flagged deleted, or not."""
        self.ensure_tables([table])
        query = select(func.count()).select_from(table)
        if not isinstance(account, EveryAccount):
            query = query.where(table.c._account == account_key(account))
        if deleted is not None:
            query = query.where(table.c._deleted_at.is_not(None) if deleted else table.c._deleted_at.is_(None))
        return self._run(f"count {table.name}", lambda connection: connection.scalar(query) or 0)

    def orphans(self, table: Table, column: str, target: Table, sample: int = 5) -> tuple[int, list[str]]:
        """Live rows of `table` whose `column` names no row of `target` of the same account: how
        many, and a few of the IDs they name."""
        self.ensure_tables([table, target])
        reference = table.c[column]
        named = exists().where(target.c.id == reference, target.c._account == table.c._account)
        where = (table.c._deleted_at.is_(None), reference.is_not(None), ~named)

        def read(connection: Connection) -> tuple[int, list[str]]:
            count = connection.scalar(select(func.count()).select_from(table).where(*where)) or 0
            found = list(connection.scalars(select(reference).where(*where).distinct().order_by(reference).limit(sample))) if count else []
            return count, found

        return self._run(f"count the orphans of {table.name}.{column}", read)

    def ping(self) -> None:
        self._run("connect", lambda connection: connection.execute(text("SELECT 1")))

    def _run(self, doing: str, work: Callable[[Connection], T]) -> T:
        return self.database.run(doing, work)


def _require_state_url(url: str, state_url: str | None) -> None:
    """A warehouse whose dialect keeps no state (Dialect.keeps_state: BigQuery) needs STATE_URL."""
    dialect = DIALECTS.get(make_url(url).get_backend_name())
    if dialect is not None and not dialect.keeps_state and (state_url is None or state_url == url):
        raise settings.ConfigurationError(
            f"A {dialect.kind} warehouse cannot keep the sync's own state: set STATE_URL to a database for it "
            "(a SQLite file, PostgreSQL, MySQL; see docs/settings.md)."
        )
