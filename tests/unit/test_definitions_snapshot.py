"""What the code location shows in Dagster's UI, compared with a committed snapshot
(tests/snapshots/definitions.json): assets (group, kinds, owners, tags, deps, freshness, pools,
automation condition, checks), jobs (their assets and checks, or ops), schedules and sensors.

A change users would see fails here with a diff, so that it is made on purpose: review the
diff, then run the command the failure prints to write the new snapshot and commit it.

The definitions are built through the entry point Dagster's loaders call
(`stripe_pipeline.definitions.defs`) with every variable of settings.Settings unset: the
snapshot is what a deployment with no settings sees (kind tag `sqlite`, the default tables,
schedules stopped, 26 h freshness, a 60 s events sensor), whatever the shell running the test sets.
"""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from stripe_pipeline import definitions
from stripe_pipeline.settings import Settings

ROOT = Path(__file__).parents[2]
SNAPSHOT = ROOT / "tests" / "snapshots" / "definitions.json"
UPDATE_VARIABLE = "UPDATE_SNAPSHOTS"
UPDATE_COMMAND = f"{UPDATE_VARIABLE}=1 python -m pytest tests/unit/test_definitions_snapshot.py"


@pytest.fixture
def defaults_only(monkeypatch):
    """No setting from the environment, and a fresh build (the cached one may have read some)."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    definitions.load_definitions.cache_clear()
    yield
    definitions.load_definitions.cache_clear()


def _keys(keys) -> list[str]:
    return sorted(key.to_user_string() for key in keys)


def _checks(keys) -> list[str]:
    return sorted(f"{key.asset_key.to_user_string()}:{key.name}" for key in keys)


def _automation(condition: dg.AutomationCondition | None) -> str | None:
    if condition is None:
        return None
    label = condition.get_label()
    return f"{type(condition).__name__}: {label}" if label else type(condition).__name__


def _freshness(policy: dg.FreshnessPolicy | None) -> str | None:
    fail_window = getattr(policy, "fail_window", None)  # a time window's; other kinds as Dagster prints them
    if fail_window is not None:
        return f"fail after {fail_window.to_timedelta().total_seconds() / 3600:g} h"
    return None if policy is None else repr(policy)


def _assets(defs: dg.Definitions) -> dict[str, Any]:
    graph = defs.resolve_asset_graph()
    rendered = {}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        rendered[key.to_user_string()] = {
            "group": node.group_name,
            "kinds": sorted(node.kinds),
            "owners": sorted(node.owners),
            # The kinds above are Dagster's `dagster/kind/…` tags already.
            "tags": {name: value for name, value in sorted(node.tags.items()) if not name.startswith("dagster/kind/")},
            "deps": _keys(node.parent_keys),
            "freshness": _freshness(node.freshness_policy),
            "pools": sorted(node.pools or ()),
            "automation_condition": _automation(node.automation_condition),
            "checks": sorted(check.name for check in node.check_keys),
        }
    return dict(sorted(rendered.items()))


def _jobs(defs: dg.Definitions) -> dict[str, Any]:
    rendered = {}
    for name in sorted(job.name for job in defs.jobs or ()):
        job = defs.resolve_job_def(name)
        assets = job.asset_layer.selected_asset_keys
        if assets:
            layer_graph = job.asset_layer.asset_graph
            rendered[name] = {"assets": _keys(assets), "checks": _checks(layer_graph.asset_check_keys)}
        else:
            rendered[name] = {"ops": sorted(node.name for node in job.graph.nodes)}
    return rendered


def _schedules(defs: dg.Definitions) -> dict[str, Any]:
    rendered = {}
    for name in sorted(schedule.name for schedule in defs.schedules or ()):
        schedule = defs.resolve_schedule_def(name)
        rendered[name] = {
            "cron": schedule.cron_schedule,
            "timezone": schedule.execution_timezone,
            "job": schedule.job_name,
            "default_status": schedule.default_status.value,
        }
    return rendered


def _sensors(defs: dg.Definitions) -> dict[str, Any]:
    graph = defs.resolve_asset_graph()
    rendered: dict[str, Any] = {}
    for sensor in sorted(defs.sensors or (), key=lambda s: s.name):
        target: dict[str, Any] = {"jobs": sorted(job.name for job in sensor.jobs)} if sensor.has_jobs else {}
        if sensor.asset_selection is not None:
            target["assets"] = _keys(sensor.asset_selection.resolve(graph))
        rendered[sensor.name] = {
            "type": type(sensor).__name__,
            **target,
            "minimum_interval_seconds": sensor.minimum_interval_seconds,
            "default_status": sensor.default_status.value,
        }
    return rendered


def _json(value: Any, indent: str = "") -> str:
    """JSON with a line per field, and a short list on its field's line: a diff names the
    asset and field that changed, and the file stays a few lines per asset."""
    inline = json.dumps(value, ensure_ascii=False)
    if not isinstance(value, (dict, list)) or len(inline) <= 100:
        return inline
    inner = indent + " "
    if isinstance(value, list):
        items = [inner + _json(item, inner) for item in value]
        return "[\n" + ",\n".join(items) + f"\n{indent}]"
    fields = [f"{inner}{json.dumps(name, ensure_ascii=False)}: {_json(item, inner)}" for name, item in value.items()]
    return "{\n" + ",\n".join(fields) + f"\n{indent}}}"


def render(defs: dg.Definitions) -> str:
    """The definitions as users see them, as sorted JSON."""
    document = {
        "assets": _assets(defs),
        "jobs": _jobs(defs),
        "schedules": _schedules(defs),
        "sensors": _sensors(defs),
        "resources": sorted(defs.resources or {}),
    }
    return _json(document) + "\n"


def test_the_definitions_users_see_match_the_snapshot(defaults_only):
    rendered = render(definitions.defs())
    if os.environ.get(UPDATE_VARIABLE) == "1":
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(rendered, encoding="utf-8")
    expected = SNAPSHOT.read_text(encoding="utf-8") if SNAPSHOT.is_file() else ""
    if rendered != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True), rendered.splitlines(keepends=True), "committed snapshot", "these definitions"
            )
        )
        pytest.fail(
            f"The definitions users see differ from {SNAPSHOT.relative_to(ROOT)}.\n"
            f"If the change is meant, update the snapshot and commit it:\n    {UPDATE_COMMAND}\n\n{diff}",
            pytrace=False,
        )
