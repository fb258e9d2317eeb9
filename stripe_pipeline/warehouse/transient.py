"""Which database errors pass, and the bounded retries they get.

Two kinds pass. *Busy*: a deadlock, a serialization failure, SQLite's write lock held past its
busy timeout; the same statement succeeds a moment later, so a few quick retries do. *Lost
connection*: the server terminated the session, restarted or failed over. A fresh connection
works once the server is back, which takes seconds (a restart) to tens of seconds (a managed
failover), so those are retried with backoff for up to RECONNECT_SECONDS. Anything else, and a
server never reached at all (a wrong URL, a closed port), is permanent and fails at once.

When retrying does not help, the error names the *first* failure: that is the cause, and what
follows (a lock release on a dead connection, a reconnect refused) is its consequence.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError

from .. import policies
from .dialects import DIALECTS, Dialect

T = TypeVar("T")

BUSY_RETRIES = policies.WAREHOUSE_BUSY_RETRIES  # the figures and why: policies.py
RECONNECT_SECONDS = policies.WAREHOUSE_RECONNECT_SECONDS
RECONNECT_DELAYS = policies.WAREHOUSE_RECONNECT_DELAYS


def driver_error(error: BaseException) -> BaseException:
    """The DB-API driver's exception inside SQLAlchemy's wrapper (or the error itself)."""
    return getattr(error, "orig", None) or error


def sqlstate(error: BaseException) -> str | None:
    driver = driver_error(error)
    return _dialect_raising(driver).sqlstate(driver)


_ANY_DRIVER = Dialect()  # for a driver no dialect names: the defaults


def _dialect_raising(driver: BaseException) -> Dialect:
    """The dialect whose driver raised `driver` (Dialect.driver_modules): it reads its errors."""
    module = type(driver).__module__
    return next((dialect for dialect in DIALECTS.values() if module.startswith(dialect.driver_modules or ("\0",))), _ANY_DRIVER)


def is_busy(error: BaseException) -> bool:
    # 40P01 deadlock, 40001 serialization failure; SQLite gives up after its busy timeout.
    return sqlstate(error) in ("40P01", "40001") or "database is locked" in str(driver_error(error))


def is_lost_connection(error: BaseException) -> bool:
    """The connection went away under us (as opposed to a statement that failed on it)."""
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    state = sqlstate(error)
    if state is not None:
        # 08: connection exceptions; 57P01-57P03: admin shutdown, crash shutdown, cannot connect now.
        return state.startswith("08") or state in ("57P01", "57P02", "57P03")
    # Without a SQLSTATE, the dialect says (psycopg's closed socket: Dialect.lost_without_sqlstate).
    driver = driver_error(error)
    return _dialect_raising(driver).lost_without_sqlstate(driver)


class GaveUp(Exception):
    """Retrying did not help: `first` is the error that started it, `last` the final one."""

    def __init__(self, first: BaseException, last: BaseException, attempts: int, seconds: float):
        super().__init__(f"{first} (after {attempts} attempts over {seconds:.0f} s)")
        self.first, self.last, self.attempts, self.seconds = first, last, attempts, seconds


def retry_transient(
    work: Callable[[], T],
    *,
    reconnect_seconds: float = RECONNECT_SECONDS,
    on_retry: Callable[[BaseException, float], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run `work()`, again after busy errors, and after lost connections for up to
    `reconnect_seconds` (0: not at all). A permanent error is raised as it is; transient ones
    that outlast the bounds, or are followed by a permanent one, raise GaveUp."""
    started = time.monotonic()
    first: BaseException | None = None
    attempt = 0
    while True:
        try:
            return work()
        except Exception as error:  # noqa: BLE001 - classified right below
            lost = reconnect_seconds > 0 and is_lost_connection(error)
            if not lost and not is_busy(error):
                if first is None:
                    raise
                raise GaveUp(first, error, attempt + 1, time.monotonic() - started) from error
            first = first or error
            elapsed = time.monotonic() - started
            if lost:
                delay = RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)] * (1 + 0.2 * random.random())
                if elapsed + delay > reconnect_seconds:
                    raise GaveUp(first, error, attempt + 1, elapsed) from error
            else:
                if attempt >= BUSY_RETRIES:
                    raise GaveUp(first, error, attempt + 1, elapsed) from error
                delay = 0.05 * 2**attempt * (1 + random.random())
            if on_retry is not None:
                on_retry(error, delay)
            sleep(delay)
            attempt += 1
