"""SQLite: the embedded default. One file, no schemas; the sync lock and the budget's slots are
files beside it (warehouse/locks.py, warehouse/rate_budget.py).

Dagster writes to it from several processes at once, so every SQLite transaction takes the
write lock up front (BEGIN IMMEDIATE) and waits for it (busy timeout) instead of failing with
"database is locked" halfway through a flush.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, Table, event
from sqlalchemy.dialects import sqlite

from ... import policies
from .base import Dialect


class SQLite(Dialect):
    name = "sqlite"
    kind = "sqlite"
    schemas = False
    files = True
    driver_modules = ("sqlite3", "pysqlite2")

    def lost_without_sqlstate(self, driver_error: BaseException) -> bool:
        return False  # an embedded database has no connection to lose; its OperationalError is a statement's

    def insert(self, table: Table) -> Any:
        return sqlite.insert(table)

    def configure(self, engine: Engine) -> None:
        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection, _record):
            # Hand transaction control to SQLAlchemy's "begin" event below.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout = {policies.SQLITE_BUSY_TIMEOUT_MS}")
            if engine.url.database not in (None, "", ":memory:"):
                cursor.execute("PRAGMA journal_mode = WAL")
                cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
