"""PostgreSQL or MariaDB ends the sync's connections, or goes away: the sync reconnects and
ends complete, never writes on without its lock, and when it cannot recover names the first
error. (SQLite and DuckDB have no connection to lose.)"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa

from stripe_pipeline.actions import StripeCustomerAction
from stripe_pipeline.models import StripeCustomer
from stripe_pipeline.warehouse import Warehouse, WarehouseError
from stripe_pipeline.warehouse.dialects import server as session_locks
from stripe_pipeline.warehouse.dialects.mysql import NamedLock
from stripe_pipeline.warehouse.dialects.postgresql import AdvisoryLock

from .conftest import POSTGRES_URL, table_rows
from .tcp_proxy import TcpProxy


@pytest.fixture
def tagged_url():
    """The test URL with an application_name of its own, to find (and terminate) its sessions by."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    url = sa.engine.make_url(POSTGRES_URL).update_query_dict({"application_name": name})
    return url.render_as_string(hide_password=False), name


def _terminate(postgres_engine, application_name: str) -> int:
    with postgres_engine.connect() as connection:
        return connection.scalar(
            sa.text("SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = :name"),
            {"name": application_name},
        )


def _kill(mysql_engine, database: str) -> int:
    """MariaDB's and MySQL's pg_terminate_backend: KILL every session using the database."""
    with mysql_engine.connect() as connection:
        sessions = connection.scalars(sa.text("SELECT id FROM information_schema.processlist WHERE db = :db"), {"db": database}).all()
        for session in sessions:
            connection.execute(sa.text(f"KILL {int(session)}"))
    return len(sessions)


@dataclass
class Server:
    """A server warehouse of the test's own, and how an administrator ends its sessions."""

    url: str
    schema: str | None
    terminate: Callable[[], int]
    other_lock: Callable[[str], Any]  # another run's handle on the sync lock of that name
    admin: sa.Engine  # the test's own connection, not among the sessions terminated
    database: str | None = None  # MySQL's schema: the database the URL names

    @property
    def tables_in(self) -> str | None:
        """Where the warehouse's tables are, as the administrator's connection names it."""
        return self.schema or self.database

    def rows(self, table: sa.Table) -> int:
        """Rows the sync has committed to `table` so far; 0 before it exists."""
        try:
            with self.admin.connect() as connection:
                return connection.scalar(sa.select(sa.func.count()).select_from(sa.table(table.name, schema=self.tables_in)))
        except sa.exc.DBAPIError:
            return 0


@pytest.fixture(params=["postgresql", "mariadb"])
def server(request) -> Server:
    if request.param == "postgresql":
        engine, schema = request.getfixturevalue("postgres_engine"), request.getfixturevalue("postgres_schema")
        url, application_name = request.getfixturevalue("tagged_url")
        return Server(
            url, schema, lambda: _terminate(engine, application_name), lambda name: AdvisoryLock(engine, f"{schema}.{name}"), engine
        )
    engine, url = request.getfixturevalue("mysql_engine"), request.getfixturevalue("mysql_database")
    database = sa.engine.make_url(url).database
    return Server(
        url, None, lambda: _kill(engine, database), lambda name: NamedLock(sa.create_engine(url), f"main.{name}"), engine, database
    )


class TerminationsBetweenRequests:
    """Ends the sync's sessions twice mid-listing, each time once all of them are open, and with
    requests, flushes and lock checks still to come.

    The listing runs ahead of the writing by up to twice its concurrency in pages (queued and in
    flight). Waiting for the first rows and then for a dozen more requests therefore raced: on a
    loaded machine the first flush landed after the 24th of the 35 requests, the sync ended
    before the dozen, and the second termination never came (CI: `assert 1 == 2`). So the
    terminations are tied to the request budget instead, whose slot every request reserves in
    the warehouse first. Reservation `at[0]` waits until the first rows are in (the lock's, the
    budget's and a flush's sessions are open), ends the sessions and goes on, on the dead
    connection. Reservation `at[1]` waits until the sync is on fresh sessions again (a
    reservation made after the termination has returned, and two transactions have committed
    since: the second checked the lock after the termination and so took it again), and ends
    them again. Every later reservation waits for the termination before it."""

    def __init__(self, server: Server, warehouse: Warehouse, table: sa.Table, at: tuple[int, int], timeout: float = 60.0):
        self.terminated: list[int] = []  # sessions ended, per termination
        self.missed: list[str] = []  # why a termination did not happen
        self._server, self._table, self._at, self._timeout = server, table, at, timeout
        self._done = [threading.Event() for _ in at]
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.reservations = 0  # begun
        self._fresh_reservation = threading.Event()  # one begun after the first termination has returned
        self._commits = 0
        self._commits_at_termination = 0
        store = warehouse.slot_store()  # the one the action's client reserves its slots in
        reserve = store.reserve

        def reserving(bucket: str, not_before: float, interval: float) -> float:
            if " " in bucket:  # a turn in an endpoint's line ("<key> GET /v1/customers"): counted by its global slot
                return reserve(bucket, not_before, interval)
            with self._lock:
                self.reservations += 1
                number = self.reservations
            self._before(number)
            slot = reserve(bucket, not_before, interval)
            if number >= at[0]:
                self._fresh_reservation.set()
            return slot

        store.reserve = reserving  # type: ignore[method-assign]

        @sa.event.listens_for(warehouse.engine, "commit")
        def count(connection: sa.Connection) -> None:
            with self._lock:
                self._commits += 1

    def stop(self) -> None:
        """Let every reservation go, the sync having ended."""
        self._stop.set()
        for done in self._done:
            done.set()

    def _before(self, number: int) -> None:
        for index, (at, done) in enumerate(zip(self._at, self._done, strict=True)):
            if number > at:
                done.wait(self._timeout)
            elif number == at:
                ready = self._first_rows_in if index == 0 else self._on_fresh_sessions
                if self._wait_for(ready):
                    self.terminated.append(self._server.terminate())
                    with self._lock:
                        self._commits_at_termination = self._commits
                else:
                    self.missed.append(f"reservation {at}: still not {ready.__name__} after {self._timeout:.0f} s")
                done.set()

    def _first_rows_in(self) -> bool:
        return self._server.rows(self._table) > 0

    def _on_fresh_sessions(self) -> bool:
        with self._lock:
            committed = self._commits - self._commits_at_termination
        return self._fresh_reservation.is_set() and committed >= 2

    def _wait_for(self, ready: Callable[[], bool]) -> bool:
        deadline = time.monotonic() + self._timeout
        while not ready():
            if self._stop.is_set() or time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True


def test_terminated_connections_are_survived_and_the_table_ends_complete(make_emulator, server, caplog):
    # 3,000 customers: 30 pages, 35 requests in all. The first flush's 500 rows are in the first
    # 10 requests and three flushes' in the first 20, so the 14th and the 26th reservations can
    # wait for them, and 10 requests remain after the second termination.
    emulator = make_emulator({"customer": 3000}, latency=0.03)
    warehouse = Warehouse(server.url, server.schema)
    terminations = TerminationsBetweenRequests(server, warehouse, StripeCustomer.__table__, at=(14, 26))
    try:
        with caplog.at_level(logging.WARNING):
            # The action's own client: its request budget lives in the warehouse too.
            stats = StripeCustomerAction(api_key=emulator.api_key, api_base=emulator.base_url, warehouse=warehouse).sync_incremental()
    finally:
        terminations.stop()

    terminated = terminations.terminated
    why = (terminated, terminations.missed, f"{terminations.reservations} reservations")
    assert len(terminated) == 2 and min(terminated) >= 3, why  # the lock's, the budget's, a flush's
    assert stats.modes == ["backfill"]
    rows = table_rows(warehouse, StripeCustomer.__table__)
    assert {i: row["_raw"] for i, row in rows.items()} == emulator.store.collections["customers"].objects
    lost = [record.getMessage() for record in caplog.records if "Lost the connection to the warehouse" in record.getMessage()]
    # Each termination cost the budget its connection, and a reservation after it reconnected.
    assert sum("reserve a request slot" in message for message in lost) >= 2, lost
    warehouse.engine.dispose()


def _eventually(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    """Whether `condition()` comes true within `seconds`. (A terminated session frees its lock
    only once the server has ended it, a moment after its client saw it go.)"""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.parametrize("another_run_took_it", [True, False])
def test_a_lost_lock_is_taken_again_or_the_sync_stops_writing(another_run_took_it, server, monkeypatch):
    # How long the sync waits for its lost session to let go of the lock (see the next test)
    # is not what this test is about: a shorter wait keeps it short.
    monkeypatch.setattr(session_locks, "LOST_SESSION_GRACE_SECONDS", 1.0)
    warehouse = Warehouse(server.url, server.schema)
    other_run = server.other_lock("customers.platform")
    try:
        with warehouse.sync_lock("customers", None, lambda waited: None):
            warehouse.save_state("customers", None, events_cursor_id="evt_before")
            server.terminate()  # the lock goes with the session
            if another_run_took_it:
                assert _eventually(other_run.try_acquire)
                with pytest.raises(WarehouseError, match="lost with its database connection, and another run holds it now"):
                    warehouse.save_state("customers", None, events_cursor_id="evt_after")
            else:
                warehouse.save_state("customers", None, events_cursor_id="evt_after")
                assert not other_run.try_acquire()  # held again, by the sync
    finally:
        other_run.release()
    expected = "evt_before" if another_run_took_it else "evt_after"
    assert warehouse.load_state("customers", None)["events_cursor_id"] == expected
    warehouse.engine.dispose()


def test_a_lock_the_lost_session_still_holds_is_waited_for(server):
    """The server frees a terminated session's lock once it has ended the session, which can be
    after the client saw the connection go and took a fresh one (seen on MariaDB: GET_LOCK
    answered 0, the holder being the sync's own old session, in state Killed). The sync waits
    for that, instead of stopping as if another run held the lock. Here a session of the test's
    stands in for the one still ending: it holds the lock for half a second more."""
    warehouse = Warehouse(server.url, server.schema)
    ending = server.other_lock("customers.platform")
    let_go = threading.Timer(0.5, ending.release)
    try:
        with warehouse.sync_lock("customers", None, lambda waited: None):
            warehouse.save_state("customers", None, events_cursor_id="evt_before")
            server.terminate()
            assert _eventually(ending.try_acquire)
            let_go.start()
            warehouse.save_state("customers", None, events_cursor_id="evt_after")
            assert not ending.try_acquire()  # held again, by the sync
    finally:
        if let_go.is_alive():
            let_go.join()
        ending.release()
    assert warehouse.load_state("customers", None)["events_cursor_id"] == "evt_after"
    warehouse.engine.dispose()


def test_a_warehouse_that_stays_away_fails_the_run_naming_the_first_error(postgres_engine, postgres_schema, tagged_url):
    _, application_name = tagged_url
    target = sa.engine.make_url(POSTGRES_URL)
    proxy = TcpProxy(target.host or "127.0.0.1", target.port or 5432)
    url = target.set(host="127.0.0.1", port=proxy.port).update_query_dict({"application_name": application_name})
    warehouse = Warehouse(url.render_as_string(hide_password=False), postgres_schema, reconnect_seconds=3)
    try:
        with warehouse.sync_lock("customers", None, lambda waited: None):
            warehouse.save_state("customers", None, events_cursor_id="evt_before")
            # The administrator ends the sessions, and the server does not come back within the bound.
            _terminate(postgres_engine, application_name)
            time.sleep(0.2)
            proxy.cut(refuse_new=True)
            started = time.monotonic()
            with pytest.raises(WarehouseError) as raised:
                warehouse.save_state("customers", None, events_cursor_id="evt_after")
            assert time.monotonic() - started < 10
    finally:
        proxy.close()
        warehouse.engine.dispose()
    first, _, last = str(raised.value).partition("the last error")
    assert "failed to save the sync state: terminating connection due to administrator command" in first, first
    assert "Retrying on fresh connections did not help" in first and "terminating" not in last


def test_a_warehouse_never_reached_fails_at_once(postgres_schema):
    proxy = TcpProxy("127.0.0.1", 1)
    proxy.close()  # nothing listens on its port any more
    warehouse = Warehouse(f"postgresql+psycopg://postgres@127.0.0.1:{proxy.port}/test", postgres_schema)
    started = time.monotonic()
    with pytest.raises(WarehouseError, match="Cannot reach the warehouse"):
        warehouse.ping()
    assert time.monotonic() - started < 5


def test_a_connection_lost_while_creating_tables_is_retried(server):
    """The session dies between taking the table-creation lock and creating: the creation is
    retried on a fresh connection, and the lock (gone with the session) does not mask the loss."""
    warehouse = Warehouse(server.url, server.schema)
    warehouse.ping()
    terminated: list[int] = []

    @sa.event.listens_for(warehouse.engine, "before_cursor_execute")
    def terminate_once(connection, cursor, statement, *args):
        if statement.lstrip().upper().startswith("CREATE TABLE") and not terminated:
            terminated.append(server.terminate())

    try:
        warehouse.ensure_tables([StripeCustomer.__table__])
        assert terminated and terminated[0] >= 1
        assert sa.inspect(server.admin).has_table(StripeCustomer.__table__.name, schema=server.tables_in)
    finally:
        warehouse.engine.dispose()
