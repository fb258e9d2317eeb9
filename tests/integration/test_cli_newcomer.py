"""`stripe-pipeline` as a new user meets it: the installed command in a subprocess, its output
piped (as in CI or `| tee`), against the emulator over HTTP and SQLite or DuckDB files in
tmp_path. Each test is something a newcomer ran into."""

from __future__ import annotations

import sqlite3
import time

from stripe_pipeline.models import MODELS
from stripe_pipeline.warehouse import Warehouse

from .test_cli import _summary_row

SEED = {"product": 3, "price": 5, "coupon": 4, "customer": 30, "subscription": 40, "invoice": 25}


def _line_with(output: str, text: str) -> str:
    """The one line of `output` that holds `text`."""
    found = [line for line in output.splitlines() if text in line]
    assert len(found) == 1, f"{text!r} is not on one line of:\n{output}"
    return found[0]


def _tables(database) -> set[str]:
    """The tables of a SQLite file (made if missing, as sqlite3 does)."""
    connection = sqlite3.connect(database)
    try:
        return {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        connection.close()


def _mark(output: str, table: str) -> str:
    """What the progress line of `table` starts with: its spinner, then ✓, ✗ or –."""
    for line in output.splitlines():
        parts = line.split()
        if len(parts) > 1 and parts[1] == table:
            return parts[0]
    raise AssertionError(f"no progress line for {table} in:\n{output}")


def test_text_with_square_brackets_is_printed_as_written(shell):
    # Rich markup read `[omers]` as a style and dropped it (and `[duckdb]` from the driver hint).
    typo = shell("sync", "cust[omers]")
    assert typo.returncode == 2 and "Traceback" not in typo.stderr
    line = _line_with(typo.stderr, "ConfigurationError:")
    assert "'cust[omers]'" in line and "or a table such as `refunds`." in line  # whole, on one line though longer than 80
    odd = shell("sync-ids", "[odd]id")
    assert odd.returncode == 1 and _line_with(odd.stderr, "Cannot tell").startswith("[odd]id: Cannot tell the object type of '[odd]id'")


def test_help_is_written_for_users(shell):
    helped = shell("--help")
    assert helped.returncode == 0
    assert "which module runs each subcommand" not in helped.stdout  # the module's docstring, a developer's note
    assert "Sync Stripe into a SQL warehouse" in helped.stdout
    assert all(variable in helped.stdout for variable in ("STRIPE_API_KEY", "WAREHOUSE_URL", "STRIPE_OBJECTS"))


def test_an_unknown_table_is_blamed_on_where_it_came_from_with_a_suggestion(shell):
    typed = shell("sync", "custmers")
    assert typed.returncode == 2
    line = _line_with(typed.stderr, "ConfigurationError:")
    assert "The command line names 'custmers'" in line and "did you mean customers?" in line and "STRIPE_OBJECTS" not in line
    assert "did you mean invoices?" in shell("status", "invoicess").stderr

    configured = shell("sync", STRIPE_OBJECTS="customers,biling")
    assert configured.returncode == 2
    assert "STRIPE_OBJECTS names 'biling', which is no table, object type or area; did you mean billing?" in configured.stderr


def test_an_id_whose_prefix_tells_no_type_points_to_object_type(shell, emulator):
    unknown = shell("sync-ids", "not-an-id")
    assert unknown.returncode == 1
    line = _line_with(unknown.stderr, "not-an-id: ")
    assert "give the type with --object-type, e.g. `stripe-pipeline sync-ids not-an-id --object-type coupon`" in line
    assert "┏" not in unknown.stderr  # no empty summary table: nothing was synced

    # The hint works: a coupon's ID has no prefix.
    coupon = next(iter(emulator.store.collections["coupons"].objects))
    done = shell("sync-ids", coupon, "--object-type", "coupon")
    assert done.returncode == 0, done.stderr
    assert _summary_row(done.stderr, "coupons")[1:3] == ["by ID", "1"]

    # A type it does not know is a setting to fix, in one line, not a traceback.
    wrong = shell("sync-ids", coupon, "--object-type", "cupon")
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr
    assert "ConfigurationError: --object-type 'cupon' is no object type: did you mean coupon?" in wrong.stderr


def test_outside_a_terminal_the_summary_is_as_wide_as_it_needs(shell, emulator):
    done = shell("sync", "customers", "invoices")  # piped, with no COLUMNS: rich assumed 80 columns and cut cells to "inv…"
    assert done.returncode == 0, done.stderr
    lines = _summary_row(done.stderr, "invoice_line_items")
    assert lines[1] == "backfill" and lines[3] == f"{emulator.store.table_count('invoice_line_items'):,}" and lines[-1] == "with invoices"
    assert _summary_row(done.stderr, "customers")[2] == f"{emulator.store.table_count('customers'):,}"
    status = shell("status")
    assert _summary_row(status.stdout, "invoice_line_items")[4] == "with invoices"


def test_status_without_a_warehouse_creates_none(shell, tmp_path):
    missing = shell("status")
    duckdb = shell("status", WAREHOUSE_URL=f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    assert sorted(path.name for path in tmp_path.iterdir()) == []  # no file, no `….stripe_pipeline` folder beside it
    assert missing.returncode == 0 and "Traceback" not in missing.stdout + missing.stderr
    message = f"No warehouse at sqlite:///{tmp_path / 'warehouse.db'}: run `stripe-pipeline sync` first."
    assert _line_with(missing.stdout, "No warehouse") == message
    assert duckdb.returncode == 0 and "No warehouse at duckdb:///" in duckdb.stdout


def test_status_of_a_warehouse_without_the_tables_creates_none(shell, tmp_path):
    _tables(tmp_path / "warehouse.db")  # an empty database: sqlite3 makes the file
    empty = shell("status")
    assert empty.returncode == 0 and "has been synced yet" in empty.stdout
    named = shell("status", "customers")
    assert named.returncode == 0 and _summary_row(named.stdout, "customers")[1:5] == ["0", "0", "never", "backfill"]
    assert _tables(tmp_path / "warehouse.db") == set()
    assert sorted(path.name for path in tmp_path.iterdir() if not path.name.startswith("warehouse.db-")) == ["warehouse.db"]


def test_status_shows_stripe_times_as_stripe_times(shell, tmp_path):
    assert shell("sync", "customers").returncode == 0
    status = shell("status", "customers", "invoices")
    assert status.returncode == 0, status.stderr
    (state,) = Warehouse(f"sqlite:///{tmp_path / 'warehouse.db'}").sync_states()
    row = _summary_row(status.stdout, "customers")
    # The emulator's clock starts on 2026-01-01: measured on this machine's clock that read "339 d ago".
    assert row[3].endswith(" s ago") and row[5] == state["events_read_at"].strftime("%Y-%m-%d %H:%M UTC")
    assert "d ago" not in status.stdout and "(Stripe's clock)" in status.stdout
    # invoices, never synced, is shown empty and its table is not created.
    assert _summary_row(status.stdout, "invoices")[1:4] == ["0", "0", "never"]
    tables = _tables(tmp_path / "warehouse.db")
    assert "customers" in tables and MODELS["invoices"].__table__.name not in tables


def test_a_failed_table_is_marked_failed_and_a_skipped_one_skipped(shell, make_emulator):
    emulator = make_emulator(SEED, not_enabled=["issuing"])
    # Stripe's answer to the first requests of the run is a 400 that is no setting's fault: the
    # first table fails (its /v1/account may take one: the client goes on without the account's ID).
    emulator.faults.fail_next(2, 400)
    done = shell("sync", "customers", "invoices", "issuing_cards", STRIPE_API_KEY=emulator.api_key, STRIPE_API_BASE=emulator.base_url)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert _summary_row(done.stderr, "customers")[-1].startswith("failed: InvalidRequestError:")
    assert _mark(done.stderr, "customers") == "✗"
    # invoices synced, unless its own first request drew the second 400: either way its mark says which.
    invoices_failed = _summary_row(done.stderr, "invoices")[-1].startswith("failed")
    assert _mark(done.stderr, "invoices") == ("✗" if invoices_failed else "✓")
    # Issuing is not enabled on this account: skipped, which is neither done nor failed.
    assert _mark(done.stderr, "issuing_cards") == "–" and _summary_row(done.stderr, "issuing_cards")[1] == "skipped"


def test_sync_ids_reports_a_type_that_fails_and_syncs_the_others(shell, make_emulator):
    emulator = make_emulator(SEED, not_enabled=["issuing"])
    customer = next(iter(emulator.store.collections["customers"].objects))
    done = shell("sync-ids", "ic_123", customer, STRIPE_API_KEY=emulator.api_key, STRIPE_API_BASE=emulator.base_url)
    assert done.returncode == 1 and "Traceback" not in done.stderr  # it was a traceback, and the customer was not synced
    assert "ic_123: not synced, StripeNotEnabled: GET /v1/issuing/cards/ic_123: Your account is not set up to use Issuing." in done.stderr
    assert _mark(done.stderr, "issuing_cards") == "✗" and _summary_row(done.stderr, "issuing_cards")[-1].startswith("failed: ")
    assert _summary_row(done.stderr, "customers")[1:3] == ["by ID", "1"]


def test_an_unreachable_stripe_stops_the_run_in_seconds_naming_the_setting(shell):
    """Connection refused at the first request is a wrong STRIPE_API_BASE, not a blip: no minute of
    retries per table, and no table marked as synced."""
    started = time.monotonic()
    result = shell("sync", "customers", "invoices", STRIPE_API_BASE="http://127.0.0.1:1")
    assert result.returncode == 2 and time.monotonic() - started < 20
    assert "STRIPE_API_BASE" in result.stderr and "http://127.0.0.1:1" in result.stderr
    assert "Traceback" not in result.stderr and "✓" not in result.stdout + result.stderr


def test_a_warehouse_url_that_is_no_url_is_one_line(shell):
    result = shell("sync", "customers", WAREHOUSE_URL="notaurl")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    [line] = [line for line in result.stderr.splitlines() if line.strip()]
    assert "WAREHOUSE_URL" in line and "sqlite:///" in line  # what a URL looks like


def test_status_says_a_table_without_events_is_listed_whole(shell):
    """Stripe sends no events about balance transactions: every run lists them all, and status
    says so instead of "events"."""
    assert shell("sync", "customers", "balance_transactions").returncode == 0
    status = shell("status", "customers", "balance_transactions")
    assert _summary_row(status.stdout, "customers")[4] == "events"
    assert _summary_row(status.stdout, "balance_transactions")[4] == "full listing (no events)"
