"""The warehouse layer on real SQLite and DuckDB files, a real PostgreSQL and a real MariaDB."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from stripe_emulator.objects import generate
from stripe_pipeline.actions import StripeCustomerAction, StripeInvoiceAction
from stripe_pipeline.models import StripeCustomer, StripeInvoiceLineItem
from stripe_pipeline.models.base import TABLE_OPTIONS
from stripe_pipeline.warehouse import Warehouse, WarehouseError
from stripe_pipeline.warehouse.dialects import dialect_of
from stripe_pipeline.warehouse.upsert import _upsert_portable, upsert_rows

from .conftest import table_rows

WRITERS = 4
ROWS_PER_WRITER = 2_000


def _rows(writer: int, count: int) -> list[dict]:
    """Every writer writes the same IDs, half of them in the opposite order: the worst case for locks."""
    now = datetime.now(UTC)
    rows = [
        {
            "id": f"cus_{n:05d}",
            "_account": "",
            "_raw": {"id": f"cus_{n:05d}", "by": writer},
            "_synced_at": now,
            "email": f"{n}@w{writer}.example",
        }
        for n in range(count)
    ]
    return rows[::-1] if writer % 2 else rows


def _write(url: str, schema: str | None, writer: int, start, count: int) -> None:
    warehouse = Warehouse(url, schema)
    start.wait()  # every process creates tables and writes at the same moment
    table = StripeCustomer.__table__
    rows = [dict.fromkeys(c.name for c in table.columns) | row for row in _rows(writer, count)]
    batch = count // 8
    for offset in range(0, len(rows), batch):
        warehouse.upsert(table, rows[offset : offset + batch])


def test_several_processes_create_and_write_at_once(warehouse_config):
    """Dagster runs each asset in its own process: table creation and upserts must not collide
    (SQLite: WAL, busy timeout, BEGIN IMMEDIATE; PostgreSQL: an advisory lock around DDL)."""
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(WRITERS)
    schema = warehouse_config["schema"] or None
    # Fewer rows, in as many upserts, where the emulators are slow: each of BigQuery's upserts is a
    # load job and two queries (~0.4 s there), and fakesnow runs an array binding's rows one by one.
    count = {"bigquery": 500, "snowflake": ROWS_PER_WRITER // 20}.get(warehouse_config["url"].split(":", 1)[0], ROWS_PER_WRITER)
    processes = [context.Process(target=_write, args=(warehouse_config["url"], schema, writer, start, count)) for writer in range(WRITERS)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [process.exitcode for process in processes] == [0] * WRITERS
    warehouse = Warehouse(warehouse_config["url"], schema)
    assert warehouse.count(StripeCustomer.__table__) == count


def test_sqlite_is_in_wal_mode(tmp_path):
    warehouse = Warehouse(f"sqlite:///{tmp_path / 'w.db'}")
    with warehouse.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 10_000


def test_postgres_tables_live_in_schema_stripe_by_default(postgres_engine, monkeypatch):
    """Checked without writing: schema `stripe` of the test database may hold a user's real data."""
    monkeypatch.delenv("WAREHOUSE_SCHEMA", raising=False)
    warehouse = Warehouse(postgres_engine.url.render_as_string(hide_password=False))
    assert warehouse.schema == "stripe" and warehouse.qualified_name(StripeCustomer.__table__) == "stripe.customers"
    assert warehouse.engine.get_execution_options()["schema_translate_map"] == {None: "stripe"}  # where every statement goes


@pytest.mark.parametrize("scheme", ["postgresql", "mysql", "mariadb+pymysql"])
def test_an_unreachable_database_is_a_clear_error(make_emulator, client_for, scheme):
    emulator = make_emulator({"customer": 3})
    url = f"{scheme}://reporter:s3cret-pass@127.0.0.1:1/analytics"
    action = StripeCustomerAction(client=client_for(emulator), warehouse=Warehouse(url))
    with pytest.raises(WarehouseError) as raised:
        action.sync_all()
    message = str(raised.value)
    assert f"Cannot reach the warehouse {scheme}://reporter:***@127.0.0.1:1/analytics" in message
    assert "WAREHOUSE_URL" in message and "s3cret-pass" not in message


def test_unsupported_warehouse_is_a_clear_error():
    with pytest.raises(WarehouseError, match="Unsupported warehouse oracle://scott:\\*\\*\\*@localhost/x"):
        Warehouse("oracle://scott:tiger@localhost/x")


def test_a_missing_driver_is_a_clear_error():
    with pytest.raises(WarehouseError, match=r"needs a driver that is not installed: .*MySQLdb.*stripe_pipeline\[mysql\]") as raised:
        Warehouse("mysql+mysqldb://reporter:s3cret-pass@127.0.0.1/analytics")  # mysqlclient's driver, which we do not ship
    assert "s3cret-pass" not in str(raised.value)


@pytest.mark.parametrize(("scheme", "kind"), [("mysql+pymysql", "mysql"), ("mariadb+pymysql", "mariadb"), ("mysql", "mysql")])
def test_mysql_tables_go_in_the_database_the_url_names(mysql_database, scheme, kind):
    from sqlalchemy.engine import make_url

    from stripe_pipeline.dagster_defs.factory import warehouse_kind

    url = make_url(mysql_database).set(drivername=scheme).render_as_string(hide_password=False)
    warehouse = Warehouse(url, "ignored")
    assert warehouse.schema is None and warehouse.qualified_name(StripeCustomer.__table__) == "customers"
    assert warehouse_kind(url) == kind  # the icon on the assets
    warehouse.ensure_tables([StripeCustomer.__table__])
    database = make_url(mysql_database).database
    with warehouse.engine.connect() as connection:
        columns = connection.exec_driver_sql(
            "SELECT column_name, column_type, collation_name FROM information_schema.columns WHERE table_schema = %s AND table_name = 'customers'",
            (database,),
        ).all()
    types = {name: (column_type, collation) for name, column_type, collation in columns}
    assert types["id"] == ("varchar(255)", "utf8mb4_bin") and types["email"] == ("text", "utf8mb4_bin")
    assert types["_synced_at"][0] == "datetime(6)" and types["balance"][0].startswith("bigint")
    # MariaDB's JSON is LONGTEXT with a JSON check; MySQL's is JSON.
    assert types["_raw"][0] in ("json", "longtext")


def test_ids_and_text_keep_their_case(warehouse):
    """Stripe's IDs are case-sensitive: `cus_a` and `cus_A` are two customers, and a change of
    case alone is a change (MySQL's and MariaDB's default collations would fold both)."""
    table = StripeCustomer.__table__
    first, second = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    lower, upper = _customer(0, first) | {"id": "cus_a"}, _customer(0, first) | {"id": "cus_A", "email": "zoe@example.com"}
    assert _counts(warehouse.upsert(table, [lower, upper])) == (2, 0, 0)
    changed = upper | {"email": "Zoe@Example.com", "_synced_at": second}
    assert _counts(warehouse.upsert(table, [lower | {"_synced_at": second}, changed])) == (0, 1, 1)
    rows = table_rows(warehouse, table)
    assert rows["cus_A"]["email"] == "Zoe@Example.com" and rows["cus_a"]["email"] == "0@example.com"


def test_timestamps_keep_their_instant_in_any_zone(warehouse):
    table = StripeCustomer.__table__
    created = datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=timezone(timedelta(hours=-5, minutes=-30)))
    synced_at = datetime(2026, 1, 1, tzinfo=UTC)
    warehouse.upsert(table, [_customer(0, synced_at) | {"created": created}])
    row = table_rows(warehouse, table)["cus_0"]
    assert _utc(row["created"]) == created and _utc(row["_synced_at"]) == synced_at


def _counts(result) -> tuple[int, int, int]:
    return result.inserted, result.updated, result.unchanged


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)  # SQLite gives UTC without a zone


def _customer(n: int, synced_at: datetime, **values) -> dict:
    """A full row as the actions stage it: JSON columns are the very objects found in `_raw`."""
    data = {
        "id": f"cus_{n}",
        "email": f"{n}@example.com",
        "name": f'Zoë "{n}" O\'Brien\t\\ 💳',
        "balance": 2**62 + n,
        "delinquent": n % 2 == 0,
        "created": 1767225600 - n,
        "metadata": {"n": str(n), "nested": [1, 2.5, None, {"x": "ü"}]},
        "preferred_locales": [],
    } | values
    row = {**data, "created": datetime.fromtimestamp(data["created"], UTC), "_raw": data, "_synced_at": synced_at, "_account": ""}
    return dict.fromkeys(c.name for c in StripeCustomer.__table__.columns) | row


def test_upsert_counts_rows_and_leaves_unchanged_ones_alone(warehouse):
    table = StripeCustomer.__table__
    first, second, third = (datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=h) for h in range(3))
    assert _counts(warehouse.upsert(table, [_customer(n, first) for n in range(4)])) == (4, 0, 0)

    def changes(synced_at: datetime) -> list[dict]:
        hooked = _customer(2, synced_at)
        hooked["metadata"] = {"n": "2", "set by": "a hook"}  # not the object in `_raw`
        return [
            _customer(0, synced_at),  # the same values
            _customer(1, synced_at, email="new@example.com"),
            hooked,
            _customer(3, synced_at, metadata=None),  # JSON null, like every other None in a JSON column
            _customer(4, synced_at),  # new
        ][::-1]  # any order

    assert _counts(warehouse.upsert(table, changes(second))) == (1, 3, 1)
    rows = table_rows(warehouse, table)
    assert {id: _utc(row["_synced_at"]) for id, row in rows.items()} == {
        "cus_0": first,
        "cus_1": second,
        "cus_2": second,
        "cus_3": second,
        "cus_4": second,
    }
    assert rows["cus_1"]["email"] == rows["cus_1"]["_raw"]["email"] == "new@example.com"
    assert rows["cus_2"]["metadata"] == {"n": "2", "set by": "a hook"}
    assert rows["cus_2"]["_raw"]["metadata"] == {"n": "2", "nested": [1, 2.5, None, {"x": "ü"}]}
    assert rows["cus_3"]["metadata"] is None and rows["cus_3"]["_raw"]["metadata"] is None
    assert rows["cus_0"]["name"] == 'Zoë "0" O\'Brien\t\\ 💳' and rows["cus_0"]["balance"] == 2**62
    assert _utc(rows["cus_0"]["created"]) == datetime.fromtimestamp(1767225600, UTC)

    assert _counts(warehouse.upsert(table, changes(third))) == (0, 0, 5)  # a rerun: nothing to write
    assert table_rows(warehouse, table) == rows


def test_upsert_counts_within_one_transaction(warehouse):
    """Rows inserted earlier in the same transaction count as updated when they change."""
    table = StripeCustomer.__table__
    warehouse.ensure_tables([table])
    now = datetime.now(UTC)
    with warehouse.engine.begin() as connection:
        assert _counts(upsert_rows(warehouse.database.dialect, connection, table, [_customer(n, now) for n in range(3)])) == (3, 0, 0)
        changed = [_customer(0, now), _customer(1, now, email="x@example.com"), _customer(5, now)]
        assert _counts(upsert_rows(warehouse.database.dialect, connection, table, changed)) == (1, 1, 1)
        # Rows with some columns left out: the columns missing are NULL.
        assert _counts(
            upsert_rows(warehouse.database.dialect, connection, table, [{"id": "cus_1", "_account": "", "_raw": {}, "_synced_at": now}])
        ) == (0, 1, 0)
    assert warehouse.count(table) == 4
    assert table_rows(warehouse, table)["cus_1"]["email"] is None


@pytest.mark.parametrize("action", [StripeCustomerAction, StripeInvoiceAction])
def test_upsert_paths_store_the_same_values(warehouse, action):
    """The PostgreSQL batch and the portable statement agree: what one wrote, the other finds unchanged."""
    table = action.table()
    warehouse.ensure_tables([table])
    mapper = action(warehouse=warehouse, api_key="sk_test_x")
    # The portable statement is a MERGE per row on BigQuery and Snowflake (a job each on the BigQuery
    # emulator, up to a second of fakesnow's rewriting): fewer rows there.
    count = {"bigquery": 12, "snowflake": 4}.get(warehouse.dialect, 60)
    objects = [obj for obj in generate({action.object_name(): count}, seed=3, now=1767225600) if obj["object"] == action.object_name()]
    rows = [dict.fromkeys(c.name for c in table.columns) | mapper.set_default(obj) for obj in objects]
    later = [row | {"_synced_at": row["_synced_at"] + timedelta(hours=1)} for row in rows]
    half = len(rows) // 2
    with warehouse.engine.begin() as connection:
        assert _counts(upsert_rows(warehouse.database.dialect, connection, table, rows[:half])) == (half, 0, 0)
        assert _counts(_upsert_portable(warehouse.database.dialect, connection, table, rows[half:])) == (len(rows) - half, 0, 0)
    with warehouse.engine.begin() as connection:
        assert _counts(_upsert_portable(warehouse.database.dialect, connection, table, later[:half])) == (0, 0, half)
        assert _counts(upsert_rows(warehouse.database.dialect, connection, table, later[half:])) == (0, 0, len(rows) - half)
        assert _counts(upsert_rows(warehouse.database.dialect, connection, table, later)) == (0, 0, len(rows))


def test_a_sqlite_warehouse_keeps_its_lock_and_budget_files_in_one_folder(tmp_path, make_emulator, client_for):
    emulator = make_emulator({"customer": 3})
    warehouse = Warehouse(f"sqlite:///{tmp_path / 'w.db'}")
    StripeCustomerAction(client=client_for(emulator, slot_store=warehouse.slot_store()), warehouse=warehouse).sync_all()
    assert sorted(path.name for path in tmp_path.iterdir() if not path.name.startswith("w.db-")) == ["w.db", "w.db.stripe_pipeline"]
    assert {path.suffix for path in (tmp_path / "w.db.stripe_pipeline").iterdir()} <= {".lock", ".json"}


def _as_made_by_0_6(table: sa.Table, metadata: sa.MetaData) -> sa.Table:
    """The table as 0.6 created it: keyed by `id` alone, `_account` a nullable text column."""
    columns = [
        sa.Column("_account", sa.Text)
        if column.name == "_account"
        else sa.Column(column.name, column.type, primary_key=column.name == "id", nullable=column.nullable)
        for column in table.columns
    ]
    parent = [sa.Index(index.name, next(iter(index.columns)).name) for index in table.indexes]  # a child's, by its parent's ID
    return sa.Table(table.name, metadata, *columns, *parent, sa.Column("crm_id", sa.Text), **TABLE_OPTIONS)  # and a column of the user's


def test_a_warehouse_made_by_0_6_is_keyed_by_account_on_its_first_run(warehouse, make_emulator, client_for):
    """0.6 keyed rows by `id` alone, with NULL `_account` for the platform. The first run keys
    them by (id, _account), '' for the platform, keeping every row and column, a user's too."""
    if warehouse.dialect in ("bigquery", "snowflake"):
        pytest.skip(f"no {warehouse.dialect} table predates the key (id, _account): the dialect came after 0.7 (primary_key is [])")
    emulator = make_emulator({"customer": 5, "invoice": 4})
    old = sa.MetaData()
    customers, lines = (_as_made_by_0_6(model.__table__, old) for model in (StripeCustomer, StripeInvoiceLineItem))
    with warehouse.engine.begin() as connection:
        if warehouse.schema:
            connection.execute(sa.schema.CreateSchema(warehouse.schema, if_not_exists=True))
        old.create_all(connection)
        now = datetime(2026, 6, 1, tzinfo=UTC)
        connection.execute(
            customers.insert(),
            [
                {"id": "cus_Old1", "_raw": {"id": "cus_Old1"}, "_synced_at": now, "_account": None, "email": "a@x.example", "crm_id": "7"},
                {"id": "cus_Old2", "_raw": {"id": "cus_Old2"}, "_synced_at": now, "_account": "acct_1Old", "email": None, "crm_id": "8"},
            ],
        )
    client = client_for(emulator)
    StripeCustomerAction(client=client, warehouse=warehouse).sync_incremental()
    StripeInvoiceAction(client=client, warehouse=warehouse).sync_incremental()

    new = Warehouse(warehouse.url, warehouse.schema)  # what the next process sees
    with new.engine.connect() as connection:
        keys = {name: dialect_of(new.dialect).primary_key(connection, name, new.schema) for name in ("customers", "invoice_line_items")}
        rows = {(r["_account"], r["id"]): r for r in connection.execute(sa.select(customers)).mappings()}  # 0.6's columns
    assert keys == {"customers": ["id", "_account"], "invoice_line_items": ["id", "_account"]}
    assert rows[("", "cus_Old1")]["crm_id"] == "7" and rows[("", "cus_Old1")]["email"] == "a@x.example"
    assert rows[("acct_1Old", "cus_Old2")]["crm_id"] == "8"
    assert {key for key in rows if key[1] not in ("cus_Old1", "cus_Old2")} == {
        ("", c) for c in emulator.store.collections["customers"].objects
    }
    assert new.count(StripeInvoiceLineItem.__table__) == emulator.store.table_count("invoice_line_items") > 0
    # The same ID in another account is a row of its own now; a rerun writes nothing.
    new.upsert(StripeCustomer.__table__, [_customer(0, now) | {"id": "cus_Old1", "_account": "acct_1Other"}])
    assert new.count(StripeCustomer.__table__) == len(rows) + 1
    assert StripeCustomerAction(client=client, warehouse=new).sync_incremental().written.inserted == 0
