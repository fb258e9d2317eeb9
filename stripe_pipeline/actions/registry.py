"""Which action handles which Stripe ID or object type (for the ID sync job)."""

from __future__ import annotations

from .mixins import StripeSyncActionMixin


class UnknownObjectType(ValueError):
    pass


def action_for_type(actions: list[type[StripeSyncActionMixin]], object_type: str) -> type[StripeSyncActionMixin]:
    """`object_type` may be Stripe's object name (`customer`) or the table name (`customers`)."""
    wanted = object_type.strip().lower()
    for action in actions:
        if wanted in (action.object_name(), action.table_name()):
            return action
    known = ", ".join(sorted(action.object_name() for action in actions))
    raise UnknownObjectType(f"Unknown object type {object_type!r}; known types: {known}.")


def action_for_id(actions: list[type[StripeSyncActionMixin]], object_id: str) -> type[StripeSyncActionMixin]:
    """The action whose prefix the ID starts with; the longest prefix wins, so that a
    subscription schedule's `sub_sched_…` is not taken for a subscription's `sub_…`."""
    matches = [(len(prefix), action) for action in actions for prefix in action.id_prefixes if object_id.startswith(prefix)]
    if matches:
        return max(matches, key=lambda match: match[0])[1]
    prefixes = ", ".join(sorted(prefix for action in actions for prefix in action.id_prefixes))
    raise UnknownObjectType(f"Cannot tell the object type of {object_id!r} from its prefix (known: {prefixes}); give the type explicitly.")
