"""Which tables the default full sync covers: STRIPE_OBJECTS, or the billing and payments core.

Every type has its asset whatever is chosen; the choice only sets what the scheduled jobs
materialize. Tokens are table names (`refunds`, `invoice_line_items`), object names
(`refund`, `issuing.card`), areas (`billing`, `payments`, `connect`, `issuing`, …), `default`
or `all`.
"""

from __future__ import annotations

import difflib

from ..actions import StripeSyncActionMixin
from ..catalog import declarations
from ..settings import ConfigurationError


def with_children(actions: list[type[StripeSyncActionMixin]]) -> list[type[StripeSyncActionMixin]]:
    """The actions, then their child tables' actions: every table the actions write."""
    return [*actions, *(child for action in actions for child in action.child_actions)]


def _area(action: type[StripeSyncActionMixin]) -> str:
    return action.stripe_type.area if action.stripe_type is not None else "other"


def default_tables(actions: list[type[StripeSyncActionMixin]]) -> set[str]:
    """The billing and payments core, with the child tables their objects embed (they cost no request)."""
    chosen = set()
    for action in actions:
        if action.object_name() in declarations.DEFAULT_OBJECTS:
            chosen.add(action.table_name())
            chosen.update(child.table_name() for child in action.child_actions if child.child_table.embedded)
    return chosen


def chosen_tables(actions: list[type[StripeSyncActionMixin]], spec: str, *, source: str = "STRIPE_OBJECTS") -> set[str]:
    """The tables that `spec` (STRIPE_OBJECTS' syntax) names. `source`: where `spec` came
    from, as an unknown name's error says it ("the command line"); the variable by default."""
    if not spec:
        return default_tables(actions)
    everything = {action.table_name(): action for action in actions}
    children = {child.table_name(): child for action in actions for child in action.child_actions}
    by_object = {action.object_name(): action.table_name() for action in actions}
    areas = {_area(action) for action in actions}
    chosen: set[str] = set()
    for token in (part.strip().lower() for part in spec.split(",")):
        if not token:
            continue
        if token == "all":
            chosen |= everything.keys() | children.keys()
        elif token == "default":
            chosen |= default_tables(actions)
        elif token in areas:
            for action in actions:
                if _area(action) == token:
                    chosen.add(action.table_name())
                    chosen.update(child.table_name() for child in action.child_actions)
        elif token in everything or token in children:
            chosen.add(token)
        elif token in by_object:
            chosen.add(by_object[token])
        else:
            known = [*everything, *children, *by_object, *areas, "all", "default"]
            closest = difflib.get_close_matches(token, known, n=1)
            raise ConfigurationError(
                f"{source} names {token!r}, which is no table, object type or area"
                + (f"; did you mean {closest[0]}? " if closest else ". ")
                + f"Areas: {', '.join(sorted(areas))}; or `all`, `default`, or a table such as `refunds`."
            )
    return chosen
