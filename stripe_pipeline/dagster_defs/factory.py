"""Build the whole code location from the list of actions."""

from __future__ import annotations

import functools
import logging
import multiprocessing
import os
from collections.abc import Callable
from typing import TypeVar

import dagster as dg
from sqlalchemy.engine import make_url

from .. import policies, settings
from ..actions import StripeSyncActionMixin
from ..metrics import INPUT_TABLES
from ..settings import ConfigurationError
from ..warehouse.dialects import DIALECTS
from .assets import RECONCILE_CHECK, SYNC_RETRY_POLICY, asset_key, build_sync_asset
from .checks import build_reference_checks, with_freshness
from .events_sensor import build_events_sensor
from .id_sync import build_id_sync_job
from .metrics import build_metric_assets, build_metrics_automation
from .resources import StripeResource, WarehouseResource
from .selection import chosen_tables, default_tables, with_children
from .translator import StripeAssetTranslator

T = TypeVar("T")
log = logging.getLogger(__name__)
FULL_SYNC_JOB = "stripe_full_sync"
RECONCILE_JOB = "stripe_reconcile"


def warehouse_kind(url: str | None = None) -> str:
    name = make_url(settings.warehouse_url(url)).get_backend_name()
    return DIALECTS[name].kind if name in DIALECTS else name  # Dagster's kind tags have icons for these names


def build_assets(
    actions: list[type[StripeSyncActionMixin]],
    translator: StripeAssetTranslator | None = None,
    *,
    retry_policy: dg.RetryPolicy | None = SYNC_RETRY_POLICY,
    problem: ConfigurationError | None = None,
) -> list[dg.AssetsDefinition]:
    """One multi-asset per top-level type. `retry_policy`: Dagster's retries of a failed step,
    on top of the per-request and per-transaction ones (policies.py); None for none. `problem`:
    a bad setting that every run reports (build_definitions)."""
    translator = translator or StripeAssetTranslator(warehouse_kind())
    return [build_sync_asset(action, translator, retry_policy, problem) for action in actions]


def _schedule(name: str, job, cron_schedule: str, status: str) -> dg.ScheduleDefinition:
    # Stopped unless asked (STRIPE_SCHEDULES=running): Dagster's own default, and what a team that
    # adds this code location to an instance it already runs expects (see the README).
    return dg.ScheduleDefinition(
        name=name,
        job=job,
        cron_schedule=cron_schedule,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING if status == "running" else dg.DefaultScheduleStatus.STOPPED,
    )


STEP_PROCESSES: dict = {"max_concurrent": policies.STEPS_AT_ONCE}
if "forkserver" in multiprocessing.get_all_start_methods():  # not on Windows: a new process per step there
    STEP_PROCESSES["start_method"] = {"forkserver": {"preload_modules": ["stripe_pipeline.dagster_defs.preload"]}}


def build_definitions(
    actions: list[type[StripeSyncActionMixin]],
    events_poll_seconds: int | None = None,
    *,
    translator: StripeAssetTranslator | None = None,
    objects: str | None = None,
    retry_policy: dg.RetryPolicy | None = SYNC_RETRY_POLICY,
    schedules: str | None = None,
    freshness_hours: float | None = None,
    executor: dg.ExecutorDefinition | None = None,
) -> dg.Definitions:
    """`objects`: what the scheduled jobs cover, in STRIPE_OBJECTS' syntax (default: that variable).
    `schedules`: `running` or `stopped`, the schedules' status when first deployed (default:
    STRIPE_SCHEDULES, else stopped). `freshness_hours`: when a chosen table turns stale
    (default: STRIPE_FRESHNESS_HOURS, else 26).
    `translator`: asset keys, groups and kinds (subclass StripeAssetTranslator). `retry_policy`:
    Dagster's retries of a failed asset step; None switches them off (tests do). `executor`: how
    every job runs its steps (default: Dagster's, a process per step on the run's machine;
    celery_definitions.py passes the Celery executor)."""
    # A bad setting must not take the whole code location down, its message buried in a load
    # traceback: the location loads with defaults, and every run fails with the one line.
    problems: list[ConfigurationError] = []
    read = functools.partial(_setting, problems)
    translator = translator or StripeAssetTranslator(read(warehouse_kind, "sqlite"))
    status = read(lambda: settings.stripe_schedules(schedules), "stopped")
    # Read apart from the other variables, so that a bad one does not hide this one's problem.
    tables = read(
        lambda: chosen_tables(actions, objects if objects is not None else os.environ.get("STRIPE_OBJECTS", "")), default_tables(actions)
    )
    freshness = read(lambda: settings.stripe_freshness_hours(freshness_hours), policies.FRESHNESS_HOURS)
    poll_seconds = read(lambda: settings.events_poll_seconds(events_poll_seconds), policies.EVENTS_POLL_SECONDS)
    problem = ConfigurationError(" ".join(dict.fromkeys(str(p) for p in problems))) if problems else None
    if problem is not None:
        log.error(f"The Stripe code location loaded with defaults; every run will fail until this is fixed: {problem}")
    assets = build_assets(actions, translator, retry_policy=retry_policy, problem=problem)
    keys = [translator.get_asset_spec(action).key for action in with_children(actions) if action.table_name() in tables]
    selection = dg.AssetSelection.assets(*keys)
    # Only a reconciling run evaluates `matches_stripe`; a daily run that planned it would show it
    # skipped, over the weekly reconcile's result.
    reconciled = dg.AssetSelection.checks(
        *(dg.AssetCheckKey(asset_key(action, translator), RECONCILE_CHECK) for action in actions if action.table_name() in tables)
    )
    # Steps wait on Stripe's rate limits, not on the CPU: more of them than cores, each forked
    # from a process that has imported the project already (policies.STEPS_AT_ONCE). Run config,
    # so that the launchpad shows it and a user can change it; Celery has settings of its own.
    execution = {} if executor is not None else {"execution": {"config": {"multiprocess": STEP_PROCESSES}}}
    full_sync = dg.define_asset_job(
        FULL_SYNC_JOB,
        selection=selection - reconciled,
        config=execution or None,
        description="Bring the chosen Stripe tables (STRIPE_OBJECTS) up to date: a backfill the first time, "
        "then the events since the last run.",
    )
    reconcile = dg.define_asset_job(
        RECONCILE_JOB,
        selection=selection,
        config={"ops": {asset.op.name: {"config": {"reconcile": True}} for asset in assets if set(asset.keys) & set(keys)}, **execution},
        description="Bring the chosen tables up to date, then relist all IDs to catch deletions that no event reported.",
    )
    automation: list[dg.SensorDefinition] = []
    if any(action.table_name() in INPUT_TABLES for action in actions):
        metrics = build_metric_assets(actions, translator, problem=problem)
        assets, automation = [*assets, metrics], [build_metrics_automation(metrics)]
    return dg.Definitions(
        assets=with_freshness(assets, keys, freshness),
        asset_checks=build_reference_checks(actions, translator, problem),
        jobs=[full_sync, reconcile, build_id_sync_job(actions, translator, problem)],
        schedules=[
            _schedule("stripe_daily_full_sync", full_sync, "0 3 * * *", status),
            _schedule("stripe_weekly_reconcile", reconcile, "0 4 * * 0", status),
        ],
        sensors=[build_events_sensor(actions, full_sync, poll_seconds, translator, tables, problem), *automation],
        resources={
            "stripe_api": StripeResource(api_key=_api_key()),
            "warehouse": WarehouseResource(),
        },
        executor=executor,
    )


def _setting(problems: list[ConfigurationError], read: Callable[[], T], default: T) -> T:
    """A setting the code location is built from, or `default` where it is bad (noted in `problems`)."""
    try:
        return read()
    except ConfigurationError as error:
        problems.append(error)
        return default


def _api_key() -> dg.EnvVar | None:
    """Bound with dg.EnvVar, so that the key never enters run config or the UI. When it is not
    set, the resource stays unbound and reads STRIPE_API_KEY when a run starts: a missing key then
    fails with our message, which says what to set and where, instead of Dagster's generic one."""
    return dg.EnvVar("STRIPE_API_KEY") if os.environ.get("STRIPE_API_KEY") else None
