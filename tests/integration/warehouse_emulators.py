"""The local stand-ins for the cloud warehouses, as server processes: fakesnow for Snowflake and
bqemulator for BigQuery, each run by the Python of its own virtualenv (tests/emulators/install
makes them in .emulators/, or where TEST_EMULATORS says). The tests talk to them only through the
clients users run (snowflake-connector-python with snowflake-sqlalchemy; google-cloud-bigquery
with sqlalchemy-bigquery), which the `test` extra installs.

Without an emulator's environment, or its client, the tests that need it are skipped, and say
how to get it."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVERS = ROOT / "tests" / "emulators"
BIGQUERY_PROJECT = "stripe-pipeline-test"
CLIENTS = {"fakesnow": ("snowflake.connector", "snowflake.sqlalchemy"), "bqemulator": ("google.cloud.bigquery", "sqlalchemy_bigquery")}


def emulator_python(name: str) -> Path:
    """The Python of an emulator's environment, or a skip saying how to make it."""
    for module in CLIENTS[name]:
        try:
            found = importlib.util.find_spec(module)
        except ModuleNotFoundError:
            found = None
        if found is None:
            pytest.skip(f"{module} is not installed: pip install -e '.[test]'")
    python = Path(os.environ.get("TEST_EMULATORS", ROOT / ".emulators")) / name / "bin" / "python"
    if not python.exists():
        pytest.skip(f"{name} is not installed: run tests/emulators/install (CI does)")
    return python


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def _server(command: list, port: int, log: Path, env: dict | None = None, start_seconds: float = 60) -> Iterator[None]:
    with open(log, "w") as output:
        # Not niced: tests of Snowflake's and BigQuery's own timing (a backfill killed mid-way)
        # wait on the emulator, which starved behind the suite's other processes when niced.
        server = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env)
        try:
            deadline = time.monotonic() + start_seconds
            while True:
                if server.poll() is not None:
                    raise RuntimeError(f"{command[1]} exited: {log.read_text()[-2000:]}")
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{command[1]} did not start in {start_seconds:.0f} s: {log.read_text()[-2000:]}") from None
                    time.sleep(0.2)
            yield
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:  # still busy with a statement in its thread pool
                server.kill()
                server.wait()


@contextmanager
def fakesnow(folder: Path) -> Iterator[int]:
    """fakesnow's HTTP server on a free port; its port."""
    python, port = emulator_python("fakesnow"), free_port()
    with _server([python, SERVERS / "fakesnow_server.py", str(port)], port, folder / "fakesnow.log"):
        yield port


def snowflake_connection(port: int):
    """A connection of the real connector to fakesnow on `port`."""
    import snowflake.connector

    return snowflake.connector.connect(user="fake", password="snow", account="fakesnow", host="127.0.0.1", port=port, protocol="http")


def new_snowflake_database(port: int, database: str) -> str:
    """A new database on fakesnow with the tables' schema `stripe` in it; its WAREHOUSE_URL."""
    with snowflake_connection(port) as connection:
        connection.cursor().execute(f"CREATE DATABASE {database}")
        connection.cursor().execute(f"CREATE SCHEMA {database}.stripe")
    return f"snowflake://fake:snow@fakesnow/{database}/stripe?warehouse=test&role=test&host=127.0.0.1&port={port}&protocol=http"


@contextmanager
def bqemulator(folder: Path) -> Iterator[str]:
    """bqemulator on free ports, its home in `folder`; its address (host:port), for
    BIGQUERY_EMULATOR_HOST."""
    python, port = emulator_python("bqemulator"), free_port()
    command = [python, SERVERS / "bqemulator_server.py", "--rest-port", str(port), "--grpc-port", str(free_port())]
    command += ["--project", BIGQUERY_PROJECT, "--log-level", "warning"]
    with _server(command, port, folder / "bqemulator.log", env={**os.environ, "HOME": str(folder)}):
        yield f"127.0.0.1:{port}"
