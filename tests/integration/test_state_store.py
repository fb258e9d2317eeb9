"""STATE_URL: the tables in one database, the sync's own state in another.

What a user checks after pointing STATE_URL elsewhere: the rows land in the warehouse; the sync
state, the locks and the request budget are in the state database and nowhere in the warehouse;
the next run reads events (few requests) and picks up a change and a delete; `status` tells.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from stripe_pipeline.actions import StripeCustomerAction
from stripe_pipeline.models import MODELS, StripeCustomer
from stripe_pipeline.settings import ConfigurationError
from stripe_pipeline.warehouse import Warehouse

from .conftest import POSTGRES_URL, table_rows
from .test_cli import _summary_row

# The sync's own tables: none of them may appear in the warehouse when the state is apart.
STATE_TABLES = {"_stripe_sync_state", "_stripe_rate_budget", "_stripe_events", "_stripe_shared_reads"}


def _tables(url: str, schema: str | None = None) -> set[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return set(sa.inspect(connection).get_table_names(schema=schema))
    finally:
        engine.dispose()


def _change_customers(emulator) -> tuple[str, str, dict]:
    """Rename one customer, delete another, add one: what the incremental run must pick up."""
    store = emulator.store
    renamed, gone = list(store.collections["customers"].objects)[:2]
    store.update(renamed, name="Renamed Elsewhere")
    store.delete(gone)
    return renamed, gone, store.create("customer", name="Zoë Ünicode")


def test_the_cli_keeps_tables_in_postgresql_and_state_in_a_sqlite_file(shell, emulator, postgres_schema, tmp_path):
    state_file = tmp_path / "state" / "sync_state.db"
    state_file.parent.mkdir()
    env = {"WAREHOUSE_URL": POSTGRES_URL, "WAREHOUSE_SCHEMA": postgres_schema, "STATE_URL": f"sqlite:///{state_file}"}

    first = shell("sync", "customers", "invoices", **env)
    assert first.returncode == 0, first.stderr
    assert _summary_row(first.stderr, "customers")[1] == "backfill"
    warehouse = Warehouse(POSTGRES_URL, postgres_schema, state_url=f"sqlite:///{state_file}")
    try:
        store = emulator.store
        for table in ("customers", "invoices", "invoice_line_items"):
            assert warehouse.count(MODELS[table].__table__) == store.table_count(table) > 0

        in_warehouse = _tables(POSTGRES_URL, postgres_schema)
        assert {"customers", "invoices", "invoice_line_items"} <= in_warehouse
        assert not in_warehouse & STATE_TABLES, in_warehouse
        assert "_stripe_sync_state" in _tables(f"sqlite:///{state_file}")
        # SQLite keeps the locks and the request budget in files beside its database: beside the
        # state's, and the warehouse (a server) holds no row of the budget.
        sidecar = {path.name for path in (state_file.parent / f"{state_file.name}.stripe_pipeline").iterdir()}
        assert "rate-budget.json" in sidecar and any(name.endswith(".customers.platform.lock") for name in sidecar), sidecar
        assert {row["object_type"] for row in warehouse.sync_states()} == {"customers", "invoices"}

        renamed, gone, created = _change_customers(emulator)
        emulator.requests.reset()
        second = shell("sync", "customers", **env)
        assert second.returncode == 0, second.stderr
        summary = _summary_row(second.stderr, "customers")
        assert summary[1:3] == ["incremental", "2"] and summary[6] == "1", summary  # the new and the renamed; the deleted
        # Events, not a listing: a handful of requests, none of them a page of customers.
        assert emulator.requests.by_route["GET /v1/events"] >= 1
        assert emulator.requests.by_route["GET /v1/customers"] == 0 and emulator.requests.total < 15, emulator.requests.by_route

        customers = table_rows(warehouse, StripeCustomer.__table__)
        assert customers[renamed]["name"] == "Renamed Elsewhere"
        assert customers[gone]["_deleted_at"] is not None
        assert customers[created["id"]]["name"] == "Zoë Ünicode" and customers[created["id"]]["_deleted_at"] is None
        assert not _tables(POSTGRES_URL, postgres_schema) & STATE_TABLES

        status = shell("status", **env)
        assert status.returncode == 0, status.stderr
        row = _summary_row(status.stdout, "customers")
        assert row[1:3] == [f"{store.table_count('customers'):,}", "1"] and row[3] != "never" and row[4] == "events"
    finally:
        warehouse.close()


def test_tables_in_a_sqlite_file_and_state_in_postgresql(emulator, client_for, postgres_schema, tmp_path):
    warehouse_file = tmp_path / "warehouse.db"
    # The state takes WAREHOUSE_SCHEMA on a database with schemas; SQLite, the warehouse, has none.
    warehouse = Warehouse(f"sqlite:///{warehouse_file}", postgres_schema, state_url=POSTGRES_URL)
    try:
        assert warehouse.state_apart and warehouse.state.schema == postgres_schema
        client = client_for(emulator, slot_store=warehouse.slot_store())
        sync = lambda: StripeCustomerAction(client=client, warehouse=warehouse).sync_incremental()  # noqa: E731
        assert sync().modes == ["backfill"]
        assert warehouse.count(StripeCustomer.__table__) == emulator.store.table_count("customers") > 0

        renamed, gone, created = _change_customers(emulator)
        emulator.requests.reset()
        stats = sync()
        assert stats.modes == ["incremental"] and stats.events >= 3
        assert emulator.requests.by_route["GET /v1/customers"] == 0 and emulator.requests.total < 15, emulator.requests.by_route
        customers = table_rows(warehouse, StripeCustomer.__table__)
        assert customers[renamed]["name"] == "Renamed Elsewhere" and customers[gone]["_deleted_at"] is not None
        assert customers[created["id"]]["_deleted_at"] is None

        in_state = _tables(POSTGRES_URL, postgres_schema)
        assert {"_stripe_sync_state", "_stripe_rate_budget"} <= in_state and "customers" not in in_state, in_state
        assert not _tables(f"sqlite:///{warehouse_file}") & STATE_TABLES
        # Nothing beside the warehouse's file: the lock and the budget are PostgreSQL's.
        assert not (tmp_path / "warehouse.db.stripe_pipeline").exists()
        state = warehouse.load_state("customers", None)
        assert state is not None and state["events_cursor_created"] and state["backfill_completed_at"]
    finally:
        warehouse.close()


def test_a_second_warehouse_is_refused_the_state_of_the_first(emulator, client_for, tmp_path):
    # The state rows are keyed by type and account: a second warehouse sharing the state would
    # take the first one's cursor and never backfill its own tables.
    state_url = f"sqlite:///{tmp_path / 'state.db'}"
    first = Warehouse(f"sqlite:///{tmp_path / 'first.db'}", state_url=state_url)
    second = Warehouse(f"sqlite:///{tmp_path / 'second.db'}", state_url=state_url)
    try:
        client = client_for(emulator, slot_store=first.slot_store())
        assert StripeCustomerAction(client=client, warehouse=first).sync_incremental().modes == ["backfill"]
        with pytest.raises(ConfigurationError, match=r"keeps the sync state of the warehouse sqlite:///.*first\.db"):
            StripeCustomerAction(client=client, warehouse=second).sync_incremental()
        assert second.count(StripeCustomer.__table__) == 0
        assert StripeCustomerAction(client=client, warehouse=first).sync_incremental().modes == ["incremental"]
    finally:
        first.close()
        second.close()


def test_without_state_url_the_state_stays_beside_the_tables(tmp_path, monkeypatch):
    monkeypatch.delenv("STATE_URL", raising=False)
    warehouse = Warehouse(f"sqlite:///{tmp_path / 'warehouse.db'}")
    try:
        assert not warehouse.state_apart and warehouse.state.database is warehouse.database
        warehouse.save_state("customers", None, events_cursor_created=42)
        assert warehouse.oldest_events_cursor(None) == 42
        assert "_stripe_sync_state" in _tables(f"sqlite:///{tmp_path / 'warehouse.db'}")
    finally:
        warehouse.close()
