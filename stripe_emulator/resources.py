"""The list endpoints the emulator serves, and the filters each one accepts.

A parameter that is not declared here is answered with Stripe's 400 "unknown parameter",
as the real API does, so code that works here does not send junk to Stripe.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from stripe_pipeline.catalog import CATALOGUE, CHILD_TABLES, TYPES, ObjectType

from .errors import ApiError

MAX_EVENT_TYPES = 20
Filter = Callable[[object], Callable[[dict], bool]]


def _ref_id(value):
    return value.get("id") if isinstance(value, dict) else value


def equals(field_name: str) -> Filter:
    return lambda wanted: lambda obj: _ref_id(obj.get(field_name)) == wanted


def boolean(field_name: str) -> Filter:
    def build(wanted):
        if wanted not in ("true", "false"):
            raise ApiError(400, f"Invalid boolean: {wanted}", code="parameter_invalid_boolean", param=field_name)
        return lambda obj: obj.get(field_name) is (wanted == "true")

    return build


def one_of(field_name: str) -> Filter:
    return lambda wanted: lambda obj: obj.get(field_name) in (wanted if isinstance(wanted, list) else [wanted])


def event_type(wanted):
    # `type` takes one event name or a group with `*` wildcards, e.g. `customer.*`.
    pattern = re.compile("^" + ".*".join(map(re.escape, str(wanted).split("*"))) + "$")
    return lambda obj: pattern.match(obj["type"]) is not None


def event_types(wanted):
    wanted = wanted if isinstance(wanted, list) else [wanted]
    if len(wanted) > MAX_EVENT_TYPES:
        raise ApiError(
            400, f"Invalid array: types can have at most {MAX_EVENT_TYPES} elements.", code="parameter_invalid_array", param="types"
        )
    names = set(wanted)
    return lambda obj: obj["type"] in names


def subscription_status(wanted):
    if wanted == "all":
        return lambda obj: True
    return lambda obj: obj.get("status") == wanted


def subscription_price(wanted):
    return lambda obj: any(item["price"]["id"] == wanted for item in obj["items"]["data"])


@dataclass(frozen=True)
class Resource:
    object_name: str
    path: str
    filters: dict[str, Filter] = field(default_factory=dict)
    # What a listing without filters leaves out (Stripe hides canceled subscriptions).
    hidden_by_default: tuple[str, Callable[[dict], bool]] | None = None
    # What DELETE does: "stub" (GET then returns {"id", "deleted": true}, as for customers),
    # "gone" (GET then 404s), "cancel" (subscriptions: the object stays, canceled), or None
    # (the API has no DELETE for it).
    on_delete: str | None = "gone"
    # Events are named `<event_prefix>.created` and so on; subscriptions' are `customer.subscription.*`.
    event_prefix: str | None = None
    # Stripe announces some objects' creation by their outcome, e.g. `charge.succeeded`.
    created_event: str = "created"
    # `<prefix>.updated`, or None where Stripe has no such event (PaymentIntents announce only
    # status transitions, through `status_events`: new status -> event suffix).
    updated_event: str | None = "updated"
    status_events: dict[str, str] = field(default_factory=dict)
    # Whether POST /v1/<path> may choose the ID (coupons and products take an `id` parameter).
    custom_ids: bool = False
    # Events are read-only: no POST, no DELETE, no event about events.
    writable: bool = True
    # List filters without which Stripe refuses the list (`subscription` for subscription items).
    required: tuple[str, ...] = ()
    # Every parameter the list takes, as the catalogue says (paging included); others are a 400.
    accepts: frozenset[str] = frozenset()

    def event_type(self, change: str, previous: dict | None = None, current: dict | None = None) -> str | None:
        """The event Stripe emits for a change ("created", "updated", "deleted"), or None."""
        if change == "created":
            return self.event_named(self.created_event) if self.created_event else None  # "": Stripe sends none
        if change != "updated":
            return self.event_named(change)
        status_changed = previous is not None and current is not None and "status" in previous
        suffix = (self.status_events.get(current["status"]) if current and status_changed else None) or self.updated_event
        return self.event_named(suffix) if suffix else None

    def event_named(self, suffix: str) -> str:
        return f"{self.event_prefix or self.object_name}.{suffix}"


def _path(object_type: ObjectType) -> str:
    """The resource's path under /v1/ (every type the emulator serves has a list path)."""
    return (object_type.path or "").removeprefix("/v1/")


RESOURCES: dict[str, Resource] = {
    resource.path: resource
    for resource in (
        Resource(
            "customer",
            "customers",
            {"email": equals("email"), "test_clock": equals("test_clock")},
            on_delete="stub",
        ),
        Resource(
            "product",
            "products",
            {"active": boolean("active"), "shippable": boolean("shippable"), "ids": one_of("id"), "url": equals("url")},
            custom_ids=True,
        ),
        Resource(
            "price",
            "prices",
            {"active": boolean("active"), "currency": equals("currency"), "product": equals("product"), "type": equals("type")},
            on_delete=None,  # prices are archived (active=false), never deleted
        ),
        Resource("coupon", "coupons", custom_ids=True),
        Resource(
            "subscription",
            "subscriptions",
            {
                "customer": equals("customer"),
                "collection_method": equals("collection_method"),
                "price": subscription_price,
                "status": subscription_status,
            },
            hidden_by_default=("status", lambda obj: obj.get("status") != "canceled"),
            on_delete="cancel",
            event_prefix="customer.subscription",
        ),
        Resource(
            "invoice",
            "invoices",
            {
                "customer": equals("customer"),
                "status": equals("status"),
                "subscription": equals("subscription"),
                "collection_method": equals("collection_method"),
            },
        ),
        Resource(
            "charge",
            "charges",
            {"customer": equals("customer"), "payment_intent": equals("payment_intent"), "transfer_group": equals("transfer_group")},
            on_delete=None,
            created_event="succeeded",
        ),
        Resource(
            "payment_intent",
            "payment_intents",
            {"customer": equals("customer")},
            on_delete=None,
            updated_event=None,
            status_events={
                "succeeded": "succeeded",
                "canceled": "canceled",
                "processing": "processing",
                "requires_action": "requires_action",
                "requires_capture": "amount_capturable_updated",
            },
        ),
        Resource(
            "event",
            "events",
            {"type": event_type, "types": event_types},
            on_delete=None,
            writable=False,
        ),
    )
}


def _catalogued(object_type: ObjectType, required: tuple[str, ...] = ()) -> Resource:
    """The resource of a type without hand-written rules: what the catalogue says of it."""
    events = set(object_type.events)
    # A type's events may have two prefixes (`refund.created`, `charge.refund.updated`): the one
    # that announces creation names the rest.
    prefixes = sorted({name.rpartition(".")[0] for name in events}, key=lambda p: (f"{p}.created" not in events, len(p)))
    prefix = prefixes[0] if prefixes else object_type.object_name
    suffixes = {name.rpartition(".")[2] for name in events if name.startswith(prefix + ".")}
    return Resource(
        object_type.object_name,
        _path(object_type),
        {name: equals(name) for name in object_type.list_filters if name != "created"},
        on_delete="stub" if object_type.deletable else None,
        custom_ids=object_type.object_name == "account",  # connected accounts are added by ID
        event_prefix=prefix,
        created_event="created" if "created" in suffixes else "",
        updated_event="updated" if "updated" in suffixes else None,
        required=required,
        accepts=frozenset(object_type.list_accepts),
    )


for _type in TYPES.values():
    if _path(_type) not in RESOURCES:
        RESOURCES[_path(_type)] = _catalogued(_type)
    else:  # hand-written rules, and the parameters the catalogue says the list takes
        RESOURCES[_path(_type)] = replace(RESOURCES[_path(_type)], accepts=frozenset(_type.list_accepts))
RESOURCES["events"] = replace(RESOURCES["events"], accepts=frozenset(CATALOGUE["types"]["event"]["list_params"]))
for _child in CHILD_TABLES.values():
    if _child.parent_param and _child.url.removeprefix("/v1/") not in RESOURCES:
        RESOURCES[_child.url.removeprefix("/v1/")] = _catalogued(replace(_child.child, path=_child.url), required=(_child.parent_param,))
# Stripe's product area of each path (catalog/declarations.py), for areas not enabled on an account.
AREA_BY_PATH = {
    **{
        child.url.removeprefix("/v1/").split("/{parent}/")[0]: TYPES[child.parent].area
        for child in CHILD_TABLES.values()
        if child.parent in TYPES
    },
    **{_path(t): t.area for t in TYPES.values()},
}

RESOURCE_BY_OBJECT = {resource.object_name: resource for resource in RESOURCES.values()}

# Lists under a parent's URL (`invoices/{parent}/lines`): (parent path, suffix) -> the child table.
CHILD_ROUTES = {
    tuple(child.url.removeprefix("/v1/").split("/{parent}/")): child for child in CHILD_TABLES.values() if not child.parent_param
}
