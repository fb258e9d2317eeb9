"""One database the sync talks to, the warehouse's or the state store's: its engine and dialect,
its tables made when first needed, and its work run in a transaction, retried after transient
errors (transient.py) and, when that does not help, explained in one line that names it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TypeVar

from sqlalchemy import Connection, Table
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError

from .. import settings
from ..models import Base
from .dialects import dialect_of
from .engine import WarehouseError, create_warehouse_engine, safe_url
from .locks import HeldLock, LockLost
from .transient import RECONNECT_SECONDS, GaveUp, driver_error, is_lost_connection, retry_transient, sqlstate
from .upgrades import upgrade

T = TypeVar("T")
log = logging.getLogger(__name__)


class Database:
    """`role` names it in errors (`warehouse`, `state database`), `variable` is the setting that
    points at it. `held_locks`: the sync locks this process holds, checked before each write
    (they live in the state database, and guard the warehouse's writes as much as its own)."""

    def __init__(
        self,
        url: str,
        schema: str | None,
        *,
        role: str = "warehouse",
        variable: str = "WAREHOUSE_URL",
        reconnect_seconds: float = RECONNECT_SECONDS,
        held_locks: list[HeldLock] | None = None,
        config: settings.Settings | None = None,
    ):
        self.url = url
        self.role = role
        self.variable = variable
        self.reconnect_seconds = reconnect_seconds
        # The settings given (a resource's) or else the environment's, as create_warehouse_engine reads them.
        config = config if config is not None else settings.load()
        schema = schema if schema is not None else config.warehouse_schema
        self.engine = create_warehouse_engine(url, schema, config)
        self.dialect = dialect_of(self.engine.dialect.name)
        self.schema = self.dialect.schema(schema)
        self.held_locks: list[HeldLock] = held_locks if held_locks is not None else []
        self._ready: set[str] = set()
        self._reached = False  # until the server has answered once, an unreachable one is misconfigured

    def ensure_tables(self, tables: Iterable[Table]) -> None:
        missing = [table for table in tables if table.name not in self._ready]
        if not missing:
            return

        def create(connection: Connection) -> None:
            with self.dialect.creating_tables(connection, self.schema):
                self.dialect.create_tables(connection, Base.metadata, missing)
                upgrade(self.dialect, connection, missing)  # tables an older version made

        self.run("create tables", create)
        self._ready.update(table.name for table in missing)

    def run(self, doing: str, work: Callable[[Connection], T]) -> T:
        """Run `work` in a transaction, again on a fresh connection after transient errors (see
        transient.py). Before a write, the sync locks this process holds are checked: a sync
        that lost its lock must not go on writing as if it held it."""

        def attempt() -> T:
            for lock in self.held_locks:
                lock.check()
            with self.engine.begin() as connection:
                result = work(connection)
            self._reached = True
            return result

        return self.retrying(doing, attempt)

    def retrying(self, doing: str, work: Callable[[], T]) -> T:
        def on_retry(error: BaseException, delay: float) -> None:
            if is_lost_connection(error):
                log.warning(f"Lost the connection to the {self.role} {safe_url(self.url)} to {doing}; retrying in {delay:.1f} s")

        try:
            # A server never reached is a configuration error, not a blip: fail at once.
            return retry_transient(work, reconnect_seconds=self.reconnect_seconds if self._reached else 0.0, on_retry=on_retry)
        except LockLost as error:
            raise _stop_without_lock(error) from error
        except GaveUp as error:
            if isinstance(error.last, LockLost):
                raise _stop_without_lock(error.last) from error.last
            if _refused_row(error.last):
                raise self.explain(error.last, doing) from error.last  # reconnected, then a row was refused
            raise self.explain(error.first, doing, gave_up=error) from error.last
        except (DBAPIError, self.engine.dialect.loaded_dbapi.Error) as error:  # the slot store runs raw driver SQL
            raise self.explain(error, doing) from error

    def explain(self, error: BaseException, doing: str, gave_up: GaveUp | None = None) -> WarehouseError:
        reason = _first_line(error)
        where = f"The {self.role} {safe_url(self.url)}"
        if gave_up is not None:
            return WarehouseError(
                f"{where} failed to {doing}: {reason}. Retrying on fresh connections did not help "
                f"({gave_up.attempts - 1} retries over {gave_up.seconds:.0f} s; the last error: {_first_line(gave_up.last)})."
            )
        if _refused_row(error):
            # A value the database refuses: that row's fault, not the warehouse's.
            return WarehouseError(f"{where} refused a row to {doing}: {reason}", refused_row=True)
        if _is_unreachable(error):
            return WarehouseError(
                f"Cannot reach the {self.role} {safe_url(self.url)} to {doing}: {reason}. "
                f"Check {self.variable} and that the database is running."
            )
        return WarehouseError(f"{where} failed to {doing}: {reason}")

    def close(self) -> None:
        self.engine.dispose()


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
