"""Tables made by an older version gain the columns a newer catalogue has.

A `stripe` upgrade adds fields; the tables users already have must gain their columns, or
every write would fail. Columns are only ever added: nothing a user's SQL reads disappears.
"""

from __future__ import annotations

from sqlalchemy import Connection, Table
from sqlalchemy.schema import SetColumnComment

from .dialects import dialect_of


def add_missing_columns(connection: Connection, tables: list[Table]) -> list[str]:
    """Add each table's columns that the database's table lacks; returns them as `table.column`."""
    dialect = dialect_of(connection.dialect.name)
    schema = connection.get_execution_options().get("schema_translate_map", {}).get(None)
    added = []
    for table in tables:
        existing = dialect.existing_columns(connection, table.name, schema)
        for column in table.columns:
            if column.name in existing:
                continue
            quote = connection.dialect.identifier_preparer.quote
            name = f"{quote(schema)}.{quote(table.name)}" if schema else quote(table.name)
            sql_type = column.type.compile(dialect=connection.dialect)
            connection.exec_driver_sql(f"ALTER TABLE {name} ADD COLUMN {quote(column.name)} {sql_type}")
            if column.comment and dialect.comments:
                connection.execute(SetColumnComment(column))
            added.append(f"{table.name}.{column.name}")
    return added
