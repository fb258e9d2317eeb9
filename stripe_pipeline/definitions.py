"""The Dagster code location `stripe_pipeline` (see workspace.yaml)."""

from .actions import ALL_ACTIONS
from .dagster_defs.factory import build_definitions

defs = build_definitions(ALL_ACTIONS)
