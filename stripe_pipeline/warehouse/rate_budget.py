"""Request slots shared by every process that syncs into this warehouse (see stripe_api/budget.py).

PostgreSQL: a row per bucket, advanced by one `UPDATE … RETURNING` (the row lock lasts one
statement). SQLite: a small file beside the database, read and advanced under a file lock, so
reserving a slot never queues behind a flush holding SQLite's write lock.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock
from sqlalchemy import Engine

from ..models.sync_state import RequestSlot
from ..stripe_api.budget import LocalSlotStore, SlotStore
from .engine import sidecar_dir
from .upsert import qualified_name

_TABLE = RequestSlot.__table__


def slot_store_for(engine: Engine, retrying: Callable[[Callable[[], float]], float] = lambda try_: try_()) -> SlotStore:
    """The store for this warehouse; on PostgreSQL its table must exist (Warehouse.slot_store).
    `retrying(attempt)` runs each reservation (the warehouse's transient-error retries)."""
    if engine.dialect.name == "postgresql":
        return PostgresSlotStore(engine, retrying)
    database = engine.url.database
    if database in (None, "", ":memory:"):
        return LocalSlotStore()
    return FileSlotStore(sidecar_dir(database) / "rate-budget.json")


class PostgresSlotStore:
    """One statement per reservation on a connection of its own; the row lock lasts that long."""

    def __init__(self, engine: Engine, retrying: Callable[[Callable[[], float]], float]):
        self._engine = engine
        self._retrying = retrying
        self._connection = None
        self._statement = ""
        self._lock = threading.Lock()  # one connection per process, one statement at a time
        self._known: set[str] = set()

    def reserve(self, bucket: str, not_before: float, interval: float) -> float:
        with self._lock:
            return self._retrying(lambda: self._reserve(bucket, not_before, interval))

    def _reserve(self, bucket: str, not_before: float, interval: float) -> float:
        try:
            cursor = self._cursor()
            if bucket not in self._known:
                cursor.execute(self._create, (bucket,))
                self._known.add(bucket)
            # Raw driver SQL: this runs before every request, and SQLAlchemy's statement building
            # would cost more CPU than the request's share of the sync.
            cursor.execute(self._statement, (not_before, interval, bucket, interval))
            return cursor.fetchone()[0]
        except Exception:
            # The next attempt starts on a fresh connection. A slot reserved by a statement whose
            # answer got lost is only a slot left unused.
            connection, self._connection = self._connection, None
            if connection is not None:
                connection.invalidate()
            raise

    def _cursor(self):
        if self._connection is None:
            connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            table = qualified_name(connection, _TABLE)
            self._create = f"INSERT INTO {table} (bucket, next_slot) VALUES (%s, 0) ON CONFLICT DO NOTHING"
            self._statement = f"UPDATE {table} SET next_slot = GREATEST(next_slot, %s) + %s WHERE bucket = %s RETURNING next_slot - %s"
            self._connection = connection
            self._raw = connection.connection.driver_connection.cursor()
            # A slot lost in a crash costs nothing, a commit that waits for the disk holds up
            # the request it is for: this connection's commits do not wait for the WAL flush.
            self._raw.execute("SET synchronous_commit TO off")
        return self._raw


class FileSlotStore:
    def __init__(self, path: Path):
        self._path = path
        self._file_lock = FileLock(f"{path}.lock")
        self._lock = threading.Lock()

    def reserve(self, bucket: str, not_before: float, interval: float) -> float:
        with self._lock, self._file_lock:
            try:
                slots = json.loads(self._path.read_text() or "{}")
            except (FileNotFoundError, ValueError):  # none yet, or cut short by a crash
                slots = {}
            slot = max(slots.get(bucket, 0.0), not_before)
            slots[bucket] = slot + interval
            self._path.write_text(json.dumps(slots))
            return slot
