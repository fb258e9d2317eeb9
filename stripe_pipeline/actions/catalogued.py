"""An action for every catalogued type and child table that has no hand-written one.

A catalogued action is the catalogue's type plus its declarations (catalog/declarations.py);
a hand-written action (products.py, billing.py, …) is the same with hooks or events of its own.
`attach_children` gives each parent action its child tables' actions.
"""

from __future__ import annotations

from typing import ClassVar

from ..catalog import CHILD_TABLES, TYPES, ChildTable, ObjectType
from ..models import MODELS
from .mixins import StripeSyncActionMixin


class ChildAction(StripeSyncActionMixin):
    """A child table's action (children.py). Its rows get the parent's ID in `parent_column`, and
    a key that stays unique where Stripe's ID is unique only within the parent (an account's
    `card_payments`)."""

    child_table: ClassVar[ChildTable]
    parent_id: str | None = None  # of the parent whose children are being synced (set by ChildSync)

    def set_default(self, stripe_data: dict) -> dict:
        row = super().set_default(stripe_data)
        row[self.child_table.parent_column] = self.parent_id
        if self.child_table.keyed_by_parent:
            row["id"] = f"{self.parent_id}/{stripe_data['id']}"
        return row


def catalogued_action(object_type: ObjectType) -> type[StripeSyncActionMixin]:
    return type(
        f"Stripe{object_type.class_name}Action",
        (StripeSyncActionMixin,),
        {
            "__module__": "stripe_pipeline.actions",
            "__doc__": f"Sync Stripe {object_type.object_name} objects into `{object_type.table}`.",
            "model_class": MODELS[object_type.table],
            "stripe_type": object_type,
            "id_prefixes": object_type.id_prefixes,
            "list_params": object_type.list_params,
            "redacted_fields": object_type.redacted_fields,
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
