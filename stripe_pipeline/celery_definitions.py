"""The code location on Dagster's Celery executor (deploy/README.md): the same definitions as
`stripe_pipeline.definitions`, but every step of every job is a Celery task that a worker on
any machine may pick up. Deployments without Celery keep using `stripe_pipeline.definitions`,
which does not import Celery at all.

The executor's settings come from the YAML file named by DAGSTER_CELERY_CONFIG
(deploy/celery.yaml), the same file the workers start with (`dagster-celery worker start -y`):
a run that sends its steps to another broker, queue or result backend than the workers listen
to would wait for them forever, so there is one file for both sides. As in definitions.py,
`defs` is the entry point Dagster's loaders call (`@dg.definitions`) and `load_definitions()`
the built, cached Definitions: the file is read when they are first built, not at import.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_celery import celery_executor
from dagster_shared.yaml_utils import load_yaml_from_path

from .actions import ALL_ACTIONS
from .dagster_defs.factory import build_definitions
from .settings import ConfigurationError

CONFIG_VARIABLE = "DAGSTER_CELERY_CONFIG"


def celery_config(path: str | None = None) -> Mapping[str, Any]:
    """The `execution: config:` block of the workers' YAML file, as `dagster-celery worker start
    -y` reads it. Values such as `broker: {env: DAGSTER_CELERY_BROKER_URL}` stay references,
    which the run's process resolves from its own environment when the run starts."""
    path = path or os.environ.get(CONFIG_VARIABLE)
    if not path:
        raise ConfigurationError(
            f"{CONFIG_VARIABLE} is not set: give the path of the Celery YAML file the workers use (deploy/celery.yaml)."
        )
    if not Path(path).is_file():
        raise ConfigurationError(f"{CONFIG_VARIABLE} names {path}, which is not a file.")
    document = load_yaml_from_path(path)
    config = document.get("execution", {}).get("config") if isinstance(document, dict) else None
    if not isinstance(config, dict):
        raise ConfigurationError(f"{path} has no `execution: config:` block (see deploy/celery.yaml).")
    return config


@functools.cache
def load_definitions() -> dg.Definitions:
    """The code location's Definitions on the Celery executor, built on the first call and then kept."""
    return build_definitions(ALL_ACTIONS, executor=celery_executor.configured(dict(celery_config()), name="celery"))


@dg.definitions
def defs() -> dg.Definitions:
    return load_definitions()
