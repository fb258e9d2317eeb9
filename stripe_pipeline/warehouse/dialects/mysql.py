"""MySQL 8 and MariaDB (`mysql+pymysql://…/db`, `mariadb+pymysql://…/db`): tables go in the
database the URL names. JSON columns are JSON (MariaDB makes that LONGTEXT with a JSON check),
timestamps DATETIME(6) in UTC, keys VARCHAR(255), text utf8mb4 with a binary, case-sensitive
collation (models/base.py).

- Upserts: `INSERT … ON DUPLICATE KEY UPDATE`, under the same rule as everywhere (rules.py):
  each assignment is `CASE WHEN <the rule> THEN new ELSE old END`. MySQL assigns left to right,
  and later assignments see the earlier ones' new values, so the rule is evaluated again on a
  half-updated row. It still decides right when the columns the rule does not compare
  (`_synced_at`, `_observed_at`) come first: setting those keeps a true rule true, and once the
  compared columns are set, the rule turns false only when every column left already holds its
  new value. There is no RETURNING: the driver's row count (CLIENT_FOUND_ROWS, which SQLAlchemy
  always sets) is 1 per inserted row, 2 per updated one and 1 per unchanged one, so the rows
  written are `count - rows + new`.
- The sync lock: `GET_LOCK`, a named lock that dies with its session (server.py's SessionLock).
- The request budget: a row per bucket, advanced by an UPDATE whose row lock lasts until the
  slot is read back and committed (server.py's RowSlotStore).
- Table creation takes `GET_LOCK` too: MySQL's DDL commits at once, so no transaction lock
  keeps two processes from creating the same table.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, Table, case, event, inspect, text
from sqlalchemy.dialects import mysql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.schema import CreateColumn

from ...models.base import KeyText, ZonelessDateTime
from ..rules import NOT_COMPARED
from .base import Dialect
from .server import RowSlotStore, SessionLock, qualified_name

# MySQL's error numbers as the SQLSTATE classes that warehouse/transient.py and the warehouse's
# messages go by (the drivers give the number; the SQLSTATE MySQL documents is often HY000).
SQLSTATES = {
    1213: "40001",  # deadlock: the transaction was rolled back; run it again
    1205: "40001",  # lock wait timeout: the same
    1927: "57P01",  # MariaDB: the connection was killed
    1053: "57P01",  # the server is shutting down
    0: "08003",  # PyMySQL: the connection was closed under the cursor (a killed session, seen on the next use)
    2006: "08006",  # the server has gone away
    2013: "08006",  # lost the connection during a query
    4031: "08006",  # the server closed an idle connection
    2002: "08001",  # cannot connect (socket)
    2003: "08001",  # cannot connect (TCP)
    2005: "08001",  # unknown host
    1045: "28000",  # access denied
    1049: "3D000",  # no such database
}
MAX_COMMENT = 1024  # MySQL's limit on a column comment, in characters; some Stripe fields say more


def mysql_sqlstate(driver_error: BaseException) -> str | None:
    """The SQLSTATE of a MySQL driver's error: from its number (the args are number and text),
    else the server's own where the driver passes it on (PyMySQL 1.1.1 and later)."""
    args = getattr(driver_error, "args", ())
    known = SQLSTATES.get(args[0]) if args and isinstance(args[0], int) else None
    return known or getattr(driver_error, "sqlstate", None)


class MySQL(Dialect):
    name = "mysql"
    kind = "mysql"
    extra = "mysql"
    driver = "mysql+pymysql"
    schemas = False
    slots_in_table = True
    writes_in_background = True
    driver_modules = ("pymysql", "MySQLdb", "mysql.connector", "mariadb")

    def sqlstate(self, driver_error: BaseException) -> str | None:
        return mysql_sqlstate(driver_error)  # MySQL's drivers carry an error number

    def lost_without_sqlstate(self, driver_error: BaseException) -> bool:
        return False  # its drivers number every error, and SQLSTATES has the lost connections among them

    def insert(self, table: Table) -> Any:
        return _DuplicateKeyInsert(mysql.insert(table))

    def upsert(self, connection: Connection, statement: Any, rows: list[dict], new: int) -> int:
        return connection.execute(statement, rows).rowcount - len(rows) + new

    def configure(self, engine: Engine) -> None:
        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            # UTC, whatever the server's zone, for NOW() and anything else that reads it.
            cursor.execute("SET time_zone = '+00:00'")
            # A value that does not fit is refused, never truncated, whatever the server's default.
            cursor.execute("SET SESSION sql_mode = CONCAT_WS(',', NULLIF(@@SESSION.sql_mode, ''), 'STRICT_ALL_TABLES')")
            cursor.close()

    @contextmanager
    def creating_tables(self, connection: Connection, schema: str | None) -> Iterator[None]:
        name = _lock_name(connection.engine, "ddl")
        connection.execute(text("SELECT GET_LOCK(:name, 60)"), {"name": name})
        try:
            yield
        finally:
            # A lost session has taken its lock with it, and releasing on it would raise in place
            # of the loss: an error that is not retried, instead of one that is.
            if not connection.invalidated:
                connection.execute(text("SELECT RELEASE_LOCK(:name)"), {"name": name})

    def rekey(self, connection: Connection, table: Table, schema: str | None) -> None:
        # In place; 0.6 made `_account` TEXT, which a key cannot be without a length.
        name = qualified_name(connection, table)
        key_type = table.c._account.type.compile(dialect=connection.dialect)
        connection.exec_driver_sql(f"UPDATE {name} SET _account = '' WHERE _account IS NULL")
        connection.exec_driver_sql(
            f"ALTER TABLE {name} MODIFY _account {key_type} NOT NULL DEFAULT '', DROP PRIMARY KEY, ADD PRIMARY KEY (id, _account)"
        )
        existing = {index["name"] for index in inspect(connection).get_indexes(table.name, schema=schema)}
        for index in table.indexes:  # a child table's parent index gains the account
            if index.name in existing:
                connection.exec_driver_sql(f"DROP INDEX `{index.name}` ON {name}")
            index.create(connection)

    def session_lock(self, engine: Engine, name: str) -> NamedLock:
        return NamedLock(engine, name)

    def slot_store(self, engine: Engine, retrying: Callable[[Callable[[], float]], float]) -> MySQLSlotStore:
        return MySQLSlotStore(engine, retrying)


class MariaDB(MySQL):
    """MariaDB under its own name, so that its assets show its icon; the SQL is MySQL's."""

    name = "mariadb"
    kind = "mariadb"
    driver = "mariadb+pymysql"


class _DuplicateKeyInsert:
    """MySQL's INSERT … ON DUPLICATE KEY UPDATE behind the `on_conflict_do_update` call that the
    rest of the package makes (the conflict is on the primary key, the only unique key here)."""

    def __init__(self, insert: Any):
        self._insert = insert
        self.table = insert.table
        self.excluded = insert.inserted

    def values(self, *args: Any, **kwargs: Any) -> _DuplicateKeyInsert:
        return _DuplicateKeyInsert(self._insert.values(*args, **kwargs))

    def on_conflict_do_update(self, index_elements: list, set_: dict[str, Any], where: Any = None) -> Any:
        # The order matters when there is a rule: see the module's docstring.
        assignments = sorted(set_.items(), key=lambda item: item[0] not in NOT_COMPARED)
        if where is not None:
            assignments = [(name, case((where, value), else_=self.table.c[name])) for name, value in assignments]
        return self._insert.on_duplicate_key_update(assignments)

    def on_conflict_do_nothing(self) -> Any:
        key = next(iter(self.table.primary_key.columns))
        return self._insert.on_duplicate_key_update({key.name: self.table.c[key.name]})  # the row as it is


def _lock_name(engine: Engine, name: str) -> str:
    # GET_LOCK's names are server-wide and at most 64 characters: the database's name keeps two
    # warehouses on one server apart.
    return "stripe_pipeline." + hashlib.sha256(f"{engine.url.database}.{name}".encode()).hexdigest()[:40]


class NamedLock(SessionLock):
    """`GET_LOCK` on a session of its own (see SessionLock)."""

    def __init__(self, engine: Engine, name: str):
        super().__init__(engine, name)
        self._key = _lock_name(engine, name)

    def _lock(self, connection: Connection) -> bool:
        return connection.scalar(text("SELECT GET_LOCK(:name, 0)"), {"name": self._key}) == 1

    def _unlock(self, connection: Connection) -> None:
        connection.execute(text("SELECT RELEASE_LOCK(:name)"), {"name": self._key})


class MySQLSlotStore(RowSlotStore):
    """No RETURNING: the UPDATE's row lock lasts until the COMMIT, so the slot read back in
    between is the one this reservation set."""

    def _create(self, cursor: Any, table: str, bucket: str) -> None:
        cursor.execute(f"INSERT INTO {table} (bucket, next_slot) VALUES (%s, 0) ON DUPLICATE KEY UPDATE bucket = bucket", (bucket,))

    def _advance(self, cursor: Any, table: str, bucket: str, not_before: float, interval: float) -> float:
        cursor.execute("BEGIN")
        try:
            cursor.execute(f"UPDATE {table} SET next_slot = GREATEST(next_slot, %s) + %s WHERE bucket = %s", (not_before, interval, bucket))
            cursor.execute(f"SELECT next_slot - %s FROM {table} WHERE bucket = %s", (interval, bucket))
            slot = cursor.fetchone()[0]
            cursor.execute("COMMIT")
        except BaseException:
            try:
                cursor.execute("ROLLBACK")
            except Exception:  # noqa: BLE001 - a lost session rolled back with it; its error is the one to raise
                pass
            raise
        return slot


@compiles(KeyText, "mysql")
@compiles(KeyText, "mariadb")
def _key_text(type_: KeyText, compiler: Any, **kw: Any) -> str:
    """Keys and indexed text (models/base.py). MySQL indexes no TEXT without a length; 255
    characters of utf8mb4 are 1,020 bytes, so even the three-column key of _stripe_sync_errors
    fits InnoDB's 3,072."""
    return "VARCHAR(255)"


@compiles(ZonelessDateTime, "mysql")
@compiles(ZonelessDateTime, "mariadb")
def _microseconds(type_: ZonelessDateTime, compiler: Any, **kw: Any) -> str:
    """Timestamps to the microsecond, as Stripe's and the sync's own are compared (DATETIME alone keeps seconds)."""
    return "DATETIME(6)"


@event.listens_for(Table, "before_create")
def _case_sensitive(table: Table, connection: Connection, **kw: Any) -> None:
    """Every table in utf8mb4 with a binary collation: MySQL's and MariaDB's default collations
    ignore case, so `cus_a` would collide with `cus_A`, and a change of case alone would count as
    no change."""
    if connection.dialect.name in ("mysql", "mariadb"):
        for prefix in ("mysql", "mariadb"):
            table.dialect_kwargs[f"{prefix}_charset"] = "utf8mb4"
            table.dialect_kwargs[f"{prefix}_collate"] = "utf8mb4_bin"


@compiles(CreateColumn, "mysql")
@compiles(CreateColumn, "mariadb")
def _create_column(create: CreateColumn, compiler: Any, **kw: Any) -> str:
    """Column comments cut to MySQL's limit: the whole text stays in the other databases and in
    Dagster's column schema."""
    column, comment = create.element, create.element.comment
    if comment and len(comment) > MAX_COMMENT:
        column = column._copy()
        column.comment = comment[: MAX_COMMENT - 1] + "…"
        create = CreateColumn(column)
    return compiler.visit_create_column(create, **kw)
