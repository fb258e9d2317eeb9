"""One module per warehouse dialect: what the sync needs of a database that SQLAlchemy does not
make the same everywhere (base.py says what, and how to add one)."""

from __future__ import annotations

from .base import Dialect
from .bigquery import BigQuery
from .duckdb import DuckDB
from .mysql import MariaDB, MySQL
from .postgresql import PostgreSQL
from .snowflake import Snowflake
from .sqlite import SQLite

DIALECTS: dict[str, Dialect] = {
    dialect.name: dialect for dialect in (SQLite(), PostgreSQL(), DuckDB(), MySQL(), MariaDB(), BigQuery(), Snowflake())
}


def dialect_of(name: str) -> Dialect:
    """The dialect of a SQLAlchemy backend name (KeyError for one we do not support)."""
    return DIALECTS[name]


__all__ = ["DIALECTS", "Dialect", "dialect_of"]
