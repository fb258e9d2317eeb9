"""Request slots shared by every process that syncs into this warehouse (see stripe_api/budget.py).

PostgreSQL: a row per bucket, advanced by one `UPDATE … RETURNING` (the row lock lasts one
statement). SQLite: a small file beside the database, read and advanced under a file lock, so
reserving a slot never queues behind a flush holding SQLite's write lock.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from filelock import FileLock
from sqlalchemy import Engine, func
from sqlalchemy.dialects import postgresql

from ..models.sync_state import RequestSlot
from ..stripe_api.budget import LocalSlotStore, SlotStore

_TABLE = RequestSlot.__table__


def slot_store_for(engine: Engine) -> SlotStore:
    """The store for this warehouse; on PostgreSQL its table must exist (Warehouse.slot_store)."""
    if engine.dialect.name == "postgresql":
        return PostgresSlotStore(engine)
    database = engine.url.database
    if database in (None, "", ":memory:"):
        return LocalSlotStore()
    return FileSlotStore(Path(f"{database}.rate-budget.json"))


class PostgresSlotStore:
    def __init__(self, engine: Engine):
        self._engine = engine
        self._connection = None
        self._lock = threading.Lock()  # one connection per process, one statement at a time
        self._known: set[str] = set()

    def reserve(self, bucket: str, not_before: float, interval: float) -> float:
        with self._lock:
            connection = self._connect()
            if bucket not in self._known:
                connection.execute(
                    postgresql.insert(_TABLE).values(bucket=bucket, next_slot=0.0).on_conflict_do_nothing()
                )
                self._known.add(bucket)
            return connection.execute(
                _TABLE.update()
                .where(_TABLE.c.bucket == bucket)
                .values(next_slot=func.greatest(_TABLE.c.next_slot, not_before) + interval)
                .returning(_TABLE.c.next_slot - interval)
            ).scalar_one()

    def _connect(self):
        if self._connection is None:
            # Autocommit: each reservation is its own statement, holding the row lock that long.
            self._connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self._connection


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
