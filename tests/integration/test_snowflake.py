"""Snowflake through the real connector (snowflake-connector-python 5, snowflake-sqlalchemy)
against fakesnow's HTTP server (warehouse_emulators.py): a database per test, the sync's state in
a SQLite file (a Snowflake warehouse requires STATE_URL). The warehouse contract modules run on
Snowflake too (conftest.py); these are what is Snowflake's own.

fakesnow emulates Snowflake on DuckDB; where it lacks something Snowflake has, the dialect's
module says so (dialects/snowflake.py)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from stripe_pipeline.actions import StripeCustomerAction, StripeInvoiceAction
from stripe_pipeline.models import MODELS, StripeCustomer
from stripe_pipeline.settings import ConfigurationError
from stripe_pipeline.warehouse import Warehouse

from .conftest import table_rows


@pytest.fixture
def warehouse(snowflake_url, tmp_path):
    warehouse = Warehouse(snowflake_url, "stripe", state_url=f"sqlite:///{tmp_path / 'state.db'}")
    yield warehouse
    warehouse.close()


class Statements:
    """The statements the warehouse's engine sends, by their first word. An executemany counts
    as one statement per row: the connector runs any but an array-bound INSERT row by row."""

    def __init__(self, engine: sa.Engine):
        self.sent: list[str] = []
        sa.event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self.sent += [statement.split(None, 1)[0].upper()] * (len(parameters) if executemany else 1)

    def count(self, word: str) -> int:
        return self.sent.count(word)


def test_a_snowflake_warehouse_needs_state_url(snowflake_url, monkeypatch):
    monkeypatch.delenv("STATE_URL", raising=False)
    with pytest.raises(ConfigurationError, match="STATE_URL") as raised:
        Warehouse(snowflake_url, "stripe")
    message = str(raised.value)
    assert "\n" not in message and "PostgreSQL" in message and "SQLite" in message


def test_backfill_incremental_rerun_with_variant_and_timestamp_tz(warehouse, emulator, client_for, snowflake_url):
    table = StripeCustomer.__table__
    client = client_for(emulator, slot_store=warehouse.slot_store())
    statements = Statements(warehouse.engine)
    sync = lambda: StripeCustomerAction(client=client, warehouse=warehouse).sync_incremental()  # noqa: E731

    assert sync().modes == ["backfill"]
    customers = emulator.store.table_count("customers")
    assert warehouse.count(table) == customers > 0
    # One flush (Snowflake's is 10,000 rows), so one MERGE; the rows were staged, not inserted.
    assert statements.count("MERGE") == 1 and statements.count("INSERT") == 0, statements.sent

    with warehouse.engine.connect() as connection:
        types = dict(
            connection.execute(
                sa.text(
                    "SELECT column_name, data_type FROM information_schema.columns "
                    "WHERE table_schema = 'STRIPE' AND table_name = 'CUSTOMERS'"
                )
            ).all()
        )
        # The state is in the SQLite file, not here.
        tables = set(sa.inspect(connection).get_table_names(schema="stripe"))
    assert types["_RAW"] == "VARIANT" and types["_SYNCED_AT"] == "TIMESTAMP_TZ" and types["_OBSERVED_AT"] == "TIMESTAMP_TZ", types
    assert "customers" in tables and not tables & {"_stripe_sync_state", "_stripe_rate_budget", "_stripe_events"}, tables

    store = emulator.store
    renamed, gone = list(store.collections["customers"].objects)[:2]
    store.update(renamed, name="Renamed In Snowflake")
    store.delete(gone)
    created = store.create("customer", name="Zoë Ünicode")
    stats = sync()
    assert stats.modes == ["incremental"]
    rows = table_rows(warehouse, table)
    assert rows[renamed]["name"] == "Renamed In Snowflake" and rows[renamed]["_raw"]["name"] == "Renamed In Snowflake"
    assert _flagged_deleted(warehouse, table) == {gone}
    assert rows[created["id"]]["name"] == "Zoë Ünicode"
    assert rows[renamed]["_synced_at"].tzinfo is not None

    # Listing everything again finds every row unchanged: the MERGE rewrites nothing.
    before = {id_: row["_synced_at"] for id_, row in table_rows(warehouse, table).items()}
    merges = statements.count("MERGE")
    relisted = StripeCustomerAction(client=client, warehouse=warehouse).sync_all(created={"gte": 0})
    assert relisted.fetched == customers and statements.count("MERGE") > merges
    assert (relisted.written.inserted, relisted.written.updated, relisted.written.unchanged) == (0, 0, customers)
    assert sync().written.inserted == sync().written.updated == 0
    assert {id_: row["_synced_at"] for id_, row in table_rows(warehouse, table).items()} == before


def _flagged_deleted(warehouse: Warehouse, table: sa.Table) -> set[str]:
    """By SQL, not by reading `_deleted_at`: fakesnow 0.12 returns a NULL TIMESTAMP_TZ to the
    connector as 1970-01-01 (its Arrow struct drops the nulls); the value it stores is NULL."""
    with warehouse.engine.connect() as connection:
        return set(connection.scalars(sa.select(table.c.id).where(table.c._deleted_at.is_not(None))))


def test_an_older_observation_never_replaces_a_newer_one(warehouse):
    from datetime import UTC, datetime, timedelta

    table = StripeCustomer.__table__
    now = datetime.now(UTC)
    base = {c.name: None for c in table.columns} | {"id": "cus_x", "_account": "", "_synced_at": now}
    newer = base | {"name": "new", "_raw": {"name": "new"}, "_observed_at": now}
    older = base | {"name": "old", "_raw": {"name": "old"}, "_observed_at": now - timedelta(minutes=5)}
    assert warehouse.upsert(table, [newer]).inserted == 1
    assert warehouse.upsert(table, [older]).updated == 0
    assert table_rows(warehouse, table)["cus_x"]["name"] == "new"
    newest = newer | {"name": "newest", "_observed_at": now + timedelta(minutes=1)}
    assert warehouse.upsert(table, [newest]).updated == 1
    assert table_rows(warehouse, table)["cus_x"]["name"] == "newest"


def test_a_flush_of_deletions_is_one_merge(warehouse):
    """Tombstones are staged and applied by ONE MERGE, under the rules of every warehouse: a
    deletion observed before the row's data never applies, an unknown ID makes no row, and a row
    already deleted is not rewritten."""
    from datetime import UTC, datetime, timedelta

    table = StripeCustomer.__table__
    now = datetime(2026, 6, 1, tzinfo=UTC)
    later = now + timedelta(hours=1)
    base = {c.name: None for c in table.columns} | {"_account": "", "_synced_at": now, "_observed_at": now, "_raw": {}}
    warehouse.upsert(table, [base | {"id": f"cus_{n}", "_raw": {"id": f"cus_{n}"}} for n in range(6)])

    def tombstone(id_: str, at: datetime, observed_at: datetime) -> dict:
        return {"id": id_, "_account": "", "_deleted_at": at, "_synced_at": at, "_observed_at": observed_at}

    assert warehouse.write(table, [], [tombstone("cus_5", now, now)])[1] == 1
    statements = Statements(warehouse.engine)
    tombstones = [tombstone(f"cus_{n}", later, later) for n in range(4)]
    tombstones += [
        tombstone("cus_4", later, now - timedelta(minutes=5)),  # observed before its row's data
        tombstone("cus_5", later, later),  # deleted already
        tombstone("cus_unknown", later, later),
    ]
    assert warehouse.write(table, [], tombstones)[1] == 4
    assert statements.count("MERGE") == 1 and statements.count("UPDATE") == 0, statements.sent

    with warehouse.engine.connect() as connection:
        deleted = dict(connection.execute(sa.select(table.c.id, table.c._deleted_at).where(table.c._deleted_at.is_not(None))).all())
    assert deleted == {"cus_0": later, "cus_1": later, "cus_2": later, "cus_3": later, "cus_5": now}
    assert warehouse.count(table) == 6


def test_invoices_with_their_lines(warehouse, emulator, client_for):
    client = client_for(emulator, slot_store=warehouse.slot_store())
    StripeInvoiceAction(client=client, warehouse=warehouse).sync_incremental()
    invoices, lines = MODELS["invoices"].__table__, MODELS["invoice_line_items"].__table__
    assert warehouse.count(invoices) == emulator.store.table_count("invoices") > 0
    rows = table_rows(warehouse, lines)
    assert rows and {row["_raw"]["object"] for row in rows.values()} == {"line_item"}
    parents = set(table_rows(warehouse, invoices))
    assert {row["invoice"] for row in rows.values()} <= parents


def test_sync_errors_are_merged_and_counted_again(warehouse):
    """`_stripe_sync_errors` stays with the tables; its upsert is the generic MERGE (one row of
    bound values per row), whose update counts a known error up."""
    failure = {"object_id": "cus_bad", "error_class": "ValueError", "error_message": "no", "raw": {"id": "cus_bad"}}
    warehouse.record_errors("customers", None, [failure])
    warehouse.record_errors("customers", None, [failure | {"error_message": "still no"}])
    assert warehouse.open_errors("customers") == 1
    assert warehouse.open_error_objects("customers", None, 10) == [("cus_bad", {"id": "cus_bad"})]
    with warehouse.engine.connect() as connection:
        count, message = connection.execute(sa.text("SELECT count, error_message FROM stripe._stripe_sync_errors")).one()
    assert (count, message) == (2, "still no")
    warehouse.resolve_errors("customers", None, ["cus_bad"])
    assert warehouse.open_errors("customers") == 0
