"""The Dagster code location `stripe_pipeline` (pyproject's [tool.dagster], workspace.yaml).

`defs` is built when it is first asked for (by Dagster's loader, or `from
stripe_pipeline.definitions import defs`), not when this module is imported: building reads the
environment (WAREHOUSE_URL for the kind tags, STRIPE_OBJECTS, STRIPE_EVENTS_POLL_SECONDS), and
importing the package must not.
"""

from __future__ import annotations

import functools

import dagster as dg

from .actions import ALL_ACTIONS
from .dagster_defs.factory import build_definitions


@functools.cache
def load_definitions() -> dg.Definitions:
    return build_definitions(ALL_ACTIONS)


def __getattr__(name: str) -> dg.Definitions:
    if name == "defs":
        return load_definitions()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    # Dagster's loader finds a code location's Definitions among the module's members.
    return [*globals(), "defs"]
