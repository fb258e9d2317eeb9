"""The Dagster code location `stripe_pipeline` (pyproject's [tool.dagster] and [tool.dg.project],
workspace.yaml).

`defs` is the entry point Dagster's loaders call (`@dg.definitions`): `dagster dev`, `dg check
defs`, `dagster job execute -m stripe_pipeline.definitions` and each step's process. Python code
calls `load_definitions()` for the built Definitions.

Nothing is built at import: building reads the environment (WAREHOUSE_URL for the kind tags,
STRIPE_OBJECTS, STRIPE_EVENTS_POLL_SECONDS), and importing the package must not. The build is
cached, so that the forkserver's preload (dagster_defs/preload.py) builds it once and every step
forked from it finds it built.
"""

from __future__ import annotations

import functools

import dagster as dg

from .actions import ALL_ACTIONS
from .dagster_defs.factory import build_definitions


@functools.cache
def load_definitions() -> dg.Definitions:
    """The code location's Definitions, built on the first call and then kept."""
    return build_definitions(ALL_ACTIONS)


@dg.definitions
def defs() -> dg.Definitions:
    return load_definitions()
