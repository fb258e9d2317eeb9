"""How one Stripe object becomes a row: pure functions, planned once per table.

The default `set_default` maps each column from the top-level field of the same name:
timestamps become UTC datetimes, expanded references their ID, nested values JSON. A value of
the wrong type for its column (an API version that changed a field, a proxy's junk) is drift:
the column gets NULL, `_raw` keeps the value, and the count per field is reported.
"""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import DateTime, Table

from ...catalog import ObjectType
from ...models import META_COLUMNS

# What a value must be to go into a column of each Python type.
FITS: dict[type, tuple[type, ...]] = {int: (int,), float: (float, int), bool: (bool,), str: (str,), datetime: (datetime,)}


@dataclass(frozen=True)
class MappingPlan:
    fields: tuple[str, ...]  # Stripe's top-level fields that have a column of the same name
    timestamps: tuple[str, ...]  # of those, Unix times that become UTC datetimes
    references: tuple[str, ...]  # of those, expandable references: an ID, or the object when expanded
    typed: tuple[tuple[str, tuple[type, ...]], ...]  # scalar columns and the Python types that fit them
    columns: tuple[str, ...]
    column_set: frozenset[str]


@functools.cache
def mapping_plan(table: Table) -> MappingPlan:
    """Decided once per table from the column types, so the per-object work is a dict walk."""
    fields = [column for column in table.columns if column.name not in META_COLUMNS]
    names = tuple(column.name for column in table.columns)
    return MappingPlan(
        fields=tuple(column.name for column in fields),
        timestamps=tuple(column.name for column in fields if isinstance(column.type, DateTime)),
        references=tuple(column.name for column in fields if column.type.python_type is str),
        typed=tuple((column.name, FITS[column.type.python_type]) for column in fields if column.type.python_type in FITS),
        columns=names,
        column_set=frozenset(names),
    )


def map_fields(plan: MappingPlan, stripe_data: dict, drifted: Counter) -> dict[str, Any]:
    """The row's ID and field columns; values that do not fit their column are NULL and counted in `drifted`."""
    row: dict[str, Any] = {"id": stripe_data["id"]}
    get = stripe_data.get
    for name in plan.fields:
        row[name] = get(name)
    for name in plan.timestamps:
        value = row[name]
        if isinstance(value, (int, float)):
            row[name] = datetime.fromtimestamp(value, UTC)
    for name in plan.references:
        value = row[name]
        if isinstance(value, dict):
            row[name] = value.get("id")
    for name, fits in plan.typed:
        value = row[name]
        if value is not None and type(value) not in fits:
            row[name] = None
            drifted[name] += 1
    return row


def full_row(plan: MappingPlan, row: dict) -> dict:
    """Every column present: a multi-row INSERT needs the same keys in every row."""
    return row if len(row) == len(plan.columns) else dict.fromkeys(plan.columns) | row


def redacted(stripe_data: dict, fields: tuple[str, ...]) -> dict:
    """The object with its secret fields emptied; the object itself when it has none."""
    if not fields or not any(name in stripe_data for name in fields):
        return stripe_data
    return {**stripe_data, **{name: None for name in fields if name in stripe_data}}


def json_copy(value: Any) -> Any:
    # JSON holds only dicts, lists and immutable scalars: a few times faster than copy.deepcopy.
    if isinstance(value, dict):
        return {key: json_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [json_copy(item) for item in value]
    return value


def storable(value: Any) -> Any:
    """JSON without what PostgreSQL's JSONB cannot hold (NUL characters), for the errors table."""
    return orjson.loads(orjson.dumps(value).replace(b"\\u0000", b""))


def reference_targets(stripe_type: ObjectType | None) -> tuple[tuple[str, str], ...]:
    """(column, object name) of each expandable reference whose type the catalogue names."""
    if stripe_type is None:
        return ()
    return tuple((f.name, f.detail) for f in stripe_type.fields if f.kind == "reference" and isinstance(f.detail, str))
