"""`stripe-pipeline`, the installed command, as a user runs it in a shell against the emulator."""

from __future__ import annotations

from stripe_pipeline.models import MODELS
from stripe_pipeline.warehouse import Warehouse


def _summary_row(output: str, table: str) -> list[str]:
    """The cells of the summary's row for `table`."""
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.strip("│┃ ").split("│")]
        if cells and cells[0] == table:
            return cells
    raise AssertionError(f"no row for {table} in:\n{output}")


def test_sync_backfills_then_reads_the_events_and_status_tells(shell, emulator):
    first = shell("sync", "customers", "invoices")
    assert first.returncode == 0, first.stderr
    warehouse = Warehouse(shell.warehouse_url)
    store = emulator.store
    for table in ("customers", "invoices", "invoice_line_items"):  # the lines come with their invoices
        assert warehouse.count(MODELS[table].__table__) == store.table_count(table) > 0
    customers = _summary_row(first.stderr, "customers")
    assert customers[1] == "backfill" and customers[2] == customers[3] == f"{store.table_count('customers'):,}"
    assert "Traceback" not in first.stderr and emulator.api_key not in first.stdout + first.stderr

    gone = next(iter(store.collections["customers"].objects))
    store.delete(gone)
    store.create("customer", name="Zoë Ünicode")
    second = shell("sync", "customers")
    assert second.returncode == 0, second.stderr
    assert _summary_row(second.stderr, "customers")[1:4] == ["incremental", "1", "1"]
    assert _summary_row(second.stderr, "customers")[6] == "1"  # deleted

    status = shell("status")
    assert status.returncode == 0, status.stderr
    row = _summary_row(status.stdout, "customers")
    assert row[1:3] == [f"{store.table_count('customers'):,}", "1"] and row[4] == "events" and row[6] == "0"
    assert _summary_row(status.stdout, "invoices")[1] == f"{store.table_count('invoices'):,}"
    # Child tables keep no state of their own: their parent's tells.
    lines = _summary_row(status.stdout, "invoice_line_items")
    assert lines[1] == f"{store.table_count('invoice_line_items'):,}" and lines[3] != "never" and lines[4] == "with invoices"
    lines = _summary_row(first.stderr, "invoice_line_items")
    assert lines[1] == "backfill" and lines[3] == f"{store.table_count('invoice_line_items'):,}"


def test_sync_ids_reports_what_it_could_not_sync(shell, emulator):
    customer = next(iter(emulator.store.collections["customers"].objects))
    invoice = next(i for i in emulator.store.collections["invoices"].objects.values() if i["lines"]["data"])
    done = shell("sync-ids", customer, invoice["id"], "cus_doesnotexist", "zz_unknown")
    assert done.returncode == 1
    assert _summary_row(done.stderr, "customers")[1:3] == ["by ID", "1"]
    lines = _summary_row(done.stderr, "invoice_line_items")  # they come with their invoice, and say so
    assert lines[3] == str(len(invoice["lines"]["data"])) and lines[-1] == "with invoices"
    assert "cus_doesnotexist: Stripe has no customer with this ID." in done.stderr
    assert "zz_unknown: Cannot tell the object type of 'zz_unknown'" in done.stderr
    assert customer in Warehouse(shell.warehouse_url).existing_ids(MODELS["customers"].__table__, {customer}, None)


def test_setup_errors_are_one_line_without_the_key(shell, emulator):
    missing = shell("sync", "customers", STRIPE_API_KEY="")
    assert missing.returncode == 2 and "ConfigurationError: STRIPE_API_KEY is not set." in missing.stderr
    assert "Traceback" not in missing.stderr
    wrong = shell("sync", "customers", STRIPE_API_KEY="sk_test_wrong_and_secret")
    assert wrong.returncode != 0 and "sk_test_wrong_and_secret" not in wrong.stdout + wrong.stderr
    unknown = shell("sync", "nonsense")
    assert unknown.returncode == 2 and "names 'nonsense', which is no table" in unknown.stderr


def test_the_emulator_and_demo_are_subcommands(shell):
    helped = shell("emulator", "--help")
    assert helped.returncode == 0 and "usage: stripe-pipeline emulator" in helped.stdout and "--customers" in helped.stdout
    listed = shell("--help")
    assert all(command in listed.stdout for command in ("sync", "sync-ids", "status", "emulator", "demo"))
