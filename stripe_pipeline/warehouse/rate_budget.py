"""Request slots shared by every process that syncs into this warehouse (see stripe_api/budget.py).

A server database keeps them in a table of its own (PostgreSQL: dialects/postgresql.py). An
embedded one (SQLite) keeps them in a small file beside the database, read and advanced under a
file lock, so reserving a slot never queues behind a flush holding the database's write lock.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock
from sqlalchemy import Engine

from .dialects import Dialect
from .dialects.base import SlotStore, sidecar_dir


def slot_store_for(
    dialect: Dialect, engine: Engine, retrying: Callable[[Callable[[], float]], float] = lambda try_: try_()
) -> SlotStore | None:
    """The store for this warehouse: the dialect's own (Dialect.slot_store; its table must
    exist, see Warehouse.slot_store), else a file beside the database; None for a database in
    memory, which lives in one process: the client keeps its slots itself (stripe_api/budget.py:
    LocalSlotStore). `retrying(attempt)` runs each reservation (the warehouse's transient-error
    retries)."""
    store = dialect.slot_store(engine, retrying)
    if store is not None:
        return store
    database = engine.url.database
    if database in (None, "", ":memory:"):
        return None
    return FileSlotStore(sidecar_dir(database) / "rate-budget.json")


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
