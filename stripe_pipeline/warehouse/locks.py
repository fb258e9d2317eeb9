"""One sync at a time per (object type, account), across processes and machines.

Two runs of the same asset that overlap (the sensor, the daily schedule and the weekly
reconcile can all start one) would overwrite each other's checkpoints and cursors, and a slow
run could write an object's older version after a faster one wrote the newer. The second run
therefore waits for the first. The lock dies with its holder, even on kill -9:
PostgreSQL drops a session's advisory locks when its connection goes, and the OS drops a
file lock when its process goes. Each dialect's own lock is in its module (dialects/).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout
from sqlalchemy import Engine

from .. import policies
from .dialects import Dialect
from .dialects.base import HeldLock, LockLost, sidecar_dir

__all__ = ["HeldLock", "LockLost", "sync_lock"]

POLL_SECONDS = policies.LOCK_POLL_SECONDS
LOG_EVERY_SECONDS = policies.LOCK_LOG_EVERY_SECONDS


@contextmanager
def sync_lock(
    dialect: Dialect,
    engine: Engine,
    name: str,
    on_wait: Callable[[float], None],
    retrying: Callable[[Callable[[], bool]], bool] = lambda try_: try_(),
) -> Iterator[HeldLock]:
    """Hold the lock called `name` while the block runs; `on_wait(seconds)` is called now and
    then while another holder keeps it. `retrying(attempt)` runs each attempt (the warehouse's
    transient-error retries). The dialect says how (Dialect.session_lock); without a lock of its
    own, a file lock beside the database."""
    lock = dialect.session_lock(engine, name)
    if lock is not None:
        wait_for(lambda: retrying(lock.try_acquire), on_wait)
        try:
            yield lock
        finally:
            lock.release()
        return
    database = engine.url.database
    if database in (None, "", ":memory:"):
        yield HeldLock()  # an in-memory database lives in one process: nothing to share
        return
    with _file_lock(sidecar_dir(database) / f"{name}.lock", on_wait):
        yield HeldLock()


@contextmanager
def _file_lock(path: Path, on_wait: Callable[[float], None]) -> Iterator[None]:
    lock = FileLock(path)

    def acquire() -> bool:
        try:
            lock.acquire(timeout=0)
            return True
        except Timeout:
            return False

    wait_for(acquire, on_wait)
    try:
        yield
    finally:
        lock.release()


def wait_for(try_acquire: Callable[[], bool], on_wait: Callable[[float], None]) -> None:
    started = time.monotonic()
    last_report = None
    while not try_acquire():
        waited = time.monotonic() - started
        if last_report is None or waited - last_report >= LOG_EVERY_SECONDS:
            on_wait(waited)
            last_report = waited
        time.sleep(POLL_SECONDS)
