"""What the full sync's forkserver loads once, before it forks a process for each step: Dagster,
the package and the code location's definitions (factory.STEP_PROCESSES).

Without it every step imported Dagster and built the definitions again after its fork: about
2 s of CPU per step, 25 steps in a full sync, on machines where the steps share two cores.
"""

from __future__ import annotations

from ..definitions import load_definitions

try:
    load_definitions()
except Exception:  # noqa: BLE001 - each step builds them again and reports the error its own way
    pass
