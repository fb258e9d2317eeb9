"""One builder for every catalogued type: an object with every field of the package's API
version, a value of the field's kind, and references to objects that exist.

The rich builders in objects.py stay where realism matters to the tests and the analytics
(customers, prices, subscriptions, invoices, charges); everything else is shaped here. Values
vary on purpose: nullable fields are sometimes null, strings sometimes carry non-ASCII text,
amounts span orders of magnitude, so a sync tuned to one shape shows it.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable

from stripe_pipeline.catalog import Field, ObjectType

_ALNUM = string.ascii_letters + string.digits
_UNICODE = ("Zoë Müller", "Łódź Ślusarski", "東京テック株式会社", "Café Ñandú", "Αθηνά", "O'Brien & Söhne", "🚀 Launch")
_NULL_SHARE = 0.3  # of nullable fields left null; Stripe leaves many optional fields null
_CURRENCIES = ("usd", "usd", "eur", "gbp", "jpy")
# Fields whose value is constant or conventional in Stripe's objects.
_FIXED = {"livemode": False, "object": None}

PickId = Callable[[str], "str | None"]


def new_id(rng: random.Random, object_type: ObjectType | None, object_name: str = "") -> str:
    prefix = object_type.id_prefixes[0] if object_type and object_type.id_prefixes else (object_name.split(".")[-1][:4] + "_")
    return prefix + "1" + "".join(rng.choices(_ALNUM, k=23))


def _string(rng: random.Random, field: Field, object_id: str) -> str:
    name = field.name
    if name == "currency" or name.endswith("_currency"):
        return rng.choice(_CURRENCIES)
    if name in ("country",) or name.endswith("_country"):
        return rng.choice(("US", "DE", "GB", "FR", "JP"))
    if "email" in name:
        return f"user{rng.randrange(10**6)}@example.com"
    if name.endswith("url") or name.endswith("_link"):
        return f"https://example.com/{object_id}/{name}"
    if name in ("name", "nickname", "display_name", "description", "statement_descriptor", "label", "nickname"):
        return rng.choice(_UNICODE) if rng.random() < 0.2 else f"{name.replace('_', ' ').title()} {rng.randrange(1000)}"
    if name == "last4":
        return f"{rng.randrange(10_000):04d}"
    return "".join(rng.choices(_ALNUM, k=rng.choice((8, 14, 24))))


def _integer(rng: random.Random, field: Field) -> int:
    name = field.name
    if "amount" in name or name in ("fee", "net", "balance", "total", "subtotal"):
        return rng.choice((0, 1, 50, 999, 2000, 12_500, 1_000_000, 98_765_432))
    if name in ("exp_month", "month"):
        return rng.randint(1, 12)
    if name in ("exp_year", "year"):
        return rng.randint(2026, 2034)
    return rng.randint(0, 100)


def value_for(rng: random.Random, field: Field, *, object_id: str, created: int, pick: PickId) -> object:
    if field.name in _FIXED:
        return _FIXED[field.name]
    if field.nullable and rng.random() < _NULL_SHARE:
        return None
    kind = field.kind
    if kind == "enum":
        return rng.choice(field.detail) if field.detail else None
    if kind == "reference":
        target = field.detail if isinstance(field.detail, str) else None
        found = pick(target) if target else None
        return found if found is not None or field.nullable else new_id(rng, None, target or field.name)
    if kind == "timestamp":
        return created + rng.randrange(0, 90 * 86_400)
    if kind == "integer":
        return _integer(rng, field)
    if kind == "number":
        return round(rng.uniform(0, 100), 2)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "decimal":
        return f"{rng.randrange(10**6)}.{rng.randrange(10**4):04d}"
    if kind == "string":
        return _string(rng, field, object_id)
    if kind == "list":
        return {"object": "list", "data": [], "has_more": False, "total_count": 0, "url": f"/v1/{field.name}"}
    if field.name == "metadata":
        return {"source": rng.choice(("import", "api", "dashboard"))} if rng.random() < 0.5 else {}
    return None if field.nullable else {}


def build(object_type: ObjectType, rng: random.Random, *, id: str, created: int, pick: PickId, fields: dict | None = None) -> dict:
    """An object of the type with every field the catalogue knows; `fields` win over generated values."""
    obj: dict = {}
    for field in object_type.fields:
        obj[field.name] = value_for(rng, field, object_id=id, created=created, pick=pick)
    obj.update({"id": id, "object": object_type.object_name})
    if "created" in obj:
        obj["created"] = created
    obj.pop("deleted", None)
    obj.update(fields or {})
    return obj
