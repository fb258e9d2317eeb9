"""Real parts only: the emulator over HTTP through the `stripe` package, real SQLite and DuckDB
files, a real PostgreSQL (TEST_POSTGRES_URL, by default the local server on 127.0.0.1:5432), a
real MariaDB or MySQL (TEST_MYSQL_URL, by default the local MariaDB on 127.0.0.1:3306), and
Snowflake and BigQuery through their own clients against local emulators (warehouse_emulators.py)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from stripe_emulator import Emulator
from stripe_pipeline.stripe_api import BackoffPolicy, StripeApiClient
from stripe_pipeline.warehouse import Warehouse

from . import warehouse_emulators

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
# The server only: each test makes a database of its own there, and drops it.
MYSQL_URL = os.environ.get("TEST_MYSQL_URL", "mariadb+pymysql://root@127.0.0.1:3306/")
# Fast retries keep fault tests short; the policy is the same code users run.
FAST_BACKOFF = BackoffPolicy(max_retries=5, base_delay=0.01, max_delay=0.1)


@pytest.fixture
def make_emulator():
    started: list[Emulator] = []

    def make(seed: dict[str, int] | None = None, **options) -> Emulator:
        emulator = Emulator(seed=seed, **options).start()
        started.append(emulator)
        return emulator

    yield make
    for emulator in started:
        emulator.stop()


@pytest.fixture
def emulator(make_emulator) -> Emulator:
    """A small account with every supported type."""
    return make_emulator(
        {"product": 3, "price": 5, "coupon": 4, "customer": 30, "subscription": 40, "invoice": 25, "payment_intent": 20, "charge": 20}
    )


@pytest.fixture
def client_for():
    def make(emulator: Emulator, **options) -> StripeApiClient:
        return StripeApiClient(emulator.api_key, emulator.base_url, backoff=options.pop("backoff", FAST_BACKOFF), **options)

    return make


def _server(url: str, what: str, variable: str) -> sa.Engine:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as error:
        pytest.fail(f"The tests need {what} at {url} (set {variable}): {error.orig}", pytrace=False)
    return engine


@pytest.fixture(scope="session")
def postgres_engine():
    engine = _server(POSTGRES_URL, "PostgreSQL", "TEST_POSTGRES_URL")
    yield engine
    engine.dispose()


# Every warehouse passes these: upserts and reruns, deletes, sync state, the request budget,
# concurrent processes and the end-to-end sync. SQLite and PostgreSQL also run everything else;
# ALL_DIALECTS=1 runs everything on DuckDB and MariaDB too.
WAREHOUSE_CONTRACT = {
    "test_warehouse",
    "test_sync_core",
    "test_incremental",
    "test_budget",
    "test_children",
    "test_poison",
    "test_connect_identity",
    "test_request_cost",
}


@pytest.fixture
def postgres_schema(postgres_engine) -> str:
    """The name of a PostgreSQL schema of the test's own, dropped afterwards."""
    schema = f"test_{uuid.uuid4().hex[:12]}"
    yield schema
    with postgres_engine.begin() as connection:
        connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


@pytest.fixture(scope="session")
def mysql_engine():
    engine = _server(MYSQL_URL, "MariaDB or MySQL", "TEST_MYSQL_URL")
    yield engine
    engine.dispose()


@pytest.fixture
def mysql_database(mysql_engine) -> str:
    """The URL of a new, empty database on the MariaDB or MySQL server, dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    with mysql_engine.begin() as connection:
        connection.execute(sa.text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
    yield mysql_engine.url.set(database=name).render_as_string(hide_password=False)
    with mysql_engine.begin() as connection:
        connection.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))


@pytest.fixture(scope="session")
def fakesnow_port(tmp_path_factory) -> int:
    """fakesnow's server, one per test process: the port of a local Snowflake."""
    # The connector warns of the proxy settings it reads and of the telemetry the emulator does
    # not take: records that tests reading the sync's log would find among its own. Set before
    # its first connection, which reads the level once.
    logging.getLogger("snowflake.connector").setLevel(logging.ERROR)
    with warehouse_emulators.fakesnow(tmp_path_factory.mktemp("fakesnow")) as port:
        yield port


@pytest.fixture
def snowflake_url(fakesnow_port) -> str:
    """A Snowflake database of the test's own, with the tables' schema `stripe` in it; the schema
    is dropped afterwards (fakesnow cannot DROP DATABASE; its in-memory databases end with it)."""
    database = f"test_{uuid.uuid4().hex[:12]}"
    yield warehouse_emulators.new_snowflake_database(fakesnow_port, database)
    with warehouse_emulators.snowflake_connection(fakesnow_port) as connection:
        connection.cursor().execute(f"DROP SCHEMA IF EXISTS {database}.stripe CASCADE")


@pytest.fixture(scope="session")
def bigquery_emulator(tmp_path_factory) -> str:
    """bqemulator, one per test process: its address, as BIGQUERY_EMULATOR_HOST takes it."""
    with warehouse_emulators.bqemulator(tmp_path_factory.mktemp("bqemulator")) as address:
        yield address


def bigquery_client(address: str):
    """google-cloud-bigquery's client at the emulator, to see what a BigQuery user would."""
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    options = ClientOptions(api_endpoint=f"http://{address}")
    return bigquery.Client(project=warehouse_emulators.BIGQUERY_PROJECT, credentials=AnonymousCredentials(), client_options=options)


@pytest.fixture
def bigquery_dataset(bigquery_emulator, monkeypatch) -> str:
    """A dataset of the test's own, dropped afterwards; BIGQUERY_EMULATOR_HOST points Google's
    clients (and the sync's, through them) at the emulator."""
    monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", bigquery_emulator)
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield name
    bigquery_client(bigquery_emulator).delete_dataset(
        f"{warehouse_emulators.BIGQUERY_PROJECT}.{name}", delete_contents=True, not_found_ok=True
    )


# The cloud warehouses run what is theirs: the tables, the sync end to end, deletes and reruns,
# children, poison objects, Connect identity, the metrics and the checks. Their sync state is in a
# SQLite file of the test's (STATE_URL, which they require), so the request budget's and the
# state's modules would test SQLite again.
CLOUD_CONTRACT = (WAREHOUSE_CONTRACT - {"test_budget", "test_request_cost"}) | {"test_metrics", "test_checks"}
# What each warehouse other than SQLite and PostgreSQL runs, unless ALL_DIALECTS is set.
CONTRACT_ONLY = {"duckdb": WAREHOUSE_CONTRACT, "mariadb": WAREHOUSE_CONTRACT, "snowflake": CLOUD_CONTRACT, "bigquery": CLOUD_CONTRACT}


@pytest.fixture(params=["sqlite", "postgresql", "duckdb", "mariadb", "snowflake", "bigquery"])
def warehouse_config(request, tmp_path, monkeypatch) -> dict[str, str]:
    """URL and schema of an empty warehouse: a new SQLite or DuckDB file, a new PostgreSQL
    schema, a new MariaDB database, a new Snowflake database or a new BigQuery dataset."""
    if request.param == "sqlite":
        yield {"url": f"sqlite:///{tmp_path / 'warehouse.db'}", "schema": ""}
        return
    if (
        os.environ.get("ALL_DIALECTS") is None
        and request.param in CONTRACT_ONLY
        and request.module.__name__.rsplit(".", 1)[-1] not in CONTRACT_ONLY[request.param]
    ):
        pytest.skip(f"{request.param} runs the warehouse contract modules (CONTRACT_ONLY), to keep the suite under 15 minutes")
    if request.param in ("snowflake", "bigquery"):
        monkeypatch.setenv("STATE_URL", f"sqlite:///{tmp_path / 'state.db'}")
    if request.param == "snowflake":
        yield {"url": request.getfixturevalue("snowflake_url"), "schema": "stripe"}
        return
    if request.param == "bigquery":
        dataset = request.getfixturevalue("bigquery_dataset")
        yield {"url": f"bigquery://{warehouse_emulators.BIGQUERY_PROJECT}/{dataset}", "schema": ""}
        return
    if request.param == "duckdb":
        yield {"url": f"duckdb:///{tmp_path / 'warehouse.duckdb'}", "schema": ""}
        return
    if request.param == "mariadb":
        yield {"url": request.getfixturevalue("mysql_database"), "schema": ""}
        return
    yield {"url": POSTGRES_URL, "schema": request.getfixturevalue("postgres_schema")}


@pytest.fixture
def warehouse(warehouse_config) -> Warehouse:
    warehouse = Warehouse(warehouse_config["url"], warehouse_config["schema"] or None)
    yield warehouse
    warehouse.engine.dispose()


@pytest.fixture
def stripe_env(monkeypatch, emulator, warehouse_config):
    """The environment a user sets: key, API base and warehouse."""
    monkeypatch.setenv("STRIPE_API_KEY", emulator.api_key)
    monkeypatch.setenv("STRIPE_API_BASE", emulator.base_url)
    monkeypatch.setenv("WAREHOUSE_URL", warehouse_config["url"])
    if warehouse_config["schema"]:
        monkeypatch.setenv("WAREHOUSE_SCHEMA", warehouse_config["schema"])
    return emulator


def user_environment(emulator, tmp_path) -> dict[str, str]:
    """The environment a user sets (key, API base at the emulator, a SQLite warehouse in
    tmp_path) and nothing else of ours: no COLUMNS either, which a pipe does not have."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "WAREHOUSE_")) and k not in ("COLUMNS", "LINES")},
        "STRIPE_API_KEY": emulator.api_key,
        "STRIPE_API_BASE": emulator.base_url,
        "WAREHOUSE_URL": f"sqlite:///{tmp_path / 'warehouse.db'}",
    }


@pytest.fixture
def shell(emulator, tmp_path):
    """The `stripe-pipeline` command in a subprocess, its output piped: `shell(*arguments, VARIABLE=value)`."""
    env = user_environment(emulator, tmp_path)

    def run(*arguments: str, **extra: str) -> subprocess.CompletedProcess:
        command = Path(sys.executable).parent / "stripe-pipeline"
        return subprocess.run([command, *arguments], cwd=tmp_path, env={**env, **extra}, capture_output=True, text=True, timeout=300)

    run.warehouse_url = env["WAREHOUSE_URL"]  # type: ignore[attr-defined]
    return run


def dagster_resources(emulator, warehouse_config, api_key=None) -> dict:
    """The code location's resources, pointed at the emulator and the test's warehouse."""
    from stripe_pipeline.dagster_defs.resources import StripeResource, WarehouseResource

    return {
        "stripe_api": StripeResource(api_key=api_key or emulator.api_key, api_base=emulator.base_url),
        "warehouse": WarehouseResource(url=warehouse_config["url"], schema_name=warehouse_config["schema"] or None),
    }


def table_rows(warehouse: Warehouse, table: sa.Table) -> dict[str, dict]:
    with warehouse.engine.connect() as connection:
        return {row["id"]: dict(row) for row in connection.execute(sa.select(table)).mappings()}
