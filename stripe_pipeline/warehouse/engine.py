"""Engines that behave the same on every supported warehouse.

SQLite is the embedded default and Dagster writes to it from several processes at once, so
every SQLite transaction takes the write lock up front (BEGIN IMMEDIATE) and waits for it
(busy timeout) instead of failing with "database is locked" halfway through a flush.
"""

from __future__ import annotations

from pathlib import Path

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from .. import policies, settings

SUPPORTED_DIALECTS = ("sqlite", "postgresql")
SQLITE_BUSY_TIMEOUT_MS = policies.SQLITE_BUSY_TIMEOUT_MS


class WarehouseError(RuntimeError):
    """The warehouse cannot be used; the message names it (without its password) and why.
    `refused_row`: the database refused a value of a row (a type it does not fit), not the write."""

    def __init__(self, message: str, *, refused_row: bool = False):
        super().__init__(message)
        self.refused_row = refused_row


def sidecar_dir(database: str) -> Path:
    """Where a SQLite warehouse keeps the sync's lock files and the request budget: one folder
    beside the database (`stripe_warehouse.db.stripe_pipeline/`), made when first needed."""
    folder = Path(f"{database}.stripe_pipeline")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def safe_url(url: str) -> str:
    """The URL as it may appear in logs and errors: the password masked."""
    return make_url(url).render_as_string(hide_password=True)


def _json_dumps(value) -> str:
    # orjson: JSON columns are most of a row's cost to write.
    return orjson.dumps(value).decode()


def create_warehouse_engine(url: str, schema: str | None = None) -> Engine:
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        # psycopg (v3) is the driver we ship; a bare postgresql:// URL would ask for psycopg2.
        parsed = parsed.set(drivername="postgresql+psycopg")
    dialect = parsed.get_backend_name()
    if dialect not in SUPPORTED_DIALECTS:
        raise WarehouseError(f"Unsupported warehouse {safe_url(url)}: use a SQLite or PostgreSQL URL in WAREHOUSE_URL.")
    schema = settings.warehouse_schema(dialect, schema)
    engine = create_engine(parsed, pool_pre_ping=True, json_serializer=_json_dumps, json_deserializer=orjson.loads)
    if dialect == "sqlite":
        _make_sqlite_concurrent(engine)
    # Models carry no schema; the engine puts them in the configured one.
    return engine.execution_options(schema_translate_map={None: schema}) if schema else engine


def _make_sqlite_concurrent(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Hand transaction control to SQLAlchemy's "begin" event below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")
