"""The Dagster code location `stripe_pipeline` (pyproject's [tool.dagster], workspace.yaml).

`defs` is built when it is first asked for (by Dagster's loader, or `from
stripe_pipeline.definitions import defs`), not when this module is imported: building reads the
environment (WAREHOUSE_URL for the kind tags, STRIPE_OBJECTS, STRIPE_EVENTS_POLL_SECONDS), and
importing the package must not.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import dagster as dg

from .actions import ALL_ACTIONS
from .dagster_defs.factory import build_definitions


def lazy_defs(module: str, members: dict, load: Callable[[], dg.Definitions]) -> tuple[Callable, Callable]:
    """A module's `__getattr__` and `__dir__` that give `defs` as `load()` builds it, when
    first asked for (`members`: the module's globals())."""

    def __getattr__(name: str) -> dg.Definitions:
        if name == "defs":
            return load()
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        # Dagster's loader finds a code location's Definitions among the module's members.
        return [*members, "defs"]

    return __getattr__, __dir__


@functools.cache
def load_definitions() -> dg.Definitions:
    return build_definitions(ALL_ACTIONS)


__getattr__, __dir__ = lazy_defs(__name__, globals(), load_definitions)
