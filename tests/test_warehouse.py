"""The warehouse layer on real SQLite files and a real PostgreSQL."""

from __future__ import annotations

import multiprocessing
from datetime import datetime, timezone

import pytest

from stripe_pipeline.actions import StripeCustomerAction
from stripe_pipeline.models import StripeCustomer
from stripe_pipeline.warehouse import Warehouse, WarehouseError

WRITERS = 4
ROWS_PER_WRITER = 2_000


def _rows(writer: int) -> list[dict]:
    """Every writer writes the same IDs, half of them in the opposite order: the worst case for locks."""
    now = datetime.now(timezone.utc)
    rows = [
        {"id": f"cus_{n:05d}", "_raw": {"id": f"cus_{n:05d}", "by": writer}, "_synced_at": now, "email": f"{n}@w{writer}.example"}
        for n in range(ROWS_PER_WRITER)
    ]
    return rows[::-1] if writer % 2 else rows


def _write(url: str, schema: str | None, writer: int, start) -> None:
    warehouse = Warehouse(url, schema)
    start.wait()  # every process creates tables and writes at the same moment
    table = StripeCustomer.__table__
    rows = [dict.fromkeys(c.name for c in table.columns) | row for row in _rows(writer)]
    for offset in range(0, len(rows), 250):
        warehouse.upsert(table, rows[offset : offset + 250])


def test_several_processes_create_and_write_at_once(warehouse_config):
    """Dagster runs each asset in its own process: table creation and upserts must not collide
    (SQLite: WAL, busy timeout, BEGIN IMMEDIATE; PostgreSQL: an advisory lock around DDL)."""
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(WRITERS)
    schema = warehouse_config["schema"] or None
    processes = [
        context.Process(target=_write, args=(warehouse_config["url"], schema, writer, start)) for writer in range(WRITERS)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [process.exitcode for process in processes] == [0] * WRITERS
    warehouse = Warehouse(warehouse_config["url"], schema)
    assert warehouse.count(StripeCustomer.__table__) == ROWS_PER_WRITER


def test_sqlite_is_in_wal_mode(tmp_path):
    warehouse = Warehouse(f"sqlite:///{tmp_path / 'w.db'}")
    with warehouse.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 10_000


def test_postgres_tables_live_in_schema_stripe(postgres_engine, monkeypatch, make_emulator, client_for):
    monkeypatch.delenv("WAREHOUSE_SCHEMA", raising=False)
    with postgres_engine.begin() as connection:  # tables of an earlier run may have an older shape
        connection.exec_driver_sql("DROP SCHEMA IF EXISTS stripe CASCADE")
    emulator = make_emulator({"customer": 3})
    warehouse = Warehouse(postgres_engine.url.render_as_string(hide_password=False))
    StripeCustomerAction(client=client_for(emulator), warehouse=warehouse).sync_all()
    assert warehouse.qualified_name(StripeCustomer.__table__) == "stripe.customers"
    with postgres_engine.connect() as connection:
        ids = set(connection.exec_driver_sql("SELECT id FROM stripe.customers").scalars())
    assert set(emulator.store.collections["customers"].objects) <= ids


def test_an_unreachable_database_is_a_clear_error(make_emulator, client_for):
    emulator = make_emulator({"customer": 3})
    url = "postgresql://reporter:s3cret-pass@127.0.0.1:1/analytics"
    action = StripeCustomerAction(client=client_for(emulator), warehouse=Warehouse(url))
    with pytest.raises(WarehouseError) as raised:
        action.sync_all()
    message = str(raised.value)
    assert "Cannot reach the warehouse postgresql://reporter:***@127.0.0.1:1/analytics" in message
    assert "WAREHOUSE_URL" in message and "s3cret-pass" not in message


def test_unsupported_warehouse_is_a_clear_error():
    with pytest.raises(WarehouseError, match="Unsupported warehouse mysql://root:\\*\\*\\*@localhost/x"):
        Warehouse("mysql://root:pw@localhost/x")
