"""The warehouse as the sync core sees it: tables that exist, upserts, counts."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Connection, Table, exists, false, func, or_, select, text
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError

from .. import settings
from ..models import Base, account_key
from ..models.sync_state import RequestSlot, SyncError, SyncState
from ..stripe_api.budget import SlotStore
from . import errors, shared
from .dialects import dialect_of
from .engine import WarehouseError, create_warehouse_engine, safe_url
from .locks import HeldLock, LockLost, sync_lock
from .rate_budget import slot_store_for
from .state import all_states, load_state, oldest_events_cursor, save_state
from .transient import RECONNECT_SECONDS, GaveUp, driver_error, is_lost_connection, retry_transient, sqlstate
from .upgrades import upgrade
from .upsert import UpsertResult, mark_deleted_rows, upsert_rows

T = TypeVar("T")


class EveryAccount:
    """`count(account=…)`'s default: the rows of every account (None is the platform's)."""


EVERY_ACCOUNT = EveryAccount()
log = logging.getLogger(__name__)


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
    ):
        """`url` and `schema` override WAREHOUSE_URL and WAREHOUSE_SCHEMA, or `config` (settings
        already loaded, a Dagster resource's). `reconnect_seconds`: how long a lost connection
        is retried before the sync fails (see transient.py)."""
        config = settings.load(config, warehouse_url=url, warehouse_schema=schema)
        self.url = config.warehouse_url
        self.reconnect_seconds = reconnect_seconds
        self.engine = create_warehouse_engine(self.url, config.warehouse_schema)
        self.dialect = self.engine.dialect.name
        self._dialect = dialect_of(self.dialect)
        self.schema = self._dialect.schema(config.warehouse_schema)
        self._ready: set[str] = set()
        self._slot_store: SlotStore | None = None
        self._reached = False  # until the server has answered once, an unreachable one is misconfigured
        self._held_locks: list[HeldLock] = []

    @property
    def writes_in_background(self) -> bool:
        """Whether a batch's due flushes write on a thread of their own (Dialect.writes_in_background)."""
        return self._dialect.writes_in_background

    def __repr__(self) -> str:
        return f"Warehouse({safe_url(self.url)!r})"

    def qualified_name(self, table: Table) -> str:
        return f"{self.schema}.{table.name}" if self.schema else table.name

    def ensure_tables(self, tables: Iterable[Table]) -> None:
        missing = [table for table in tables if table.name not in self._ready]
        if not missing:
            return

        def create(connection: Connection) -> None:
            with self._dialect.creating_tables(connection, self.schema):
                Base.metadata.create_all(connection, tables=missing)
                upgrade(connection, missing)  # tables an older version made

        self._run("create tables", create)
        self._ready.update(table.name for table in missing)

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
        self.ensure_tables([table, SyncState.__table__] if state is not None else [table])

        def work(connection: Connection) -> tuple[UpsertResult, int]:
            written = upsert_rows(connection, table, rows)
            deleted = mark_deleted_rows(connection, table, tombstones) if tombstones else 0
            if state is not None:
                save_state(connection, *state)
            return written, deleted

        return self._run(f"write {table.name}", work)

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

    # -- what one step of a run reads for the others (shared.py) ---------------------------------

    def shared_read(self, name: str) -> dict | None:
        self.ensure_tables([shared.READS])
        return self._run("read a shared read", lambda connection: shared.load_read(connection, name))

    def save_shared_read(self, name: str, run_key: str | None, value: dict) -> None:
        self.ensure_tables([shared.READS])
        self._run("save a shared read", lambda connection: shared.save_read(connection, name, run_key, value))

    def stage_events(self, account: str | None, read: int, events: list[dict], first_position: int) -> None:
        self.ensure_tables([shared.EVENTS])
        self._run("stage events", lambda connection: shared.stage_events(connection, account, read, events, first_position))

    def last_event_read(self, account: str | None) -> int:
        self.ensure_tables([shared.EVENTS])
        return self._run("read the staged events", lambda connection: shared.last_read(connection, account))

    def staged_events(self, account: str | None, types: tuple[str, ...] | None, since: int, limit: int | None = None) -> list[dict]:
        self.ensure_tables([shared.EVENTS])
        return self._run("read the staged events", lambda connection: list(shared.staged_events(connection, account, types, since, limit)))

    def drop_events_before(self, account: str | None, created: int) -> int:
        self.ensure_tables([shared.EVENTS])
        return self._run("drop staged events", lambda connection: shared.drop_events_before(connection, account, created))

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
        self._run("record sync errors", lambda connection: errors.record_errors(connection, object_type, account, failures))

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

    def load_state(self, object_type: str, account: str | None) -> dict | None:
        """The sync-state row of one object type and account (see models/sync_state.py)."""
        self.ensure_tables([SyncState.__table__])
        return self._run("read the sync state", lambda connection: load_state(connection, object_type, account))

    def sync_states(self) -> list[dict]:
        """Every sync-state row, by object type and account."""
        self.ensure_tables([SyncState.__table__])
        return self._run("read the sync states", all_states)

    def oldest_events_cursor(self, account: str | None) -> int | None:
        """The oldest events cursor (`created`) among the account's tables: what staged events are still needed from."""
        self.ensure_tables([SyncState.__table__])
        return self._run("read the sync state", lambda connection: oldest_events_cursor(connection, account))

    def save_state(self, object_type: str, account: str | None, **values) -> None:
        self.ensure_tables([SyncState.__table__])
        self._run("save the sync state", lambda connection: save_state(connection, object_type, account, values))

    @contextmanager
    def sync_lock(self, object_type: str, account: str | None, on_wait: Callable[[float], None]) -> Iterator[None]:
        """Only one sync of this object type and account at a time (see locks.py)."""
        name = f"{self.schema or 'main'}.{object_type}.{account or 'platform'}"
        doing = f"take the sync lock of {object_type}"
        with sync_lock(self.engine, name, on_wait, retrying=lambda attempt: self._retrying(doing, attempt)) as lock:
            self._held_locks.append(lock)
            try:
                yield
            finally:
                self._held_locks.remove(lock)

    def slot_store(self) -> SlotStore:
        """Where the request budget's slots are kept, shared by every process using this warehouse."""
        if self._slot_store is None:
            if self._dialect.slots_in_table:
                self.ensure_tables([RequestSlot.__table__])
            self._slot_store = slot_store_for(self.engine, lambda attempt: self._retrying("reserve a request slot", attempt))
        return self._slot_store

    def close(self) -> None:
        """Close every connection this warehouse holds: the pool's and the request budget's. A
        process that runs step after step (a Celery worker) must not wait for the garbage
        collector to hand them back."""
        store, self._slot_store = self._slot_store, None
        close = getattr(store, "close", None)
        if close is not None:
            close()
        self.engine.dispose()

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
        """Run `work` in a transaction, again on a fresh connection after transient errors (see
        transient.py). Before a write, the sync locks this process holds are checked: a sync
        that lost its lock must not go on writing as if it held it."""

        def attempt() -> T:
            for lock in self._held_locks:
                lock.check()
            with self.engine.begin() as connection:
                result = work(connection)
            self._reached = True
            return result

        return self._retrying(doing, attempt)

    def _retrying(self, doing: str, work: Callable[[], T]) -> T:
        def on_retry(error: BaseException, delay: float) -> None:
            if is_lost_connection(error):
                log.warning(f"Lost the connection to the warehouse {safe_url(self.url)} to {doing}; retrying in {delay:.1f} s")

        try:
            # A server never reached is a configuration error, not a blip: fail at once.
            return retry_transient(work, reconnect_seconds=self.reconnect_seconds if self._reached else 0.0, on_retry=on_retry)
        except LockLost as error:
            raise _stop_without_lock(error) from error
        except GaveUp as error:
            if isinstance(error.last, LockLost):
                raise _stop_without_lock(error.last) from error.last
            if _refused_row(error.last):
                raise self._explain(error.last, doing) from error.last  # reconnected, then a row was refused
            raise self._explain(error.first, doing, gave_up=error) from error.last
        except (DBAPIError, self.engine.dialect.loaded_dbapi.Error) as error:  # the slot store runs raw driver SQL
            raise self._explain(error, doing) from error

    def _explain(self, error: BaseException, doing: str, gave_up: GaveUp | None = None) -> WarehouseError:
        reason = _first_line(error)
        if gave_up is not None:
            return WarehouseError(
                f"The warehouse {safe_url(self.url)} failed to {doing}: {reason}. Retrying on fresh connections did "
                f"not help ({gave_up.attempts - 1} retries over {gave_up.seconds:.0f} s; the last error: {_first_line(gave_up.last)})."
            )
        if _refused_row(error):
            # A value the database refuses: that row's fault, not the warehouse's.
            return WarehouseError(f"The warehouse {safe_url(self.url)} refused a row to {doing}: {reason}", refused_row=True)
        if _is_unreachable(error):
            return WarehouseError(
                f"Cannot reach the warehouse {safe_url(self.url)} to {doing}: {reason}. "
                "Check WAREHOUSE_URL and that the database is running."
            )
        return WarehouseError(f"The warehouse {safe_url(self.url)} failed to {doing}: {reason}")


def _first_line(error: BaseException) -> str:
    """What the driver said, without the SQL and parameters SQLAlchemy appends (they hold data)."""
    text = str(driver_error(error)).strip()
    return text.splitlines()[0] if text else type(driver_error(error)).__name__


def _refused_row(error: BaseException) -> bool:
    # SQLSTATE classes 22 (data exception) and 23 (integrity constraint): MySQL's drivers raise
    # some of those, a JSON check that fails say, as OperationalError.
    return isinstance(error, (DataError, IntegrityError)) or (sqlstate(error) or "").startswith(("22", "23"))


def _stop_without_lock(error: LockLost) -> WarehouseError:
    return WarehouseError(
        f"{error}. This run stops so as not to write over that run; what it wrote so far is kept, "
        "and the next run goes on from the last checkpoint."
    )


def _is_unreachable(error: BaseException) -> bool:
    if not isinstance(error, OperationalError):
        return False
    state = sqlstate(error)
    # No SQLSTATE: the connection never got that far. 08: connection exceptions, 28: bad login,
    # 3D000: no such database, 57P: the server is shutting down.
    return state is None or state.startswith(("08", "28", "3D000", "57P"))
