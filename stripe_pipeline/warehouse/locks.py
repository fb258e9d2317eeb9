"""One sync at a time per (object type, account), across processes and machines.

Two runs of the same asset that overlap (the sensor, the daily schedule and the weekly
reconcile can all start one) would overwrite each other's checkpoints and cursors, and a slow
run could write an object's older version after a faster one wrote the newer. The second run
therefore waits for the first. The lock dies with its holder, even on kill -9:
PostgreSQL drops a session's advisory locks when its connection goes, and the OS drops a
file lock when its process goes.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout
from sqlalchemy import Engine, func, select

from .engine import sidecar_dir

POLL_SECONDS = 1.0
LOG_EVERY_SECONDS = 30.0


@contextmanager
def sync_lock(engine: Engine, name: str, on_wait: Callable[[float], None]) -> Iterator[None]:
    """Hold the lock called `name` while the block runs; `on_wait(seconds)` is called now and
    then while another holder keeps it."""
    if engine.dialect.name == "postgresql":
        with _advisory_lock(engine, name, on_wait):
            yield
        return
    database = engine.url.database
    if database in (None, "", ":memory:"):
        yield  # an in-memory database lives in one process: nothing to share
        return
    with _file_lock(sidecar_dir(database) / f"{name}.lock", on_wait):
        yield


@contextmanager
def _advisory_lock(engine: Engine, name: str, on_wait: Callable[[float], None]) -> Iterator[None]:
    key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
    # Its own connection, outside any transaction, held for the whole sync.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        _wait(lambda: connection.scalar(select(func.pg_try_advisory_lock(key))), on_wait)
        try:
            yield
        finally:
            connection.scalar(select(func.pg_advisory_unlock(key)))


@contextmanager
def _file_lock(path: Path, on_wait: Callable[[float], None]) -> Iterator[None]:
    lock = FileLock(path)

    def acquire() -> bool:
        try:
            lock.acquire(timeout=0)
            return True
        except Timeout:
            return False

    _wait(acquire, on_wait)
    try:
        yield
    finally:
        lock.release()


def _wait(try_acquire: Callable[[], bool], on_wait: Callable[[float], None]) -> None:
    started = time.monotonic()
    last_report = None
    while not try_acquire():
        waited = time.monotonic() - started
        if last_report is None or waited - last_report >= LOG_EVERY_SECONDS:
            on_wait(waited)
            last_report = waited
        time.sleep(POLL_SECONDS)
