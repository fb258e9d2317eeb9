"""What the server databases share: the sync lock as a named lock of a database session, and
the request budget's slots as rows advanced under a row lock, each on a connection of its own.
A dialect says only its SQL (PostgreSQL's advisory locks, MySQL's GET_LOCK)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, Table
from sqlalchemy.exc import DBAPIError

from ... import policies
from ...models.sync_state import RequestSlot
from .base import HeldLock, LockLost

LOST_SESSION_GRACE_SECONDS = policies.LOST_SESSION_GRACE_SECONDS  # why: see policies.py
LOST_SESSION_POLL_SECONDS = 0.05


def qualified_name(connection: Connection, table: Table) -> str:
    """The table's name as the connection sees it: the engine's schema_translate_map applied."""
    schema = table.schema
    translate = connection.get_execution_options().get("schema_translate_map")
    if translate and schema in translate:
        schema = translate[schema]
    quote = connection.dialect.identifier_preparer
    name = quote.quote(table.name)
    return f"{quote.quote_schema(schema)}.{name}" if schema else name


class SessionLock(HeldLock):
    """A named lock of a database session, on a connection of its own outside any transaction.

    The lock lives as long as that session. When the server ends it (an administrator, a
    restart, a failover), the lock is gone and another run may take it. `check()` notices, and
    takes the lock again on a fresh connection if no one else has (the lost session itself may
    hold it a moment longer: see LOST_SESSION_GRACE_SECONDS); rows stay right either way
    (an upsert never replaces newer data), and a checkpoint written after the other run's only
    makes the next run repeat some work. If another run holds it, LockLost stops this one.
    Subclasses say how to take the lock without waiting (`_lock`) and give it up (`_unlock`).
    """

    def __init__(self, engine: Engine, name: str):
        self._engine = engine
        self._name = name
        self._connection: Connection | None = None
        self._guard = threading.Lock()  # flushes from several threads check one connection

    def _lock(self, connection: Connection) -> bool:
        raise NotImplementedError

    def _unlock(self, connection: Connection) -> None:
        raise NotImplementedError

    def try_acquire(self) -> bool:
        return self._acquire(grace=0.0)

    def check(self) -> None:
        with self._guard:
            if self._connection is not None:
                try:
                    self._connection.exec_driver_sql("SELECT 1")
                    return
                except DBAPIError as lost:
                    self._discard()
                    try:
                        acquired = self._acquire(grace=LOST_SESSION_GRACE_SECONDS)
                    except DBAPIError:
                        raise lost from None  # the cause to report is the lost session, not the reconnect
            else:
                # Raises DBAPIError while the server is away: the caller's retries wait for it.
                acquired = self._acquire(grace=LOST_SESSION_GRACE_SECONDS)
            if not acquired:
                raise LockLost(f"The sync lock {self._name} was lost with its database connection, and another run holds it now")

    def _acquire(self, grace: float) -> bool:
        """Take the lock on a fresh connection, trying again for up to `grace` seconds while it
        is held (by the session just lost, still ending, see LOST_SESSION_GRACE_SECONDS)."""
        connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            deadline = time.monotonic() + grace
            while not (acquired := self._lock(connection)) and time.monotonic() < deadline:
                time.sleep(LOST_SESSION_POLL_SECONDS)
        except BaseException:
            connection.close()
            raise
        if acquired:
            self._connection = connection
            return True
        connection.close()
        return False

    def release(self) -> None:
        if self._connection is None:
            return
        try:
            self._unlock(self._connection)
        except DBAPIError:
            pass  # the session is gone, and its lock with it; an error here would hide the real one
        self._discard()

    def _discard(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            connection.close()
        except DBAPIError:
            pass


class RowSlotStore:
    """The request budget's slots as rows of `_stripe_rate_budget`, one per bucket, each advanced
    under its row lock on a connection of its own (autocommit). Subclasses write the SQL, on the
    driver's own cursor: this runs before every request, and SQLAlchemy's statement building
    would cost more CPU than the request's share of the sync."""

    def __init__(self, engine: Engine, retrying: Callable[[Callable[[], float]], float]):
        self._engine = engine
        self._retrying = retrying
        self._connection: Connection | None = None
        self._cursor: Any = None
        self._table = ""
        self._lock = threading.Lock()  # one connection per process, one reservation at a time
        self._known: set[str] = set()

    def reserve(self, bucket: str, not_before: float, interval: float) -> float:
        with self._lock:
            return self._retrying(lambda: self._reserve(bucket, not_before, interval))

    def close(self) -> None:
        with self._lock:
            connection, self._connection = self._connection, None
            if connection is not None:
                connection.close()

    def _create(self, cursor: Any, table: str, bucket: str) -> None:
        """Add the bucket's row if it is missing."""
        raise NotImplementedError

    def _advance(self, cursor: Any, table: str, bucket: str, not_before: float, interval: float) -> float:
        """Move the bucket's next slot past max(next slot, not_before) by interval; return that slot."""
        raise NotImplementedError

    def _setup(self, cursor: Any) -> None:
        """Session settings for the slot connection."""

    def _reserve(self, bucket: str, not_before: float, interval: float) -> float:
        try:
            cursor = self._open()
            if bucket not in self._known:
                self._create(cursor, self._table, bucket)
                self._known.add(bucket)
            return self._advance(cursor, self._table, bucket, not_before, interval)
        except Exception:
            # The next attempt starts on a fresh connection. A slot reserved by a statement whose
            # answer got lost is only a slot left unused.
            connection, self._connection = self._connection, None
            if connection is not None:
                connection.invalidate()
            raise

    def _open(self) -> Any:
        if self._connection is None:
            connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            self._table = qualified_name(connection, RequestSlot.__table__)
            self._connection = connection
            self._cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
            self._setup(self._cursor)
        return self._cursor
