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
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout
from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.exc import DBAPIError

from .. import policies
from .engine import sidecar_dir

POLL_SECONDS = policies.LOCK_POLL_SECONDS
LOG_EVERY_SECONDS = policies.LOCK_LOG_EVERY_SECONDS


class HeldLock:
    """A lock this process holds; `check()` before each write (see Warehouse._run)."""

    def check(self) -> None:
        pass  # a file lock cannot be lost while its process lives


class LockLost(RuntimeError):
    """The sync's lock went with its connection, and another run holds it now."""


@contextmanager
def sync_lock(
    engine: Engine, name: str, on_wait: Callable[[float], None], retrying: Callable[[Callable[[], bool]], bool] = lambda try_: try_()
) -> Iterator[HeldLock]:
    """Hold the lock called `name` while the block runs; `on_wait(seconds)` is called now and
    then while another holder keeps it. `retrying(attempt)` runs each attempt (the warehouse's
    transient-error retries)."""
    if engine.dialect.name == "postgresql":
        lock = AdvisoryLock(engine, name)
        _wait(lambda: retrying(lock.try_acquire), on_wait)
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


class AdvisoryLock(HeldLock):
    """A session-level advisory lock on a connection of its own, outside any transaction.

    The lock lives as long as that session. When PostgreSQL terminates it (an administrator, a
    restart, a failover), the lock is gone and another run may take it. `check()` notices, and
    takes the lock again on a fresh connection if no one else has; rows stay right either way
    (an upsert never replaces newer data), and a checkpoint written after the other run's only
    makes the next run repeat some work. If another run holds it, LockLost stops this one.
    """

    def __init__(self, engine: Engine, name: str):
        self._engine = engine
        self._name = name
        self._key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        self._connection: Connection | None = None
        self._guard = threading.Lock()  # flushes from several threads check one connection

    def try_acquire(self) -> bool:
        connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            acquired = connection.scalar(select(func.pg_try_advisory_lock(self._key)))
        except BaseException:
            connection.close()
            raise
        if acquired:
            self._connection = connection
            return True
        connection.close()
        return False

    def check(self) -> None:
        with self._guard:
            if self._connection is not None:
                try:
                    self._connection.exec_driver_sql("SELECT 1")
                    return
                except DBAPIError as lost:
                    self._discard()
                    try:
                        acquired = self.try_acquire()
                    except DBAPIError:
                        raise lost from None  # the cause to report is the lost session, not the reconnect
            else:
                # Raises DBAPIError while the server is away: the caller's retries wait for it.
                acquired = self.try_acquire()
            if not acquired:
                raise LockLost(f"The sync lock {self._name} was lost with its database connection, and another run holds it now")

    def release(self) -> None:
        if self._connection is None:
            return
        try:
            self._connection.scalar(select(func.pg_advisory_unlock(self._key)))
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
