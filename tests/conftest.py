"""Settings for the whole suite."""

from __future__ import annotations

from pathlib import Path

import pytest

UNIT = Path(__file__).parent / "unit"


def pytest_configure(config: pytest.Config) -> None:
    """`pytest tests/unit` runs in this one process, whatever pyproject's `-n 3` says: its tests
    take milliseconds, and each xdist worker would first spend seconds importing Dagster. (Runs
    before xdist's own configure, which starts the workers.)"""
    paths = [Path(str(arg).split("::")[0]).resolve() for arg in config.args]
    if paths and all(path == UNIT or UNIT in path.parents for path in paths):
        config.option.numprocesses, config.option.dist, config.option.tx = 0, "no", []
