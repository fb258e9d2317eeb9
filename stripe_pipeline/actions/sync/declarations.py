"""What an action's class attributes imply: the events it watches, which of them delete, the
child tables it syncs, whether it has hooks, and the references its rows hold.

Functions of the class alone, computed where they are asked for (cached where `sync` asks
per object), so that a subclass that changes one declaration changes what follows from it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import cast

from .mapping import reference_targets as _catalogued_references
from .protocol import ActionType

Action = type[ActionType]
HOOKS = ("pre_set_defualt", "pre_set_default", "set_default", "post_set_default")


def own_events(action: Action) -> tuple[str, ...]:
    """The events whose object is the action's type: declared, catalogued, or
    `<object>.created|updated|deleted`."""
    if action.event_types is not None:
        return tuple(action.event_types)
    if action.stripe_type is not None:
        return action.stripe_type.events
    name = action.object_name()
    return (f"{name}.created", f"{name}.updated", f"{name}.deleted")


def child_events(child: Action) -> tuple[str, ...]:
    """The events whose object is a child table's type (`customer.tax_id.created`)."""
    return child.stripe_type.events if child.stripe_type is not None else ()


def watched_events(action: Action) -> tuple[str, ...]:
    """Its own events, then its children's: a customer's tax ID changes, the customer syncs
    again, children and all. (More than 20 take more than one request: stripe_api/events.py.)"""
    own = own_events(action)
    return tuple(dict.fromkeys([*own, *(name for child in action.child_actions for name in child_events(child))]))


def deletion_events(action: Action) -> frozenset[str]:
    if action.deletion_event_types is not None:
        return frozenset(action.deletion_event_types)
    if action.stripe_type is not None:
        return frozenset(action.stripe_type.deletion_events)
    return frozenset(t for t in watched_events(action) if t.endswith(".deleted"))


def choose_children(action: Action, children: Iterable[str] | str | None) -> tuple[type[ActionType], ...]:
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
    """Whether a hook of the action may change what it is given (so `sync` copies it first): one
    defined below the classes this package ships as bases. A child table's own `set_default`
    (catalogued.py: it adds the parent's ID) changes nothing. The bases say so themselves
    (`DEFAULT_HOOKS` in their class body), so this module need not import them."""
    for hook in HOOKS:
        owner = next(cls for cls in action.__mro__ if hook in vars(cls))
        if not vars(owner).get(DEFAULT_HOOKS, False):
            return True
    return False


def _reference_targets(action: Action) -> tuple[tuple[str, str], ...]:
    """(column, object name) of each reference its rows hold that the catalogue can resolve."""
    return _catalogued_references(action.stripe_type)


# Set to True in the body of a base class whose hooks are the defaults (mixins.py, catalogued.py).
DEFAULT_HOOKS = "_default_hooks"

# Asked per object: cached per class. (Cast because mypy takes `type(action)` for unhashable.)
has_hooks = cast(Callable[[Action], bool], functools.cache(_has_hooks))
reference_targets = cast(Callable[[Action], tuple[tuple[str, str], ...]], functools.cache(_reference_targets))
