"""What an action's class attributes imply: the events it watches, which of them delete, the
child tables it syncs, whether it has hooks, and the references its rows hold.

Functions of the class alone, computed where they are asked for (cached where `sync` asks
per object), so that a subclass that changes one declaration changes what follows from it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, cast

from ..stripe_api.events import MAX_TYPES_PER_REQUEST
from .sync.mapping import reference_targets as _catalogued_references

if TYPE_CHECKING:
    from .catalogued import ChildAction
    from .mixins import StripeSyncActionMixin

Action = type["StripeSyncActionMixin"]
HOOKS = ("pre_set_defualt", "pre_set_default", "set_default", "post_set_default")


def watched_events(action: Action) -> tuple[str, ...]:
    """Its own events (declared, catalogued, or `<object>.created|updated|deleted`), then its
    children's: a customer's tax ID changes, the customer syncs again. At most 20: one request."""
    if action.event_types is not None:
        own = tuple(action.event_types)
    elif action.stripe_type is not None:
        own = action.stripe_type.events
    else:
        name = action.object_name()
        own = (f"{name}.created", f"{name}.updated", f"{name}.deleted")
    children = [name for child in action.child_actions if child.stripe_type for name in child.stripe_type.events if name not in own]
    return tuple(dict.fromkeys([*own, *children]))[:MAX_TYPES_PER_REQUEST]


def deletion_events(action: Action) -> frozenset[str]:
    if action.deletion_event_types is not None:
        return frozenset(action.deletion_event_types)
    if action.stripe_type is not None:
        return frozenset(action.stripe_type.deletion_events)
    return frozenset(t for t in watched_events(action) if t.endswith(".deleted"))


def choose_children(action: Action, children: Iterable[str] | str | None) -> tuple[type[ChildAction], ...]:
    """By default the child tables the object embeds, which cost no request (an invoice's lines)."""
    if children is None:
        return tuple(child for child in action.child_actions if child.child_table.embedded)
    if children == "all":
        return action.child_actions
    wanted = set([children] if isinstance(children, str) else children)
    known = {child.table_name(): child for child in action.child_actions}
    if not wanted <= known.keys():
        raise ValueError(f"{action.__name__} has no child tables {sorted(wanted - known.keys())}; it has {sorted(known) or 'none'}.")
    return tuple(known[name] for name in sorted(wanted))


def _has_hooks(action: Action) -> bool:
    from .mixins import StripeSyncActionMixin

    return any(getattr(action, hook) is not getattr(StripeSyncActionMixin, hook) for hook in HOOKS)


def _reference_targets(action: Action) -> tuple[tuple[str, str], ...]:
    """(column, object name) of each reference its rows hold that the catalogue can resolve."""
    return _catalogued_references(action.stripe_type)


# Asked per object: cached per class. (Cast because mypy takes `type(action)` for unhashable.)
has_hooks = cast(Callable[[Action], bool], functools.cache(_has_hooks))
reference_targets = cast(Callable[[Action], tuple[tuple[str, str], ...]], functools.cache(_reference_targets))
