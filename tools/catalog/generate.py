"""Write `stripe_pipeline/catalog/catalog.json`, the catalogue of Stripe's object types, from the
installed `stripe` package and the facts taken from Stripe's OpenAPI description.

Run it whenever the `stripe` pin moves: `python tools/catalog/generate.py` (`--check` only
compares). The unit tests fail while the committed file differs from what this writes for the
installed package (tests/unit/test_catalogue_drift.py).

Everything here reads the package's source: the classes' annotations (fields and their types),
the string literal after each annotation (the field's documentation), the list params (every
parameter each list takes, and which are required: lists that only exist under a parent), the
`list_<children>` class methods (child lists, their URLs and parameters) and the webhook
endpoint's `enabled_events` literal (every event name). Which integers are Unix times the
package does not say; `openapi_facts.json` (written by openapi_facts.py from Stripe's OpenAPI
description, which marks them `format: unix-time`) does, and the names and docs are only a
guess for the fields it does not know.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

import stripe
from stripe._deletable_api_resource import DeletableAPIResource
from stripe._listable_api_resource import ListableAPIResource
from stripe._object_classes import OBJECT_CLASSES

TARGET = Path(__file__).resolve().parents[2] / "stripe_pipeline" / "catalog" / "catalog.json"
FACTS = Path(__file__).with_name("openapi_facts.json")
COMMAND = "python tools/catalog/generate.py"
_TIMESTAMP_DOC = re.compile(r"seconds since the unix epoch|unix timestamp|measured in seconds since", re.I)
# Many timestamps' docs do not say so ("The end of the current period"); their names do.
_TIMESTAMP_SUFFIXES = ("_at", "_date", "_on", "_until", "_time")
_TIMESTAMP_NAMES = {
    "created",
    "period_end",
    "period_start",
    "current_period_end",
    "current_period_start",
    "trial_end",
    "trial_start",
    "redeem_by",
    "billing_cycle_anchor",
    "next_pending_invoice_item_invoice",
    "next_payment_attempt",
}
_SCALARS = {"str": "string", "int": "integer", "float": "number", "bool": "boolean", "Decimal": "decimal"}


def _classes() -> dict[str, type]:
    """Object name -> class, first name wins where a class has two (`file` and `file_upload`)."""
    found: dict[str, type] = {}
    for name, (module, attribute) in OBJECT_CLASSES.items():
        cls = getattr(importlib.import_module(module), attribute)
        if isinstance(cls, type) and cls not in found.values() and getattr(cls, "OBJECT_NAME", None) == name:
            found[name] = cls
    return found


def _class_node(cls: type) -> ast.ClassDef:
    source = inspect.getsourcefile(cls)
    if source is None:
        raise RuntimeError(f"the stripe package ships no source for {cls.__name__}")
    tree = ast.parse(Path(source).read_text())
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == cls.__name__:
            return node
    raise LookupError(cls)


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value.strip('"')
    return ""


def _members(node: ast.expr) -> list[ast.expr]:
    if not isinstance(node, ast.Subscript):
        return []
    inner = node.slice
    return list(inner.elts) if isinstance(inner, ast.Tuple) else [inner]


def _kind(node: ast.expr, classes_by_name: dict[str, str]) -> tuple[str, bool, tuple | str | None]:
    """(kind, nullable, detail): detail is an enum's values or a reference's object name."""
    if isinstance(node, ast.Subscript):
        outer = _name(node.value)
        members = _members(node)
        if outer == "Optional":
            kind, _, detail = _kind(members[0], classes_by_name)
            return kind, True, detail
        if outer == "Literal":
            return "enum", False, tuple(m.value for m in members if isinstance(m, ast.Constant))
        if outer == "ExpandableField":
            return "reference", False, classes_by_name.get(_name(members[0]))
        if outer == "Union":
            kinds = [_kind(m, classes_by_name) for m in members]
            if all(kind in ("enum", "string") for kind, _, _ in kinds):
                values = tuple(v for kind, _, detail in kinds if kind == "enum" and isinstance(detail, tuple) for v in detail)
                return "enum", False, values
            if [kind for kind, _, _ in kinds].count("reference") == len(kinds):
                return "reference", False, None
            return "json", False, None
        if outer == "ListObject":
            return "list", False, None
        return "json", False, None  # List, Dict, UntypedStripeObject
    name = _name(node)
    if name in _SCALARS:
        return _SCALARS[name], False, None
    return "json", False, None  # a nested class or another object embedded whole


def _facts() -> dict:
    """openapi_facts.json: for each object name, {"unix_time": [...], "integer": [...]}, its
    integer fields as the spec says, under "objects"; the spec's API version and source."""
    facts = json.loads(FACTS.read_text())
    if facts["api_version"] != stripe.api_version:
        print(
            f"warning: {FACTS.name} is from API version {facts['api_version']}, the stripe package's is {stripe.api_version}:"
            " Unix times are guessed from names and docs where the facts do not say (see tools/catalog/README.md)",
            file=sys.stderr,
        )
    return facts


def _is_timestamp(name: str, doc: str, known: dict[str, list[str]] | None) -> bool:
    """Whether an integer field is a Unix time: the spec's answer where it has one, else a guess."""
    if known is not None and (name in known["unix_time"] or name in known["integer"]):
        return name in known["unix_time"]
    guessed = _TIMESTAMP_DOC.search(doc) or name.endswith(_TIMESTAMP_SUFFIXES) or name in _TIMESTAMP_NAMES
    # A terminal reader's `last_seen_at` counts milliseconds: as seconds it would be the year 57,000.
    return bool(guessed) and "milliseconds" not in doc


def _fields(cls: type, classes_by_name: dict[str, str], known: dict[str, list[str]] | None = None) -> list[tuple]:
    node = _class_node(cls)
    fields = []
    body = node.body
    for index, item in enumerate(body):
        if not (isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)):
            continue
        name = item.target.id
        if (
            name.isupper()
            or _name(item.annotation) == "ClassVar"
            or (isinstance(item.annotation, ast.Subscript) and _name(item.annotation.value) == "ClassVar")
        ):
            continue
        following = body[index + 1] if index + 1 < len(body) else None
        doc = ""
        if isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant) and isinstance(following.value.value, str):
            doc = " ".join(following.value.value.split())
        kind, nullable, detail = _kind(item.annotation, classes_by_name)
        if kind == "integer" and _is_timestamp(name, doc, known):
            kind = "timestamp"
        fields.append((name, kind, nullable, detail, doc))
    return sorted(fields)


def _list_params(cls: type) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(required, all) parameters of the type's list endpoint, from its `<Class>ListParams`;
    all: every parameter the endpoint takes, paging (`limit`, …) included."""
    found = _params(f"{cls.__name__}ListParams", lambda file: _same_namespace(file, cls))
    return found or ((), ())


def _params(class_name: str, in_file: Callable[[Path], bool] = lambda file: True) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """(required, all) keys of a params TypedDict of the package, found by its class name."""
    for file in (Path(stripe.__file__).parent / "params").rglob("*_params.py"):
        if not in_file(file) or class_name.lower().replace("_", "") not in file.stem.replace("_", ""):
            continue
        for node in ast.parse(file.read_text()).body:
            if isinstance(node, ast.ClassDef) and node.name == class_name:
                annotated = {
                    item.target.id: item.annotation
                    for item in node.body
                    if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
                }
                required = tuple(
                    name
                    for name, annotation in annotated.items()
                    if not (isinstance(annotation, ast.Subscript) and _name(annotation.value) == "NotRequired")
                )
                return required, tuple(annotated)
    return None


def _same_namespace(params_file: Path, cls: type) -> bool:
    namespace = cls.__module__.removeprefix("stripe.").rpartition(".")[0]
    return params_file.parent.name == (namespace.split(".")[-1] if namespace else "params")


def _child_lists(cls: type) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """(method suffix, URL template, child class name, the parameters the list takes) of each
    `list_<children>` class method. Not every child list pages: an account's capabilities
    take no `limit` (AccountListCapabilitiesParams), and Stripe refuses what a list does not take."""
    node = _class_node(cls)
    children = []
    for item in node.body:
        if isinstance(item, ast.FunctionDef) and item.name.startswith("list_") and not item.name.endswith("_async"):
            returns = ast.unparse(item.returns) if item.returns else ""
            child = re.search(r"ListObject\[['\"](\w+)['\"]\]", returns)
            url = re.search(r"['\"](/v1/[^'\"]+)['\"]\.format", ast.unparse(item))
            params_class = re.search(r"Unpack\[['\"](\w+)['\"]\]", ast.unparse(item.args))
            accepted = (_params(params_class.group(1)) or ((), ()))[1] if params_class else ()
            if url and (child or "Union" in returns):
                children.append((item.name.removeprefix("list_"), url.group(1), child.group(1) if child else "Union", accepted))
    return children


def _event_names() -> tuple[str, ...]:
    source = (Path(stripe.__file__).parent / "params" / "_webhook_endpoint_create_params.py").read_text()
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == "enabled_events":
            return tuple(
                sorted(
                    {
                        c.value
                        for c in ast.walk(node.annotation)
                        if isinstance(c, ast.Constant) and isinstance(c.value, str) and c.value != "*"
                    }
                )
            )
    raise LookupError("enabled_events")


def build() -> dict:
    facts = _facts()
    known = facts["objects"]
    classes = _classes()
    by_class_name: dict[str, str] = {}
    for name, cls in classes.items():
        by_class_name.setdefault(cls.__name__, name)
    child_lists = {name: [(s, u, by_class_name.get(c, c), p) for s, u, c, p in _child_lists(cls)] for name, cls in classes.items()}
    # Listable types, and what their child lists hold; the rest never reaches a table.
    wanted = {name for name, cls in classes.items() if issubclass(cls, ListableAPIResource)}
    wanted |= {child for name in list(wanted) for _, _, child, _ in child_lists[name] if child in classes}
    wanted |= {"bank_account", "card"}  # a Connect account's external accounts
    types = {}
    for name, cls in sorted(classes.items()):
        if name not in wanted:
            continue
        listable = issubclass(cls, ListableAPIResource)
        entry = {
            "class": f"{cls.__module__}.{cls.__name__}",
            "doc": " ".join((inspect.getdoc(cls) or "").split("\n\n")[0].split()),
            "fields": _fields(cls, by_class_name, known.get(name)),
            "deletable": issubclass(cls, DeletableAPIResource),
        }
        if listable:
            entry["path"] = cls.class_url()  # type: ignore[attr-defined]  # listable: an APIResource
            entry["required_list_params"], entry["list_params"] = _list_params(cls)
        if child_lists[name]:
            entry["child_lists"] = child_lists[name]
        types[name] = entry
    return {
        "stripe_version": stripe.VERSION,
        "api_version": stripe.api_version,
        "openapi": {"api_version": facts["api_version"], "source": facts["source"]},
        "types": types,
        "events": _event_names(),
    }


def render(catalogue: dict) -> str:
    """JSON, one field, event, parameter or child list a line: a readable diff when the pin moves."""
    return _render(catalogue, "") + "\n"


def _render(value: object, indent: str) -> str:
    if isinstance(value, dict) and value:
        inner = indent + " "
        items = (f"{inner}{json.dumps(key)}: {_render(value[key], inner)}" for key in sorted(value))
        return "{\n" + ",\n".join(items) + f"\n{indent}}}"
    if isinstance(value, list | tuple) and value:  # a field, an event name or a parameter a line
        inner = indent + " "
        return "[\n" + ",\n".join(inner + json.dumps(item, ensure_ascii=False) for item in value) + f"\n{indent}]"
    return json.dumps(value, ensure_ascii=False)


def main(argv: list[str]) -> int | str:
    text = render(build())
    if "--check" in argv:
        return 0 if TARGET.exists() and TARGET.read_text() == text else f"the catalogue is out of date: run {COMMAND}"
    TARGET.write_text(text)
    print(f"wrote {TARGET} ({len(text):,} characters)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
