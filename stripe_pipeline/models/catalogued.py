"""A declarative model for every catalogued table, built from the catalogue's fields.

Column types follow each field's kind in the package's annotations; column comments are the
package's field documentation (COMMENT ON COLUMN on PostgreSQL, and Dagster's column schema).
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Callable
from typing import Any

from sqlalchemy import BigInteger, Boolean, Column, Double, Index, Table, Text
from sqlalchemy.types import TypeEngine

from ..catalog import CHILD_TABLES, TYPES, ChildTable, Field, ObjectType, declarations
from .base import TABLE_OPTIONS, Base, JSONType, KeyType, StripeModel, TimestampType, meta_columns

_SQL_TYPES: dict[str, Callable[[], TypeEngine[Any]]] = {
    "string": Text,
    "enum": Text,
    "reference": Text,  # the referenced object's ID, expanded or not
    "decimal": Text,  # a decimal string in the API; text keeps its precision
    "integer": BigInteger,  # amounts in minor units overflow INTEGER for some currencies
    "number": Double,
    "boolean": Boolean,
    "timestamp": lambda: TimestampType,
    "json": lambda: JSONType,
    "list": lambda: JSONType,
}
# `object` is the type's name on every row; `deleted` only marks a deletion stub (`_deleted_at`).
_SKIPPED = {"id", "object", "deleted"}
# Attribute names SQLAlchemy's declarative base keeps for itself.
_RESERVED = {"metadata", "registry"}


def attribute_name(column: str) -> str:
    return column + "_" if column in _RESERVED or keyword.iskeyword(column) else column


def _column(field: Field, key: bool = False) -> Column:
    sql_type = KeyType if key else _SQL_TYPES[field.kind]()
    return Column(field.name, sql_type, comment=_described(field) or None)


_UNIX_SECONDS = re.compile(r"\s*(Measured in seconds since the Unix epoch|in epoch seconds)\b\.?", re.I)


def _described(field: Field) -> str:
    """The package's field documentation; a timestamp's says what the column holds, not what
    the API sends (Unix seconds)."""
    if field.kind != "timestamp":
        return field.doc
    doc = _UNIX_SECONDS.sub("", field.doc).strip()
    return f"{doc}{'' if doc.endswith('.') else '.'} A UTC timestamp." if doc else "A UTC timestamp."


def _model(class_name: str, object_type: ObjectType, parent_column: str | None = None) -> type[StripeModel]:
    fields = {f.name: f for f in object_type.fields if f.name not in _SKIPPED and f.name not in object_type.redacted_fields}
    for name, kind in declarations.LEGACY_COLUMNS.get(object_type.object_name, {}).items():
        fields.setdefault(name, Field(name, kind, True, None, "Sent by older API versions only."))
    if parent_column is not None and parent_column not in fields:
        fields[parent_column] = Field(
            parent_column, "reference", True, None, f"ID of the {parent_column.replace('_', ' ')} this row belongs to."
        )
    columns = [_column(field, key=name == parent_column) for name, field in sorted(fields.items())]
    # Child rows are read by their parent's ID and account when a parent's child set is replaced,
    # and joined to their parent so (the metrics). With only the parent's ID indexed, PostgreSQL
    # paired that index with a scan of the whole primary key for `_account = …` on a table filled
    # since its statistics were last taken: the metrics' first read of 2,000 subscriptions' lines
    # took 74 s that way, 1.0 s with this index.
    indexes = [Index(f"ix_{object_type.table}_{parent_column}", parent_column, "_account")] if parent_column else []
    table = Table(object_type.table, Base.metadata, *meta_columns(), *columns, *indexes, **TABLE_OPTIONS)
    attributes: dict = {"__table__": table, "__tablename__": table.name, "__doc__": object_type.doc, "__stripe_type__": object_type}
    for name in _RESERVED & fields.keys():
        attributes[attribute_name(name)] = table.c[name]
    return type(class_name, (StripeModel,), attributes)


def _singular_camel(table: str) -> str:
    words = table.split("_")
    last = words[-1]
    words[-1] = last[:-3] + "y" if last.endswith("ies") else re.sub(r"(?<=[a-z])s$", "", last)
    return "".join(word.capitalize() for word in words)


def _child_model(child: ChildTable) -> type[StripeModel]:
    return _model("Stripe" + _singular_camel(child.table), child.child, parent_column=child.parent_column)


MODELS: dict[str, type[StripeModel]] = {
    **{t.table: _model("Stripe" + t.class_name, t) for t in TYPES.values()},
    **{child.table: _child_model(child) for child in CHILD_TABLES.values()},
}
"""Every table's model, by table name."""
