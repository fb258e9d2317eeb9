"""A BigQuery warehouse, through the real google-cloud-bigquery and sqlalchemy-bigquery clients,
against bqemulator (warehouse_emulators.py); the sync's state in a SQLite file (STATE_URL). Each
test has a dataset of its own, dropped at its end. The warehouse contract modules run on BigQuery
too (conftest.py); these are what is BigQuery's own."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from stripe_pipeline.actions import StripeCustomerAction
from stripe_pipeline.models import StripeCustomer
from stripe_pipeline.settings import ConfigurationError
from stripe_pipeline.warehouse import Warehouse

from .conftest import bigquery_client, table_rows
from .test_cli import _summary_row
from .test_state_store import _change_customers
from .warehouse_emulators import BIGQUERY_PROJECT as PROJECT


def test_backfill_incremental_and_rerun_into_bigquery(bigquery_emulator, bigquery_dataset, emulator, client_for, tmp_path):
    url = f"bigquery://{PROJECT}/{bigquery_dataset}"
    warehouse = Warehouse(url, state_url=f"sqlite:///{tmp_path / 'state.db'}")
    statements: list[str] = []
    sa.event.listen(warehouse.engine, "before_cursor_execute", lambda conn, cursor, sql, *rest: statements.append(sql))
    try:
        client = client_for(emulator, slot_store=warehouse.slot_store())
        sync = lambda: StripeCustomerAction(client=client, warehouse=warehouse).sync_incremental()  # noqa: E731
        first = sync()
        store = emulator.store
        assert first.modes == ["backfill"] and first.written.inserted == store.table_count("customers")
        assert warehouse.count(StripeCustomer.__table__) == store.table_count("customers") > 0
        # Writes are one MERGE per flush, never a row at a time.
        assert sum(sql.startswith("MERGE") for sql in statements) >= 1
        assert not [sql for sql in statements if sql.lstrip().upper().startswith("INSERT")], statements

        table = bigquery_client(bigquery_emulator).get_table(f"{PROJECT}.{bigquery_dataset}.customers")
        types = {field.name: field.field_type for field in table.schema}
        assert types["_raw"] == "JSON" and types["metadata"] == "JSON" and types["created"] == "TIMESTAMP", types
        assert table.time_partitioning.field == "created" and table.clustering_fields == ["id", "_account"]
        # The state is in the SQLite file; the dataset holds the tables, the sync's errors beside
        # them (users query them together), and no staging table is left behind.
        tables = {t.table_id for t in bigquery_client(bigquery_emulator).list_tables(f"{PROJECT}.{bigquery_dataset}")}
        assert tables == {"customers", "_stripe_sync_errors"}, tables
        assert warehouse.load_state("customers", None)["backfill_completed_at"] is not None

        before = table_rows(warehouse, StripeCustomer.__table__)
        renamed, gone, created = _change_customers(emulator)
        statements.clear()
        stats = sync()
        # The deletion too is a MERGE from a staging table, not an UPDATE per object.
        assert not [sql for sql in statements if sql.lstrip().upper().startswith(("UPDATE", "INSERT"))], statements
        assert stats.modes == ["incremental"]
        customers = table_rows(warehouse, StripeCustomer.__table__)
        assert customers[renamed]["name"] == "Renamed Elsewhere"
        assert customers[gone]["_deleted_at"] is not None
        assert customers[created["id"]]["name"] == "Zoë Ünicode" and customers[created["id"]]["_deleted_at"] is None
        assert customers[created["id"]]["_raw"]["name"] == "Zoë Ünicode"  # JSON read back as JSON
        unchanged = set(before) - {renamed, gone}
        assert all(customers[i]["_synced_at"] == before[i]["_synced_at"] for i in unchanged)

        again = sync()
        assert again.modes == ["incremental"]
        assert (again.written.inserted, again.written.updated) == (0, 0)
        assert table_rows(warehouse, StripeCustomer.__table__) == customers  # nothing rewritten
    finally:
        warehouse.close()


def test_an_older_observation_and_an_unchanged_row_are_not_written(bigquery_dataset, tmp_path):
    from datetime import UTC, datetime, timedelta

    warehouse = Warehouse(f"bigquery://{PROJECT}/{bigquery_dataset}", state_url=f"sqlite:///{tmp_path / 'state.db'}")
    try:
        table = StripeCustomer.__table__
        now = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
        row = {c.name: None for c in table.columns} | {
            "id": "cus_1", "_account": "", "_raw": {"id": "cus_1", "name": "A"}, "name": "A", "metadata": {"k": "v"},
            "_synced_at": now, "_observed_at": now, "created": now,
        }  # fmt: skip
        assert warehouse.upsert(table, [row]).inserted == 1
        assert warehouse.upsert(table, [row | {"_synced_at": now + timedelta(hours=1)}]).unchanged == 1
        older = row | {"name": "Older", "_observed_at": now - timedelta(seconds=1)}
        assert warehouse.upsert(table, [older]).unchanged == 1
        newer = row | {"name": "Newer", "_observed_at": now + timedelta(seconds=1)}
        assert warehouse.upsert(table, [newer]).updated == 1
        stored = table_rows(warehouse, table)["cus_1"]
        assert stored["name"] == "Newer" and stored["created"] == now and stored["metadata"] == {"k": "v"}

        tombstone = {"id": "cus_1", "_account": "", "_deleted_at": now, "_synced_at": now}
        # A deletion observed before the row's data is old news; a later one flags it, once.
        assert warehouse.write(table, [], [tombstone | {"_observed_at": now}])[1] == 0
        assert warehouse.write(table, [], [tombstone | {"id": "cus_never_held", "_observed_at": now}])[1] == 0
        later = tombstone | {"_observed_at": now + timedelta(seconds=2)}
        assert warehouse.write(table, [], [later])[1] == 1
        assert warehouse.write(table, [], [later])[1] == 0
        assert table_rows(warehouse, table)["cus_1"]["_deleted_at"] == now
        assert warehouse.count(table) == 1  # the unknown ID made no row
    finally:
        warehouse.close()


def test_a_bigquery_warehouse_requires_state_url(bigquery_dataset, monkeypatch):
    monkeypatch.delenv("STATE_URL", raising=False)
    with pytest.raises(ConfigurationError, match=r"^A bigquery warehouse cannot keep the sync's own state: set STATE_URL"):
        Warehouse(f"bigquery://{PROJECT}/{bigquery_dataset}")


def test_the_cli_syncs_into_bigquery_with_the_state_in_a_sqlite_file(bigquery_emulator, bigquery_dataset, shell, emulator, tmp_path):
    # What a user sets, and nothing else: the URL, STATE_URL and Google's variable for an emulator.
    env = {"WAREHOUSE_URL": f"bigquery://{PROJECT}/{bigquery_dataset}", "BIGQUERY_EMULATOR_HOST": bigquery_emulator}
    refused = shell("sync", "customers", **env)
    assert refused.returncode != 0
    assert "A bigquery warehouse cannot keep the sync's own state: set STATE_URL" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr

    first = shell("sync", "customers", **env, STATE_URL=f"sqlite:///{tmp_path / 'state.db'}")
    assert first.returncode == 0, first.stderr
    assert _summary_row(first.stderr, "customers")[1] == "backfill"
    rows = bigquery_client(bigquery_emulator).query(f"SELECT COUNT(*) AS n FROM `{PROJECT}.{bigquery_dataset}.customers`").result()
    assert next(iter(rows)).n == emulator.store.table_count("customers") > 0


def test_objects_that_failed_are_kept_and_resolved(bigquery_dataset, tmp_path):
    warehouse = Warehouse(f"bigquery://{PROJECT}/{bigquery_dataset}", state_url=f"sqlite:///{tmp_path / 'state.db'}")
    try:
        failure = {"object_id": "cus_1", "error_class": "ValueError", "error_message": "no", "raw": {"id": "cus_1", "n": [1]}}
        warehouse.record_errors("customers", None, [failure, failure | {"object_id": "cus_2"}])
        warehouse.record_errors("customers", None, [failure | {"error_message": "again"}])
        assert warehouse.open_errors("customers") == 2
        assert dict(warehouse.open_error_objects("customers", None, 10))["cus_1"] == {"id": "cus_1", "n": [1]}
        with warehouse.engine.connect() as connection:
            counts = dict(connection.execute(sa.text("SELECT object_id, `count` FROM _stripe_sync_errors")).all())
        assert counts == {"cus_1": 2, "cus_2": 1}
        warehouse.resolve_errors("customers", None, ["cus_1"])
        assert warehouse.open_errors("customers") == 1
    finally:
        warehouse.close()


def test_a_table_made_before_a_field_existed_gains_its_column(bigquery_emulator, bigquery_dataset, tmp_path):
    """A `stripe` upgrade adds fields: the table an older version made gains their columns, typed
    and described as a new table's would be, and keeps its rows."""
    from datetime import UTC, datetime

    url, state_url = f"bigquery://{PROJECT}/{bigquery_dataset}", f"sqlite:///{tmp_path / 'state.db'}"
    table, added = StripeCustomer.__table__, ("email", "tax_ids")
    older = sa.Table(
        table.name,
        sa.MetaData(),
        *(sa.Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable) for c in table.columns if c.name not in added),
    )
    now = datetime(2026, 1, 2, tzinfo=UTC)
    row = {"id": "cus_1", "_account": "", "_raw": {"id": "cus_1"}, "_synced_at": now, "_observed_at": now, "name": "Old"}
    before = Warehouse(url, state_url=state_url)
    try:
        dialect = before.database.dialect
        with before.engine.begin() as connection, dialect.creating_tables(connection, None):
            dialect.create_tables(connection, older.metadata, [older])
            dialect.fast_upsert(connection, older, [dict.fromkeys(older.columns.keys()) | row])  # as the older version wrote it
    finally:
        before.close()

    warehouse = Warehouse(url, state_url=state_url)
    try:
        later = row | {"email": "a@example.com", "tax_ids": [{"type": "eu_vat"}], "_observed_at": now.replace(day=3)}
        assert warehouse.upsert(table, [dict.fromkeys(table.columns.keys()) | later]).updated == 1
        fields = {f.name: f for f in bigquery_client(bigquery_emulator).get_table(f"{PROJECT}.{bigquery_dataset}.customers").schema}
        assert [name for name in fields] == [column.name for column in older.columns] + list(added)  # added at the end
        assert (fields["email"].field_type, fields["tax_ids"].field_type) == ("STRING", "JSON")
        assert fields["email"].description == table.c.email.comment and fields["email"].mode == "NULLABLE"
        stored = table_rows(warehouse, table)["cus_1"]
        assert (stored["name"], stored["email"], stored["tax_ids"]) == ("Old", "a@example.com", [{"type": "eu_vat"}])
    finally:
        warehouse.close()


def test_the_metrics_read_from_bigquery_equal_those_read_from_sqlite(bigquery_dataset, make_emulator, client_for, tmp_path):
    """The JSON paths (an invoice line's period, parent, pricing) and the types read back from
    BigQuery make the same tables as SQLite's; the tables written back read as they were."""
    import pandas as pd

    from stripe_pipeline.actions import StripeInvoiceAction, StripePriceAction, StripeSubscriptionAction
    from stripe_pipeline.metrics import build_all, write

    emulator = make_emulator(stories=40, random_seed=5)
    bigquery = Warehouse(f"bigquery://{PROJECT}/{bigquery_dataset}", state_url=f"sqlite:///{tmp_path / 'state.db'}")
    sqlite = Warehouse(f"sqlite:///{tmp_path / 'w.db'}")
    try:
        for warehouse in (sqlite, bigquery):
            for action in (StripePriceAction, StripeSubscriptionAction, StripeInvoiceAction):
                action(client=client_for(emulator), warehouse=warehouse).sync_incremental()
        expected, tables = build_all(sqlite), build_all(bigquery)
        assert len(expected["mrr_by_customer"]) > 20 and expected["mrr_by_customer"]["movement"].nunique() > 2
        for name, table in tables.items():
            pd.testing.assert_frame_equal(table, expected[name], check_dtype=False, obj=name)
        write(bigquery, "churn_monthly", tables["churn_monthly"])
        with bigquery.engine.connect() as connection:
            written = pd.DataFrame(connection.execute(sa.text("SELECT * FROM churn_monthly ORDER BY currency, month")).mappings().all())
        ordered = tables["churn_monthly"].sort_values(["currency", "month"], ignore_index=True)
        pd.testing.assert_frame_equal(written, ordered, check_dtype=False)
    finally:
        bigquery.close()
        sqlite.close()
