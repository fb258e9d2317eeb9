"""The distributed deployment (deploy/): Dagster's Celery executor, three workers as processes of
their own, RabbitMQ as the broker, Redis for results, the Dagster instance in PostgreSQL and the
warehouse in PostgreSQL. One full sync of the default tables goes through the workers while one
of them is killed with SIGKILL mid-step; then the account changes and a second run follows the
events. Checked: the tables equal the emulator, the request rate the emulator saw never passed
the shared budget, the killed worker's step was done again elsewhere and no sync lock was left.

It makes what it uses and drops it afterwards: a RabbitMQ vhost (rabbitmqctl, as root), a Redis
key prefix, a PostgreSQL database for the instance and a schema for the warehouse, all named
test_<random>. Without RabbitMQ or Redis it skips, saying why; under CI (CI=true) it fails.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from stripe_emulator.resources import RESOURCE_BY_OBJECT
from stripe_pipeline.actions import ALL_ACTIONS
from stripe_pipeline.dagster_defs.factory import FULL_SYNC_JOB
from stripe_pipeline.dagster_defs.selection import default_tables, with_children
from stripe_pipeline.policies import BUDGET_LATE_SLOTS, BUDGET_SPACING_MARGIN
from stripe_pipeline.warehouse import Warehouse

from .celery_cluster import Cluster, finished_steps, steps_by_worker, tail
from .conftest import POSTGRES_URL

RABBITMQ_URL = os.environ.get("TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
WORKERS = ("w1", "w2", "w3")
BUDGET = 20  # requests per second, shared by every worker through the warehouse
SEED = {
    "customer": 6_000,
    "product": 30,
    "price": 60,
    "coupon": 20,
    "promotion_code": 20,
    "tax_rate": 10,
    "subscription": 1_500,
    "subscription_schedule": 40,
    "invoice": 2_000,
    "invoiceitem": 300,
    "invoice_payment": 300,
    "credit_note": 60,
    "quote": 40,
    "charge": 1_500,
    "payment_intent": 1_500,
    "setup_intent": 200,
    "refund": 200,
    "dispute": 30,
    "balance_transaction": 1_500,
    "payout": 60,
    "checkout.session": 100,
}
KILLED_STEP = "customers"  # the longest backfill: its worker is killed in the middle of it
RUN_TIMEOUT_SECONDS = 240


def _unavailable(what: str) -> None:
    message = f"The Celery deployment test needs {what}"
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _module(name: str):
    try:
        return importlib.import_module(name)
    except ImportError:
        _unavailable(f"the package {name} (pip install -e '.[celery]')")


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), timeout=2).close()
        return True
    except OSError:
        return False


@pytest.fixture
def broker_url():
    """A RabbitMQ vhost of this test's own: its queues and exchanges go when it goes."""
    if not _reachable(RABBITMQ_URL, 5672):
        _unavailable(f"RabbitMQ at {RABBITMQ_URL} (set TEST_RABBITMQ_URL)")
    if shutil.which("rabbitmqctl") is None:
        _unavailable("rabbitmqctl, to make a vhost of its own (run as root, beside the broker)")
    vhost, user = f"test_{uuid.uuid4().hex[:12]}", urlsplit(RABBITMQ_URL).username or "guest"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True, capture_output=True)
    try:
        subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", vhost, user, ".*", ".*", ".*"], check=True, capture_output=True)
        yield f"{RABBITMQ_URL.rstrip('/')}/{vhost}"
    finally:
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], check=True, capture_output=True)


@pytest.fixture
def redis_prefix():
    """A key prefix of this test's own in Redis; its keys are deleted afterwards."""
    redis = _module("redis")
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        _unavailable(f"Redis at {REDIS_URL} (set TEST_REDIS_URL)")
    prefix = f"test_{uuid.uuid4().hex[:12]}:"
    yield prefix
    for key in client.scan_iter(match=f"{prefix}*"):
        client.delete(key)
    client.close()


@pytest.fixture
def dagster_pg_url(postgres_engine):
    """A PostgreSQL database for the Dagster instance (runs, events, schedules), dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    autocommit = postgres_engine.execution_options(isolation_level="AUTOCOMMIT")
    with autocommit.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    # psycopg2, as deploy/dagster.yaml says: dagster-postgres's NOTIFY needs it.
    yield postgres_engine.url.set(drivername="postgresql+psycopg2", database=name).render_as_string(hide_password=False)
    with autocommit.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def cluster(tmp_path, monkeypatch, make_emulator, broker_url, redis_prefix, dagster_pg_url, postgres_schema):
    _module("dagster_celery")
    emulator = make_emulator(SEED)
    env = {
        **{name: value for name, value in os.environ.items() if not name.startswith(("STRIPE_", "WAREHOUSE_", "DAGSTER_"))},
        "DAGSTER_PG_URL": dagster_pg_url,
        "DAGSTER_CELERY_BROKER_URL": broker_url,
        "DAGSTER_CELERY_BACKEND_URL": REDIS_URL,
        "STRIPE_API_KEY": emulator.api_key,
        "STRIPE_API_BASE": emulator.base_url,
        "STRIPE_REQUESTS_PER_SECOND": str(BUDGET),
        "WAREHOUSE_URL": POSTGRES_URL,
        "WAREHOUSE_SCHEMA": postgres_schema,
    }
    cluster = Cluster.create(tmp_path / "dagster_home", env, redis_prefix, emulator)
    monkeypatch.setenv("DAGSTER_PG_URL", dagster_pg_url)  # the instance this process reads runs from
    try:
        yield cluster
    finally:
        cluster.stop()


def _expected(store, action) -> dict[str, dict]:
    """The emulator's objects of a table, as `_raw` keeps them (secret fields blanked)."""
    objects = {child["id"]: child for children in store.children.get(action.table_name(), {}).values() for child in children}
    resource = RESOURCE_BY_OBJECT.get(action.object_name())
    if resource is not None and resource.path in store.collections:
        objects.update(store.collections[resource.path].objects)
    return {i: {**obj, **{name: None for name in action.redacted_fields if name in obj}} for i, obj in objects.items()}


def _default_actions() -> list:
    """The actions of every table the default full sync writes, child tables included."""
    tables = default_tables(ALL_ACTIONS)
    return [action for action in with_children(ALL_ACTIONS) if action.table_name() in tables]


def _differences(emulator, warehouse: Warehouse) -> dict[str, int]:
    """Per default table, the live IDs missing or extra, and the rows whose `_raw` is not the object."""
    wrong = {}
    with warehouse.engine.connect() as connection:
        for action in _default_actions():
            table = action.table()
            live = {
                row.id: row._raw for row in connection.execute(sa.select(table.c.id, table.c._raw).where(table.c._deleted_at.is_(None)))
            }
            expected = _expected(emulator.store, action)
            wrong[action.table_name()] = len(set(live) ^ set(expected)) + sum(live[i] != obj for i, obj in expected.items() if i in live)
    return wrong


def _wait(process: subprocess.Popen, cluster: Cluster, what: str) -> int:
    try:
        return process.wait(timeout=RUN_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        logs = "\n".join(f"--- {name}\n{tail(cluster.home / f'{name}.log')}" for name in WORKERS)
        pytest.fail(f"{what} did not finish in {RUN_TIMEOUT_SECONDS} s\n{logs}")


def _kill_mid_step(cluster: Cluster, run: subprocess.Popen) -> str:
    """Wait until a worker is well into KILLED_STEP's backfill, then SIGKILL that worker."""
    instance, log = cluster.instance(), cluster.emulator.requests
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while time.monotonic() < deadline and run.poll() is None:
        runs = instance.get_runs()
        if runs and log.by_route["GET /v1/customers"] >= 15:
            run_id = runs[0].run_id
            busy = [worker for step, worker in steps_by_worker(instance, run_id) if step == KILLED_STEP]
            if busy and KILLED_STEP not in finished_steps(instance, run_id):
                cluster.kill_worker(busy[-1])
                return busy[-1]
        time.sleep(0.1)
    pytest.fail(f"{KILLED_STEP} never ran long enough to be killed (run exit {run.poll()})")


def _no_lock_held(warehouse: Warehouse) -> None:
    def held(_seconds: float) -> None:
        raise AssertionError("a sync lock is still held after the runs ended")

    for table in default_tables(ALL_ACTIONS):
        with warehouse.sync_lock(table, None, held):
            pass


def test_the_celery_location_takes_the_workers_settings(monkeypatch, tmp_path):
    """The code location and the workers read one file; without it the location says what to set."""
    _module("dagster_celery")
    from stripe_pipeline import celery_definitions
    from stripe_pipeline.settings import ConfigurationError

    monkeypatch.delenv(celery_definitions.CONFIG_VARIABLE, raising=False)
    with pytest.raises(ConfigurationError, match="DAGSTER_CELERY_CONFIG is not set"):
        celery_definitions.celery_config()
    (tmp_path / "empty.yaml").write_text("execution: {}\n")
    with pytest.raises(ConfigurationError, match="no `execution: config:` block"):
        celery_definitions.celery_config(str(tmp_path / "empty.yaml"))
    shipped = str(Path(__file__).resolve().parents[2] / "deploy" / "celery.yaml")
    config = celery_definitions.celery_config(shipped)
    assert config["broker"] == {"env": "DAGSTER_CELERY_BROKER_URL"} and config["config_source"]["task_acks_late"] is True
    monkeypatch.setenv(celery_definitions.CONFIG_VARIABLE, shipped)
    celery_definitions.load_definitions.cache_clear()
    defs = celery_definitions.defs()
    jobs = (FULL_SYNC_JOB, "stripe_reconcile", "stripe_sync_by_ids")
    assert {defs.resolve_job_def(name).executor_def.name for name in jobs} == {"celery"}
    celery_definitions.load_definitions.cache_clear()
    from stripe_pipeline.definitions import defs as plain_defs

    plain = plain_defs()
    assert plain.resolve_job_def(FULL_SYNC_JOB).executor_def.name == "multi_or_in_process_executor"


def test_celery_workers_sync_within_the_budget_and_survive_a_killed_worker(cluster):
    emulator = cluster.emulator
    for name in WORKERS:
        cluster.start_worker(name)
    started = time.monotonic()
    run = cluster.launch(FULL_SYNC_JOB)
    killed = _kill_mid_step(cluster, run)
    first_exit = _wait(run, cluster, "the run whose worker was killed")
    first_seconds = time.monotonic() - started
    first_requests = emulator.requests.total
    # 60 pages of customers; a backfill that started again after the kill would list far more.
    customer_requests = emulator.requests.by_route["GET /v1/customers"]

    instance = cluster.instance()
    # deploy/dagster.yaml as shipped: everything Dagster keeps is in PostgreSQL.
    assert {type(storage).__name__ for storage in (instance.run_storage, instance.event_log_storage, instance.schedule_storage)} == {
        "PostgresRunStorage",
        "PostgresEventLogStorage",
        "PostgresScheduleStorage",
    }
    assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    first_run = instance.get_runs()[0]
    began = steps_by_worker(instance, first_run.run_id)
    # RabbitMQ gave the killed worker's unacknowledged step to another worker (task_acks_late),
    # which resumed the backfill from the warehouse's checkpoint: the same run succeeded.
    assert first_exit == 0, tail(sorted(cluster.home.glob("run-*.log"))[-1])
    assert [worker for step, worker in began if step == KILLED_STEP][-1] != killed
    warehouse = Warehouse(POSTGRES_URL, cluster.env["WAREHOUSE_SCHEMA"])
    wrong = _differences(emulator, warehouse)
    assert wrong == dict.fromkeys(wrong, 0)

    # The account changes; the next run reads the events, on the two workers left.
    store = emulator.store
    created = store.create("customer", name="After the kill")
    store.update(next(iter(store.collections["invoices"].objects)), metadata={"seen": "second run"})
    store.delete(next(i for i in store.collections["customers"].objects if i != created["id"]))
    second_started = time.monotonic()
    second = cluster.launch(FULL_SYNC_JOB)
    assert _wait(second, cluster, "the run after the kill") == 0
    second_seconds = time.monotonic() - second_started

    wrong = _differences(emulator, warehouse)
    assert wrong == dict.fromkeys(wrong, 0)
    _no_lock_held(warehouse)
    with warehouse.engine.connect() as connection:
        state = sa.text(f'SELECT count(*) FROM "{warehouse.schema}"._stripe_sync_state WHERE backfill IS NOT NULL')
        assert connection.scalar(state) == 0  # no backfill left half done

    # The rate at the emulator, in every sliding one-second window, over both runs. A slot may
    # be used up to BUDGET_LATE_SLOTS slots late (stripe_api/budget.py), so a window may hold the
    # requests of that many slots before it on top of the budget's spacing.
    log = emulator.requests
    allowed = int(BUDGET / BUDGET_SPACING_MARGIN) + BUDGET_LATE_SLOTS + 1
    peak = log.max_in_any_window(1.0, which="all")
    seconds = sorted(log.per_second(which="all"))
    objects = sum(len(_expected(store, action)) for action in _default_actions())
    figures = {
        "workers": len(WORKERS),
        "killed_worker": killed,
        "steps": len({step for step, _ in began}),
        "objects": objects,
        "first_run_seconds": round(first_seconds, 1),
        "objects_per_second": round(objects / first_seconds, 1),
        "first_run_requests": first_requests,
        "requests_per_second_mean": round(first_requests / first_seconds, 1),
        "requests_per_second_busiest_window": peak,
        "budget": BUDGET,
        "second_run_seconds": round(second_seconds, 1),
        "second_run_requests": log.total - first_requests,
        "customer_list_requests_first_run": customer_requests,
        "active_seconds": seconds[-1] - seconds[0] + 1,
    }
    print("celery figures:", json.dumps(figures))
    assert peak <= allowed, figures
    assert log.total / (seconds[-1] - seconds[0] + 1) <= BUDGET, figures
