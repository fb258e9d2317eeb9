"""Every Stripe object type we sync, as the installed `stripe` package describes it.

`catalog.json` holds what the package says (data written by `python tools/catalog/generate.py`
when the pin moves); `declarations.py` what it cannot say. Models, actions, assets, the ID job
and the emulator are all built from `TYPES` and `CHILD_TABLES` below.

The names made from `catalog.json` (`CATALOGUE`, `API_VERSION`, `EVENT_NAMES`, `TYPES`,
`CHILD_TABLES`, `LEFT_OUT`) are read on first use, once: importing the dataclasses (the
Stripe client does, for its endpoints) costs no JSON.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import declarations

if TYPE_CHECKING:
    CATALOGUE: dict[str, Any]
    API_VERSION: str
    EVENT_NAMES: tuple[str, ...]
    TYPES: dict[str, ObjectType]
    """Top-level types by object name."""
    CHILD_TABLES: dict[str, ChildTable]
    """Child tables by table name."""
    LEFT_OUT: dict[str, str]
    """Left-out types and why."""

# A list's paging parameters, besides its filters.
PAGING = frozenset({"limit", "starting_after", "ending_before", "expand"})


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # string, integer, number, boolean, decimal, timestamp, enum, reference, json, list
    nullable: bool
    detail: tuple | str | None  # an enum's values, a reference's object name
    doc: str


@dataclass(frozen=True)
class ObjectType:
    """One Stripe object type and everything the sync needs to know about it."""

    object_name: str
    class_path: str
    doc: str
    fields: tuple[Field, ...]
    deletable: bool
    path: str | None  # the list path; None for types only listed under a parent
    required_list_params: tuple[str, ...] = ()
    list_accepts: tuple[str, ...] = ()  # every parameter the list endpoint takes, paging included
    table: str = ""
    area: str = ""
    id_prefixes: tuple[str, ...] = ()
    list_params: dict = field(default_factory=dict)
    redacted_fields: tuple[str, ...] = ()
    list_ids_filter: str | None = None

    @property
    def list_filters(self) -> tuple[str, ...]:
        """The list endpoint's parameters besides paging."""
        return tuple(name for name in self.list_accepts if name not in PAGING)

    @property
    def lists_by_created(self) -> bool:
        """Whether its list takes `created` filters on a `created` field, which the parallel
        backfill needs (invoice items filter `created` on their `date`: they walk by cursor)."""
        return "created" in self.list_filters and any(f.name == "created" for f in self.fields)

    @property
    def class_name(self) -> str:
        """`Refund`, `IssuingCard`: the package's class name, its namespace first."""
        namespace = self.class_path.removeprefix("stripe.").rpartition(".")[0].rpartition("._")[0]
        return _camel(namespace) + self.class_path.rpartition(".")[2]

    @cached_property
    def events(self) -> tuple[str, ...]:
        """The package's event names whose object is this type's, by their prefix."""
        return tuple(name for name in _catalogue()["events"] if _event_object(name) == self.object_name)

    @property
    def deletion_events(self) -> tuple[str, ...]:
        return tuple(name for name in self.events if name.endswith(".deleted") and name not in declarations.NOT_DELETIONS)


@dataclass(frozen=True)
class ChildTable:
    """A list that exists only under a parent object: its rows carry the parent's ID."""

    table: str
    parent: str  # the parent's object name
    child: ObjectType  # the rows' type (fields)
    url: str  # the list URL; `{parent}` stands for the parent's ID
    parent_param: str | None  # a list filter that takes the parent's ID, if the URL has none
    parent_column: str
    embedded: str | None  # the parent's field holding the first page, if it has one
    keyed_by_parent: bool  # the child's own ID is unique only within the parent
    parent_field: str  # the child object's field that holds the parent's ID (a fee refund's `fee`)
    accepts: tuple[str, ...] = ()  # every parameter the list takes

    @property
    def pages(self) -> bool:
        """Whether the list pages (takes `limit` and a cursor); one that does not answers whole
        (an account's capabilities), and refuses `limit`."""
        return "limit" in self.accepts

    def list_request(self, parent_id: str, after: str | None = None) -> tuple[str, dict]:
        """The path and parameters of a page of one parent's children (after the child `after`)."""
        params: dict = {self.parent_param: parent_id} if self.parent_param else {}
        if self.pages:
            params["limit"] = 100
            if after:
                params["starting_after"] = after
        return (self.url if self.parent_param else self.url.replace("{parent}", parent_id)), params


@cache
def _catalogue() -> dict[str, Any]:
    """catalog.json, its lists as the tuples that Python's literals were (fields are hashed)."""
    # Beside this module, as pyproject's package-data installs it (importlib.resources would
    # cost more to import than the file costs to read).
    return json.loads(Path(__file__).with_name("catalog.json").read_bytes(), object_hook=_tuples)


def _tuples(obj: dict) -> dict:
    return {key: _tuple(value) for key, value in obj.items()}


def _tuple(value: Any) -> Any:
    return tuple(_tuple(item) for item in value) if isinstance(value, list) else value


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[._]", name) if part)


def _area(object_name: str) -> str:
    namespace, dot, _ = object_name.partition(".")
    if dot and namespace in declarations.AREA_BY_NAMESPACE:
        return declarations.AREA_BY_NAMESPACE[namespace]
    return declarations.AREA_BY_OBJECT.get(object_name, "other")


def _event_object(event_name: str) -> str | None:
    if event_name in declarations.IGNORED_EVENTS:
        return None
    prefix = event_name.rpartition(".")[0]
    if prefix in declarations.EVENT_PREFIX_OBJECTS:
        return declarations.EVENT_PREFIX_OBJECTS[prefix]
    return prefix


def _object_type(name: str, entry: dict, **overrides) -> ObjectType:
    fields = tuple(Field(*spec) for spec in entry["fields"])
    return ObjectType(
        object_name=name,
        class_path=entry["class"],
        doc=entry["doc"],
        fields=fields,
        deletable=entry["deletable"],
        path=entry.get("path"),
        required_list_params=tuple(entry.get("required_list_params", ())),
        list_accepts=tuple(entry.get("list_params", ())),
        area=overrides.pop("area", None) or _area(name),
        id_prefixes=declarations.ID_PREFIXES.get(name, ()),
        list_params=declarations.LIST_PARAMS.get(name, {}),
        redacted_fields=declarations.REDACTED_FIELDS.get(name, ()),
        list_ids_filter=declarations.LIST_IDS_FILTERS.get(name),
        **overrides,
    )


def _union_of(*names: str) -> dict:
    """An entry whose fields are those of several types (external accounts: bank accounts or cards)."""
    merged: dict[str, tuple] = {}
    for name in names:
        for spec in _catalogue()["types"][name]["fields"]:
            merged.setdefault(spec[0], (spec[0], spec[1], True, spec[3], spec[4]))
    first = _catalogue()["types"][names[0]]
    return {**first, "fields": sorted(merged.values())}


def _table_for(name: str, path: str) -> str:
    return declarations.TABLE_NAMES.get(name) or path.removeprefix("/v1/").replace("/", "_")


@cache
def _build() -> tuple[dict[str, ObjectType], dict[str, ChildTable], dict[str, str]]:
    raw = _catalogue()["types"]
    left_out: dict[str, str] = {}
    types: dict[str, ObjectType] = {}
    for name, entry in raw.items():
        if "path" not in entry:
            continue
        if name in declarations.LEFT_OUT:
            left_out[name] = declarations.LEFT_OUT[name]
        elif not entry["required_list_params"]:
            types[name] = _object_type(name, entry, table=_table_for(name, entry["path"]))
    children: dict[str, ChildTable] = {}
    for (parent, key), spec in declarations.CHILD_TABLES.items():
        methods = {suffix: (url, child, accepts) for suffix, url, child, accepts in raw[parent].get("child_lists", ())}
        if key in methods:  # a `list_<children>` method of the parent
            url, child_name, accepts = methods[key]
            url = re.sub(r"\{\w+\}", "{parent}", url)
            param = None
            column = parent.replace(".", "_")
        else:  # a type whose list filter takes the parent's ID
            child_name, url, accepts = key, raw[key]["path"], raw[key]["list_params"]
            param = column = raw[key]["required_list_params"][0]
        entry = _union_of("bank_account", "card") if child_name == "Union" else raw[child_name]
        # A child table is in its parent's area of Stripe (an invoice's lines are billing).
        child = _object_type("external_account" if child_name == "Union" else child_name, entry, table=spec["table"], area=_area(parent))
        children[spec["table"]] = ChildTable(
            table=spec["table"],
            parent=parent,
            child=child,
            url=url,
            parent_param=param,
            parent_column=column,
            embedded=spec.get("embedded"),
            keyed_by_parent=spec.get("key") == "parent",
            parent_field=spec.get("parent_field", column),
            accepts=tuple(accepts),
        )
    return types, children, left_out


_MADE: dict[str, Any] = {
    "CATALOGUE": lambda: _catalogue(),
    "API_VERSION": lambda: _catalogue()["api_version"],
    "EVENT_NAMES": lambda: _catalogue()["events"],
    "TYPES": lambda: _build()[0],
    "CHILD_TABLES": lambda: _build()[1],
    "LEFT_OUT": lambda: _build()[2],
}


def __getattr__(name: str) -> Any:
    if name in _MADE:
        return _MADE[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_MADE])


# `from stripe_pipeline.catalog import *` and dir() list the names made on first use too.
__all__ = ["PAGING", "ChildTable", "Field", "ObjectType", "declarations", *_MADE]
