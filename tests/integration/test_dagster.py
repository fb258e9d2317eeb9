"""The Dagster layer: definitions, every asset, the ID job, and the code location in the webserver."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import requests
import yaml

from stripe_pipeline.actions import ALL_ACTIONS, HAND_WRITTEN, StripeCouponAction, StripeCustomerAction
from stripe_pipeline.dagster_defs.factory import FULL_SYNC_JOB, build_assets
from stripe_pipeline.dagster_defs.id_sync import ID_SYNC_JOB, build_id_sync_job
from stripe_pipeline.dagster_defs.selection import default_tables
from stripe_pipeline.models import MODELS
from stripe_pipeline.warehouse import Warehouse

from .conftest import dagster_resources, table_rows

ROOT = Path(__file__).resolve().parents[2]
CONTRACT_TABLES = {
    "customers",
    "products",
    "prices",
    "coupons",
    "subscriptions",
    "subscription_items",
    "invoices",
    "invoice_line_items",
    "charges",
    "payment_intents",
    "balance_transactions",
}


def test_definitions_load_with_the_contracted_names():
    from stripe_pipeline.definitions import load_definitions

    defs = load_definitions()
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert keys >= {f"stripe/{t}" for t in CONTRACT_TABLES} and len(keys) >= 80
    assert keys >= {f"stripe_metrics/{t}" for t in ("mrr_daily", "mrr_by_customer", "churn_monthly", "revenue_monthly", "cohort_retention")}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if key.path[0] == "stripe_metrics":  # computed from the warehouse, no Stripe request
            assert node.group_name == "stripe_metrics" and "pandas" in node.kinds and not node.pools
            continue
        assert node.group_name.startswith("stripe_") and node.tags["stripe/area"] == node.group_name.removeprefix("stripe_")
        assert "stripe" in node.kinds and node.pools == {"stripe_api"}
        assert defs.resolve_assets_def(key).op.retry_policy.max_retries >= 1
    assert defs.resolve_job_def(FULL_SYNC_JOB) and defs.resolve_job_def(ID_SYNC_JOB)
    assert defs.resolve_schedule_def("stripe_daily_full_sync").cron_schedule == "0 3 * * *"


def test_schedules_are_stopped_until_the_deployment_asks_for_them(monkeypatch):
    from stripe_pipeline.dagster_defs.factory import build_definitions

    names = ("stripe_daily_full_sync", "stripe_weekly_reconcile")
    monkeypatch.delenv("STRIPE_SCHEDULES", raising=False)
    defs = build_definitions(HAND_WRITTEN)
    assert {defs.resolve_schedule_def(n).default_status for n in names} == {dg.DefaultScheduleStatus.STOPPED}
    monkeypatch.setenv("STRIPE_SCHEDULES", "Running")
    defs = build_definitions(HAND_WRITTEN)
    assert {defs.resolve_schedule_def(n).default_status for n in names} == {dg.DefaultScheduleStatus.RUNNING}
    assert (
        build_definitions(HAND_WRITTEN, schedules="stopped").resolve_schedule_def(names[0]).default_status
        == dg.DefaultScheduleStatus.STOPPED
    )
    monkeypatch.setenv("STRIPE_SCHEDULES", "on")  # a bad value: stopped, and every run says why (below)
    assert build_definitions(HAND_WRITTEN).resolve_schedule_def(names[0]).default_status == dg.DefaultScheduleStatus.STOPPED


def test_the_chosen_tables_turn_stale_after_the_freshness_window(monkeypatch):
    from datetime import timedelta

    from stripe_pipeline.dagster_defs.factory import build_definitions

    monkeypatch.setenv("STRIPE_OBJECTS", "customers,invoices")
    monkeypatch.setenv("STRIPE_FRESHNESS_HOURS", "6.5")
    graph = build_definitions(HAND_WRITTEN).resolve_asset_graph()
    windows = {key.path[-1]: graph.get(key).freshness_policy for key in graph.get_all_asset_keys() if key.path[0] == "stripe"}
    assert windows["customers"].fail_window.to_timedelta() == windows["invoices"].fail_window.to_timedelta() == timedelta(hours=6.5)
    assert windows["prices"] is None  # not chosen: no schedule keeps it fresh


def test_bad_settings_do_not_take_the_code_location_down_and_every_run_fails_with_one_line(emulator, tmp_path, monkeypatch):
    """A bad value in `.env` used to fail the code location's load, its message buried in a
    traceback. The location loads with defaults; every run fails at once with the one line."""
    from stripe_pipeline.dagster_defs.factory import build_definitions

    monkeypatch.setenv("STRIPE_API_KEY", emulator.api_key)
    monkeypatch.setenv("STRIPE_API_BASE", emulator.base_url)
    monkeypatch.setenv("WAREHOUSE_URL", "notaurl")
    monkeypatch.setenv("STRIPE_OBJECTS", "custmers")
    monkeypatch.setenv("STRIPE_FRESHNESS_HOURS", "-1")
    defs = build_definitions(HAND_WRITTEN, retry_policy=None)
    assert defs.resolve_job_def(FULL_SYNC_JOB) and defs.resolve_sensor_def("stripe_events_sensor")
    job = defs.resolve_implicit_global_asset_job_def()
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(instance=instance, asset_selection=[dg.AssetKey(["stripe", "customers"])], raise_on_error=False)
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    message = failure.step_failure_data.user_failure_data.description
    assert message.startswith("ConfigurationError: ") and "\n" not in message
    for said in ("WAREHOUSE_URL is not a database URL", "STRIPE_OBJECTS names 'custmers'", "customers", "STRIPE_FRESHNESS_HOURS"):
        assert said in message
    assert [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY] == []


def test_importing_the_code_location_reads_no_environment():
    """A bad variable is read when the definitions are built, by its name, not when the package
    is imported; and it does not stop them from being built (every run reports it instead)."""
    probe = "import stripe_pipeline.definitions as location\nprint('imported')\nprint(type(location.defs()).__name__)\n"
    env = {**os.environ, "STRIPE_EVENTS_POLL_SECONDS": "soon"}
    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.stdout.splitlines() == ["imported", "Definitions"], result.stderr
    assert "STRIPE_EVENTS_POLL_SECONDS must be a whole number of seconds, not 'soon'" in result.stderr  # logged when built


def test_every_asset_materializes_with_table_metadata(emulator, warehouse_config):
    assets = build_assets(HAND_WRITTEN, retry_policy=None)
    result = dg.materialize(assets, resources=dagster_resources(emulator, warehouse_config))
    assert result.success
    warehouse = Warehouse(warehouse_config["url"], warehouse_config["schema"] or None)
    counts = emulator.store.counts()
    for action in HAND_WRITTEN:
        [event] = [e for e in result.get_asset_materialization_events() if e.asset_key.path[-1] == action.table_name()]
        metadata = event.materialization.metadata
        assert metadata["dagster/row_count"].value == counts[action.table_name()] > 0
        assert metadata["dagster/table_name"].value == warehouse.qualified_name(action.table())
        assert {c.name for c in metadata["dagster/column_schema"].value.columns} >= {"id", "_raw", "_synced_at", "_deleted_at", "_account"}
        assert metadata["fetched"].value == metadata["inserted"].value == counts[action.table_name()]
        assert metadata["api_requests"].value >= 1
        assert len(table_rows(warehouse, action.table())) == counts[action.table_name()]


def test_a_bad_key_fails_once_with_a_clear_message_and_no_key(emulator, warehouse_config):
    bad_key = "sk_live_51BadKeyThatMustNeverBePrinted4242"
    [asset] = build_assets([StripeCustomerAction])
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [asset], resources=dagster_resources(emulator, warehouse_config, bad_key), instance=instance, raise_on_error=False
        )
        assert not result.success
        logs = " ".join(str(record.dagster_event or record.user_message) for record in instance.all_logs(result.run_id))
    assert "rejected the API key" in logs
    assert bad_key not in logs and bad_key[-4:] not in logs
    assert emulator.requests.by_status[401] == 1  # allow_retries=False: no retry storm on a bad key


def _run_id_job(emulator, warehouse_config, **config):
    job = build_id_sync_job(ALL_ACTIONS)
    return job.execute_in_process(
        run_config={"ops": {"sync_stripe_ids": {"config": config}}},
        resources=dagster_resources(emulator, warehouse_config),
        raise_on_error=False,
    )


def test_id_job_syncs_known_ids_and_reports_the_rest_per_id(emulator, warehouse_config):
    customer = next(iter(emulator.store.collections["customers"].objects))
    subscription = next(iter(emulator.store.collections["subscriptions"].objects))
    invoice = next(iter(emulator.store.collections["invoices"].objects))
    result = _run_id_job(emulator, warehouse_config, ids=[customer, subscription, invoice, "xyz_123", "cus_missing0000"], related=False)

    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    not_synced = failure.step_failure_data.user_failure_data.metadata["not_synced"].value
    assert set(not_synced) == {"xyz_123", "cus_missing0000"}
    assert "prefix" in not_synced["xyz_123"] and "no customer" in not_synced["cus_missing0000"]
    warehouse = Warehouse(warehouse_config["url"], warehouse_config["schema"] or None)
    for action_table, object_id in (("customers", customer), ("subscriptions", subscription), ("invoices", invoice)):
        action = next(a for a in ALL_ACTIONS if a.table_name() == action_table)
        assert set(table_rows(warehouse, action.table())) == {object_id}
    # Never backfilled: observations that say the tables are partial, not materializations.
    assert not result.asset_materializations_for_node("sync_stripe_ids")
    observed = {
        e.asset_key.to_user_string(): e.asset_observation_data.asset_observation.metadata
        for e in result.all_events
        if e.event_type == dg.DagsterEventType.ASSET_OBSERVATION
    }
    assert set(observed) == {"stripe/customers", "stripe/subscriptions", "stripe/invoices"}
    assert all("not been backfilled" in metadata["partial"].value for metadata in observed.values())


def test_id_job_fetches_what_the_synced_objects_refer_to_in_batches(emulator, warehouse_config):
    charges = [c for c in emulator.store.collections["charges"].objects.values() if c["customer"] and c["payment_intent"]][:5]
    emulator.requests.reset()
    result = _run_id_job(emulator, warehouse_config, ids=[charge["id"] for charge in charges])
    assert result.success
    warehouse = Warehouse(warehouse_config["url"], warehouse_config["schema"] or None)
    customers = {charge["customer"] for charge in charges}
    intents = {charge["payment_intent"] for charge in charges}
    assert set(table_rows(warehouse, StripeCustomerAction.table())) == customers
    assert set(table_rows(warehouse, ALL_ACTIONS[[a.object_name() for a in ALL_ACTIONS].index("payment_intent")].table())) == intents
    # One retrieve per object: none twice, nothing it does not need.
    assert emulator.requests.by_route["GET /v1/customers/:id"] == len(customers)
    assert emulator.requests.by_route["GET /v1/payment_intents/:id"] == len(intents)
    observed = {e.asset_key.to_user_string() for e in result.all_events if e.event_type == dg.DagsterEventType.ASSET_OBSERVATION}
    assert {"stripe/charges", "stripe/customers", "stripe/payment_intents"} <= observed


def test_id_job_with_an_explicit_type(emulator, warehouse_config):
    coupon = next(iter(emulator.store.collections["coupons"].objects))
    result = _run_id_job(emulator, warehouse_config, ids=[coupon], object_type="coupon")
    assert result.success and result.output_for_node("sync_stripe_ids") == {"coupons": [coupon]}
    warehouse = Warehouse(warehouse_config["url"], warehouse_config["schema"] or None)
    assert set(table_rows(warehouse, StripeCouponAction.table())) == {coupon}


def test_id_job_rejects_an_unknown_type(emulator, warehouse_config):
    result = _run_id_job(emulator, warehouse_config, ids=["abc"], object_type="spaceship")
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    assert "Unknown object type 'spaceship'" in failure.step_failure_data.error.message


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli_env(tmp_path, emulator, **extra) -> dict[str, str]:
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    return {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "STRIPE_API_KEY": emulator.api_key,
        "STRIPE_API_BASE": emulator.base_url,
        "WAREHOUSE_URL": f"sqlite:///{tmp_path / 'warehouse.db'}",
        **extra,
    }


def test_full_sync_job_in_separate_processes_into_sqlite(emulator, tmp_path):
    """The CLI runs the job with Dagster's multiprocess executor: one process per asset, one SQLite file.
    STRIPE_OBJECTS narrows the job: the default set is 21 processes, a minute on two cores."""
    env = _cli_env(tmp_path, emulator, STRIPE_OBJECTS="customers, billing_meters,invoices, payment_intents,charges")
    bin_dir = Path(sys.executable).parent
    subprocess.run(
        [bin_dir / "dagster", "job", "execute", "-m", "stripe_pipeline.definitions", "-j", FULL_SYNC_JOB],
        cwd=tmp_path,
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    warehouse = Warehouse(env["WAREHOUSE_URL"])
    chosen = {"customers", "billing_meters", "invoices", "payment_intents", "charges"}
    assert {table: warehouse.count(MODELS[table].__table__) for table in chosen} == {
        table: emulator.store.table_count(table) for table in chosen
    }
    assert warehouse.count(MODELS["refunds"].__table__) == 0  # not chosen: not synced


def _materialize_customers_with_the_cli(tmp_path, env) -> subprocess.CompletedProcess:
    """`dagster asset materialize -m stripe_pipeline.definitions --select stripe/customers`, as the README says."""
    command = [
        Path(sys.executable).parent / "dagster",
        "asset",
        "materialize",
        "-m",
        "stripe_pipeline.definitions",
        "--select",
        "stripe/customers",
    ]
    return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


def test_contract_cli_materializes_one_asset(emulator, tmp_path):
    env = _cli_env(tmp_path, emulator)
    assert _materialize_customers_with_the_cli(tmp_path, env).returncode == 0
    assert Warehouse(env["WAREHOUSE_URL"]).count(ALL_ACTIONS[0].table()) == len(emulator.store.collections["customers"])


def test_a_missing_key_under_the_cli_says_what_to_set(emulator, tmp_path):
    env = _cli_env(tmp_path, emulator)
    del env["STRIPE_API_KEY"]
    done = _materialize_customers_with_the_cli(tmp_path, env)
    assert done.returncode != 0
    assert "STRIPE_API_KEY is not set. Set it, in the environment of the process that runs the sync" in done.stdout + done.stderr
    assert "STEP_UP_FOR_RETRY" not in done.stdout + done.stderr  # a configuration error is not retried


WORKSPACE_QUERY = """
query { workspaceOrError { __typename
  ... on Workspace { locationEntries { name loadStatus
      locationOrLoadError { __typename ... on PythonError { message } } } }
  ... on PythonError { message } } }
"""


def _serve_and_load(command: list, env: dict) -> dict:
    """Start a Dagster UI with `command` (its port last), wait until its code locations load,
    and return the one location's entry."""
    port = _free_port()
    # A session of its own: `dg dev` and `dagster dev` start children that must go with them.
    server = subprocess.Popen(
        [*command, str(port)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 120
        entries = None
        while time.monotonic() < deadline:
            try:
                response = requests.post(f"http://127.0.0.1:{port}/graphql", json={"query": WORKSPACE_QUERY}, timeout=5)
                workspace = response.json()["data"]["workspaceOrError"]
                entries = workspace.get("locationEntries")
                if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                    break
            except (requests.ConnectionError, ValueError, KeyError):
                pass
            time.sleep(1)
        assert entries, "the webserver never answered"
        [entry] = entries
        return entry
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:  # a loaded machine: its daemon still mid-tick; what was served is checked
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)


def test_webserver_loads_the_code_location(emulator, tmp_path):
    bin_dir = Path(sys.executable).parent
    entry = _serve_and_load(
        [bin_dir / "dagster-webserver", "-w", str(ROOT / "workspace.yaml"), "-h", "127.0.0.1", "-p"], _cli_env(tmp_path, emulator)
    )
    assert entry["name"] == "stripe_pipeline" and entry["loadStatus"] == "LOADED"
    assert entry["locationOrLoadError"]["__typename"] == "RepositoryLocation", json.dumps(entry)


def test_the_dg_cli_checks_lists_and_serves_the_same_code_location(emulator, tmp_path):
    """`dg check defs`, `dg list defs` and `dg dev` read [tool.dg] in pyproject.toml: the same
    module and location name as workspace.yaml and [tool.dagster]."""
    dg_cli = Path(sys.executable).parent / "dg"
    env = {**_cli_env(tmp_path, emulator), "VIRTUAL_ENV": str(Path(sys.executable).parent.parent)}
    checked = subprocess.run([dg_cli, "check", "defs"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert checked.returncode == 0 and "All definitions loaded successfully" in checked.stdout, checked.stdout + checked.stderr
    listed = subprocess.run([dg_cli, "list", "defs", "--json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=True)
    defs = json.loads(listed.stdout)
    keys = {asset["asset_key"] for asset in defs["assets"]}
    assert {f"stripe/{table}" for table in CONTRACT_TABLES} <= keys and "stripe_metrics/mrr_daily" in keys
    assert {job["name"] for job in defs["jobs"]} >= {FULL_SYNC_JOB, ID_SYNC_JOB, "stripe_reconcile"}
    assert {schedule["name"] for schedule in defs["schedules"]} == {"stripe_daily_full_sync", "stripe_weekly_reconcile"}
    workspace = yaml.safe_load((ROOT / "workspace.yaml").read_text())["load_from"][0]["python_module"]
    entry = _serve_and_load([dg_cli, "dev", "--host", "127.0.0.1", "--port"], env)
    assert entry["name"] == workspace["location_name"] == "stripe_pipeline"
    assert entry["locationOrLoadError"]["__typename"] == "RepositoryLocation", json.dumps(entry)


def test_the_demo_backfills_then_syncs_the_changes_from_events(tmp_path):
    """The README's first command, in a folder of its own."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("STRIPE_", "WAREHOUSE_"))}
    demo = subprocess.run(
        [sys.executable, "-m", "stripe_pipeline.demo"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert demo.returncode == 0, demo.stderr[-2000:]
    [customers] = [line.split() for line in demo.stdout.splitlines() if line.strip().startswith("customers")]
    # rows, deleted rows, objects in the emulator, mode of the second run
    assert customers == ["customers", "505", "2", "503", "incremental"]
    rows = {
        line.split()[0]: int(line.split()[1])
        for line in demo.stdout.splitlines()[-60:]
        if line.split() and line.split()[1:2] and line.split()[1].isdigit()
    }
    assert set(rows) == default_tables(ALL_ACTIONS) and all(rows.values()), rows  # every default table filled
    assert (tmp_path / "stripe_demo.db").exists()


def test_a_translator_subclass_changes_every_key_the_location_uses():
    from stripe_pipeline.dagster_defs.factory import build_definitions
    from stripe_pipeline.dagster_defs.translator import StripeAssetTranslator

    class RawStripeKeys(StripeAssetTranslator):
        def get_asset_spec(self, action):
            spec = super().get_asset_spec(action)
            return spec.replace_attributes(key=spec.key.with_prefix("raw"), group_name="raw_stripe")

    defs = build_definitions(ALL_ACTIONS, translator=RawStripeKeys("postgres"), retry_policy=None)
    dg.Definitions.validate_loadable(defs)
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert "raw/stripe/customers" in keys and not any(key.startswith("stripe/") for key in keys)
    job_keys = defs.resolve_job_def(FULL_SYNC_JOB).asset_layer.selected_asset_keys
    assert {key.to_user_string() for key in job_keys} >= {"raw/stripe/invoices", "raw/stripe/invoice_line_items"}


def test_an_automation_condition_from_the_translator_drives_the_syncs():
    from datetime import UTC, datetime, timedelta

    from stripe_pipeline.dagster_defs.factory import build_definitions
    from stripe_pipeline.dagster_defs.translator import StripeAssetTranslator

    translator = StripeAssetTranslator("postgres", automation_condition=dg.AutomationCondition.on_cron("0 */6 * * *"))
    defs = build_definitions(HAND_WRITTEN, translator=translator, retry_policy=None)
    before = datetime(2026, 12, 2, 5, 59, tzinfo=UTC)
    with dg.instance_for_test() as instance:
        tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=before)
        assert tick.total_requested == 0
        tick = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, evaluation_time=before + timedelta(minutes=2), cursor=tick.cursor
        )
        requested = {result.key.to_user_string() for result in tick.results if result.true_subset.size}
        assert {"stripe/customers", "stripe/invoices", "stripe/invoice_line_items"} <= requested
        # Once per cron tick: the next evaluation does not ask again.
        later = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, evaluation_time=before + timedelta(minutes=4), cursor=tick.cursor
        )
        assert later.total_requested == 0


def test_permanent_errors_fail_at_once_without_retries(emulator, tmp_path):
    """An unsupported warehouse and a 400 from Stripe would fail the same way minutes later."""

    class WithAnUnknownFilter(StripeCustomerAction):
        list_params = {"colour": "red"}

    sqlite = {"url": f"sqlite:///{tmp_path / 'w.db'}", "schema": ""}
    cases = [
        (StripeCustomerAction, {"url": "oracle://scott:tiger@127.0.0.1/orcl", "schema": ""}, "Unsupported warehouse"),
        (WithAnUnknownFilter, sqlite, "Received unknown parameter: colour"),
    ]
    for action, warehouse_config, expected in cases:
        [asset] = build_assets([action])
        started = time.monotonic()
        with dg.instance_for_test() as instance:
            result = dg.materialize(
                [asset],
                resources=dagster_resources(emulator, warehouse_config),
                instance=instance,
                raise_on_error=False,
                selection=["stripe/customers"],
            )
            retries = [
                r
                for r in instance.all_logs(result.run_id)
                if r.dagster_event and r.dagster_event.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY
            ]
        assert not result.success and not retries and time.monotonic() - started < 20
        [failure] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
        assert expected in failure.step_failure_data.error.message


def test_id_job_materializes_a_table_that_was_backfilled(emulator, warehouse_config):
    warehouse = Warehouse(warehouse_config["url"], warehouse_config["schema"] or None)
    StripeCouponAction(api_key=emulator.api_key, api_base=emulator.base_url, warehouse=warehouse).sync_incremental()
    coupon = next(iter(emulator.store.collections["coupons"].objects))
    result = _run_id_job(emulator, warehouse_config, ids=[coupon], object_type="coupon")
    assert [m.asset_key.to_user_string() for m in result.asset_materializations_for_node("sync_stripe_ids")] == ["stripe/coupons"]


def test_the_metrics_refresh_without_anyone_starting_a_sensor():
    """Dagster's own automation sensor is stopped on a fresh `dagster dev`: the metrics have one of
    their own, running from the first deploy, that covers them and nothing that calls Stripe."""
    from stripe_pipeline.dagster_defs.factory import build_definitions
    from stripe_pipeline.dagster_defs.metrics import METRICS_AUTOMATION

    defs = build_definitions(ALL_ACTIONS)
    sensor = defs.resolve_sensor_def(METRICS_AUTOMATION)
    assert isinstance(sensor, dg.AutomationConditionSensorDefinition) and sensor.default_status == dg.DefaultSensorStatus.RUNNING
    graph = defs.resolve_asset_graph()
    targets = sensor.asset_selection.resolve(graph)
    assert targets and {key.path[0] for key in targets} == {"stripe_metrics"}
    assert all(graph.get(key).automation_condition is not None for key in targets)
