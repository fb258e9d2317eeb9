"""An action for every catalogued type and child table that has no hand-written one.

A catalogued action is the catalogue's type plus its declarations (catalog/declarations.py);
a hand-written action (products.py, billing.py, …) is the same with hooks or events of its own.
`attach_children` gives each parent action its child tables' actions.
"""

from __future__ import annotations

from ..catalog import CHILD_TABLES, TYPES, ChildTable, ObjectType
from ..models import MODELS
from .mixins import ChildAction, StripeSyncActionMixin


def declared(object_type: ObjectType) -> dict:
    """An action's declarations that the catalogue holds (catalog/declarations.py says each once)."""
    return {
        "stripe_type": object_type,
        "id_prefixes": object_type.id_prefixes,
        "list_params": dict(object_type.list_params),  # a class's own: changing it leaves the catalogue alone
        "redacted_fields": object_type.redacted_fields,
        "list_ids_filter": object_type.list_ids_filter,
        "event_types": object_type.events,
        "deletion_event_types": object_type.deletion_events,
    }


def declare(action: type[StripeSyncActionMixin], object_type: ObjectType) -> None:
    """Give a hand-written action its type's catalogued declarations, except what its own class
    body declares (a hook class may still narrow a filter or redact another field)."""
    for name, value in declared(object_type).items():
        if name not in vars(action):
            setattr(action, name, value)


def catalogued_action(object_type: ObjectType) -> type[StripeSyncActionMixin]:
    return type(
        f"Stripe{object_type.class_name}Action",
        (StripeSyncActionMixin,),
        {
            "__module__": "stripe_pipeline.actions",
            "__doc__": f"Sync Stripe {object_type.object_name} objects into `{object_type.table}`.",
            "model_class": MODELS[object_type.table],
            **declared(object_type),
        },
    )


def child_action(child: ChildTable) -> type[ChildAction]:
    model = MODELS[child.table]
    return type(
        model.__name__ + "Action",
        (ChildAction,),
        {
            "__module__": "stripe_pipeline.actions",
            "__doc__": f"Rows of `{child.table}`: each {child.parent}'s {child.child.object_name} objects, synced with their parent.",
            "model_class": model,
            "stripe_type": child.child,
            "child_table": child,
            "redacted_fields": child.child.redacted_fields,
        },
    )


def attach_children(actions: list[type[StripeSyncActionMixin]]) -> list[type[ChildAction]]:
    """Give each parent action the actions of its child tables; returns every child action."""
    children = {table: child_action(child) for table, child in CHILD_TABLES.items()}
    for action in actions:
        action.child_actions = tuple(c for c in children.values() if c.child_table.parent == action.object_name())
    return list(children.values())


def catalogued_actions(hand_written: list[type[StripeSyncActionMixin]]) -> list[type[StripeSyncActionMixin]]:
    """An action for every catalogued top-level type that `hand_written` does not cover."""
    covered = {action.object_name() for action in hand_written}
    return [catalogued_action(object_type) for name, object_type in TYPES.items() if name not in covered]
