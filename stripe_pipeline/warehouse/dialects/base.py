"""What the sync needs of a warehouse that SQLAlchemy does not make the same everywhere.

A dialect's module subclasses `Dialect` and overrides what its database does its own way; the
defaults suit an embedded database that one machine writes to (the sync lock and the request
budget's slots are files beside it). What a new dialect must provide:

- `insert(table)`: an INSERT with `on_conflict_do_update(index_elements, set_, where)` and
  `excluded` (SQLAlchemy's PostgreSQL and SQLite inserts are these; mysql.py shows how a
  database with another upsert, ON DUPLICATE KEY UPDATE, takes the same call), and `upsert`,
  which runs it and counts the rows written (RETURNING, or the driver's row count);
- JSON columns and timestamps with a time zone, through the models' types (models/base.py);
- for a database that several machines write to, `session_lock` (a lock that dies with its
  connection) and `slot_store` (a row advanced under its row lock): server.py has both, less
  their SQL, and `creating_tables`, so that processes creating the same tables take turns;
- its drivers' errors read (`driver_modules`, `sqlstate`, `lost_without_sqlstate`: transient.py
  retries by them), and the column types it needs its own of, compiled in its module (mysql.py
  compiles the models' KeyText and ZonelessDateTime).

Adding a warehouse is its module, its line in DIALECTS (__init__.py), an extra for its driver
and its tests. The Warehouse and the state store hold their Dialect (Database.dialect) and pass
it down; nothing else looks one up by name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from sqlalchemy import URL, Column, Connection, Engine, MetaData, Table, inspect
from sqlalchemy.schema import CreateSchema, SetColumnComment

from ..rules import UpsertResult

if TYPE_CHECKING:
    from ...settings import Settings


def sidecar_dir(database: str) -> Path:
    """Where a SQLite warehouse keeps the sync's lock files and the request budget: one folder
    beside the database (`stripe_warehouse.db.stripe_pipeline/`), made when first needed."""
    folder = Path(f"{database}.stripe_pipeline")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class SlotStore(Protocol):
    """What the request budget (stripe_api/budget.py) asks of a store of its slots, said here
    by its shape so that the warehouse layer does not import the API client's."""

    def reserve(self, bucket: str, not_before: float, interval: float) -> float: ...


class HeldLock:
    """A lock this process holds; `check()` before each write (see Warehouse._run). A
    dialect's session lock (Dialect.session_lock) also has `try_acquire()` and `release()`."""

    def check(self) -> None:
        pass  # a file lock cannot be lost while its process lives

    def try_acquire(self) -> bool:
        return True

    def release(self) -> None:
        pass


class LockLost(RuntimeError):
    """The sync's lock went with its connection, and another run holds it now."""


class Dialect:
    name: ClassVar[str]  # SQLAlchemy's backend name, as in `engine.dialect.name`
    kind: ClassVar[str]  # Dagster's kind tag: the icon its assets show
    driver: ClassVar[str | None] = None  # the driver we ship, for a URL that names none
    extra: ClassVar[str | None] = None  # the package extra that installs the driver, if it is not a dependency
    files: ClassVar[bool] = False  # an embedded database: its file is made by the first connection to it
    schemas: ClassVar[bool] = True  # tables go in WAREHOUSE_SCHEMA (default `stripe`), else where the URL points
    comments: ClassVar[bool] = False  # column comments, as the models describe each field
    # Whether the sync's own state (checkpoints, locks, the budget) may live beside the tables;
    # False for a warehouse where a statement costs seconds and money: it requires STATE_URL.
    keeps_state: ClassVar[bool] = True
    # The fewest rows a flush writes, whatever the action's flush_every: a warehouse whose every
    # statement is a job (BigQuery) wants few large ones.
    least_flush: ClassVar[int] = 0
    json_codec: ClassVar[bool] = True  # its SQLAlchemy dialect takes json_serializer (orjson: engine.py)
    slots_in_table: ClassVar[bool] = False  # slot_store() keeps the budget in the `_stripe_rate_budget` table
    # A due flush writes on a thread of its own while the listing reads and stages the next rows
    # (actions/sync/writer.py): a server, whose pool gives each thread a connection. An embedded
    # database's writes would only contend for its one writer.
    writes_in_background: ClassVar[bool] = False
    # Where its drivers' exceptions are defined (their module's name starts so): how an error
    # is traced back to the dialect that classifies it (transient.py).
    driver_modules: ClassVar[tuple[str, ...]] = ()

    def sqlstate(self, driver_error: BaseException) -> str | None:
        """The SQLSTATE of a driver's error, if it tells one (psycopg's carry it as is)."""
        return getattr(driver_error, "sqlstate", None)

    def lost_without_sqlstate(self, driver_error: BaseException) -> bool:
        """Whether an error without a SQLSTATE means the connection went: psycopg raises
        OperationalError without one when the socket closes mid-statement."""
        return type(driver_error).__name__ == "OperationalError"

    def schema(self, configured: str | None) -> str | None:
        return (configured or "stripe") if self.schemas else None

    def engine_options(self) -> dict[str, Any]:
        """create_engine options this database needs (a pool class, say)."""
        return {}

    def connection_url(self, url: URL) -> tuple[URL, dict[str, Any]]:
        """The URL to give SQLAlchemy, and connect_args for its driver: parameters taken out of a
        URL whose driver refuses them there (Snowflake's host), or a client made here (BigQuery's,
        for an emulator)."""
        return url, {}

    def credentials(self, config: Settings) -> dict[str, Any]:
        """connect_args for the driver from the settings' secrets (Snowflake's key pair or token):
        kept out of WAREHOUSE_URL, which appears in logs with only its password masked."""
        return {}

    def configure(self, engine: Engine) -> None:
        """Engine setup this database needs (connection pragmas, transaction modes)."""

    @contextmanager
    def creating_tables(self, connection: Connection, schema: str | None) -> Iterator[None]:
        """Around the creation of tables in `schema` (made here if it is missing). Several
        processes may create the same tables at once: an embedded database's write lock makes
        them take turns; a server database takes a lock of its own."""
        if schema:
            connection.execute(CreateSchema(schema, if_not_exists=True))
        yield

    def create_tables(self, connection: Connection, metadata: MetaData, tables: list[Table]) -> None:
        """Create those of `tables` that are missing (inside `creating_tables`)."""
        metadata.create_all(connection, tables=tables)

    def existing_columns(self, connection: Connection, table: str, schema: str | None) -> set[str]:
        """The columns the database's table has (to add those a newer catalogue brings)."""
        return set(self.column_types(connection, table, schema))

    def column_types(self, connection: Connection, table: str, schema: str | None) -> dict[str, str]:
        """The database's table's columns, in order, with their SQL types as the database writes them."""
        return {
            column["name"]: column["type"].compile(dialect=connection.dialect)
            for column in inspect(connection).get_columns(table, schema=schema)
        }

    def add_column(self, connection: Connection, table: Table, column: Column, schema: str | None) -> None:
        """Add the model's `column` to the database's `table`, which lacks it (upgrades.py)."""
        quote = connection.dialect.identifier_preparer.quote
        name = f"{quote(schema)}.{quote(table.name)}" if schema else quote(table.name)
        sql_type = column.type.compile(dialect=connection.dialect)
        connection.exec_driver_sql(f"ALTER TABLE {name} ADD COLUMN {quote(column.name)} {sql_type}")
        if column.comment and self.comments:
            connection.execute(SetColumnComment(column))

    def primary_key(self, connection: Connection, table: str, schema: str | None) -> list[str]:
        """The columns of the database's table's primary key, in order."""
        return list(inspect(connection).get_pk_constraint(table, schema=schema)["constrained_columns"])

    def rekey(self, connection: Connection, table: Table, schema: str | None) -> None:
        """Give a table made by 0.6 or earlier, keyed by `id`, the key (id, _account), its
        platform rows `_account` '' (warehouse/upgrades.py). By default the table is copied into
        a new one: SQLite and DuckDB cannot change a primary key in place. Columns the model
        lacks (a user's own, a field an older catalogue had) are copied with their type."""
        quote = connection.dialect.identifier_preparer.quote
        qualified = (lambda name: f"{quote(schema)}.{quote(name)}") if schema else quote
        old = f"{table.name}_before_0_7"
        types = self.column_types(connection, table.name, schema)
        for index in table.indexes:  # index names are the schema's: the new table makes them again
            connection.exec_driver_sql(f"DROP INDEX IF EXISTS {qualified(str(index.name))}")
        connection.exec_driver_sql(f"ALTER TABLE {qualified(table.name)} RENAME TO {quote(old)}")
        table.create(connection)
        for name, sql_type in types.items():
            if name not in table.c:
                connection.exec_driver_sql(f"ALTER TABLE {qualified(table.name)} ADD COLUMN {quote(name)} {sql_type}")
        columns = ", ".join(quote(name) for name in types)
        values = ", ".join("COALESCE(_account, '')" if name == "_account" else quote(name) for name in types)
        connection.exec_driver_sql(f"INSERT INTO {qualified(table.name)} ({columns}) SELECT {values} FROM {qualified(old)}")
        connection.exec_driver_sql(f"DROP TABLE {qualified(old)}")

    def json_value(self, column: Any, *path: str, kind: str = "string") -> Any:
        """The value at `path` in a JSON column, as `kind`: string, integer, boolean or json."""
        element = column[path if len(path) > 1 else path[0]]
        return element if kind == "json" else getattr(element, f"as_{kind}")()

    def insert(self, table: Table) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must say how it upserts")

    def upsert(self, connection: Connection, statement: Any, rows: list[dict], new: int) -> int:
        """Run an upsert built from `insert(table)` for each of `rows`; how many of them it
        inserted or replaced (the others were left as they were). `new`: how many of the rows'
        keys the table lacked, for a database that counts only what its driver reports."""
        return len(connection.scalars(statement.returning(statement.table.c.id), rows).all())

    def fast_upsert(self, connection: Connection, table: Table, rows: list[dict]) -> UpsertResult | None:
        """Write a flush (rows sorted by key) faster than the portable statement; None: take that."""
        return None

    def mark_deleted(self, connection: Connection, table: Table, tombstones: list[dict]) -> int | None:
        """Flag the tombstones' rows deleted its own faster way (upsert.py's rules), returning how
        many it flagged; None: upsert.py's UPDATE for each."""
        return None

    def replace_table(self, connection: Connection, name: str, schema: str | None, frame: Any) -> None:
        """Replace the table `name` with a pandas frame's rows (the metric tables, rebuilt whole)."""
        frame.to_sql(name, connection, schema=schema, if_exists="replace", index=False, chunksize=10_000)

    def session_lock(self, engine: Engine, name: str) -> Any | None:
        """A lock held on a connection of its own (try_acquire, check, release: see locks.py);
        None: a file lock beside the database."""
        return None

    def slot_store(self, engine: Engine, retrying: Callable[[Callable[[], float]], float]) -> SlotStore | None:
        """Where the request budget's slots are kept; None: a file beside the database."""
        return None
