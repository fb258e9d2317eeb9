"""The warehouse as the sync core sees it: tables that exist, upserts, counts."""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Table, func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.schema import CreateSchema

from .. import settings
from ..models import Base
from .engine import WarehouseError, create_warehouse_engine, safe_url
from .upsert import UpsertResult, upsert_rows

# Any constant works; it only has to be the same in every process that creates tables.
_DDL_LOCK_KEY = zlib.crc32(b"stripe_pipeline.ddl")


class Warehouse:
    """A SQLAlchemy engine plus the few operations the sync needs.

    Table creation is safe when many Dagster processes start at once: PostgreSQL serialises
    it with an advisory lock, SQLite with its write lock.
    """

    def __init__(self, url: str | None = None, schema: str | None = None):
        self.url = settings.warehouse_url(url)
        self.engine = create_warehouse_engine(self.url, schema)
        self.dialect = self.engine.dialect.name
        self.schema = settings.warehouse_schema(self.dialect, schema)
        self._ready: set[str] = set()

    def __repr__(self) -> str:
        return f"Warehouse({safe_url(self.url)!r})"

    def qualified_name(self, table: Table) -> str:
        return f"{self.schema}.{table.name}" if self.schema else table.name

    def ensure_tables(self, tables: Iterable[Table]) -> None:
        missing = [table for table in tables if table.name not in self._ready]
        if not missing:
            return
        with self._connect("create tables") as connection:
            if self.dialect == "postgresql":
                connection.execute(select(func.pg_advisory_xact_lock(_DDL_LOCK_KEY)))
                connection.execute(CreateSchema(self.schema, if_not_exists=True))
            Base.metadata.create_all(connection, tables=missing)
        self._ready.update(table.name for table in missing)

    def upsert(self, table: Table, rows: list[dict]) -> UpsertResult:
        if not rows:
            return UpsertResult()
        self.ensure_tables([table])
        with self._connect(f"write {table.name}") as connection:
            return upsert_rows(connection, table, rows)

    def count(self, table: Table) -> int:
        self.ensure_tables([table])
        with self._connect(f"count {table.name}") as connection:
            return connection.scalar(select(func.count()).select_from(table))

    def ping(self) -> None:
        with self._connect("connect") as connection:
            connection.execute(text("SELECT 1"))

    @contextmanager
    def _connect(self, doing: str) -> Iterator[Connection]:
        """A transaction; a database that cannot be reached becomes a WarehouseError that says so."""
        try:
            with self.engine.begin() as connection:
                yield connection
        except OperationalError as error:
            reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
            raise WarehouseError(
                f"Cannot reach the warehouse {safe_url(self.url)} to {doing}: {reason}. "
                "Check WAREHOUSE_URL and that the database is running."
            ) from error
