"""The command's arguments, and which module runs each subcommand.

What `--help` says is DESCRIPTION and EPILOG below, written for the user; this docstring is
for whoever reads the code."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.text import Text

from ..errors import SETUP_ERRORS
from .sync import say

DESCRIPTION = """\
Sync Stripe into a SQL warehouse from the shell, without Dagster: the same sync the Dagster
code location runs. A table's first sync backfills it; later ones read the events since."""

EPILOG = """\
Configured by the same environment variables as the Dagster code location, among them:
  STRIPE_API_KEY     the secret or restricted key (required by sync and sync-ids; never printed)
  WAREHOUSE_URL      where the tables go (default sqlite:///stripe_warehouse.db)
  WAREHOUSE_SCHEMA   the schema on PostgreSQL and DuckDB (default stripe)
  STATE_URL          where the sync keeps its own state (default: the warehouse's database)
  STRIPE_OBJECTS     what `sync` covers when given no tables (default: the billing and payments core)
  STRIPE_ACCOUNTS    Connect accounts to sync besides the platform (acct_…, or all)
  STRIPE_API_BASE    the API's address, e.g. the emulator's
The README's table lists them all. `stripe-pipeline COMMAND --help` tells a command's options.
Exit status: 0 done, 1 some table or ID failed, 2 a setting to fix."""


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="stripe-pipeline", description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sync = commands.add_parser("sync", help="bring tables up to date: a backfill the first time, then the events since")
    sync.add_argument(
        "tables",
        nargs="*",
        metavar="TABLE",
        help="tables, object types or areas, as in STRIPE_OBJECTS (default: that variable, else the billing and payments core)",
    )
    sync.add_argument("--full-refresh", action="store_true", help="backfill everything again, ignoring the events cursor")
    sync.add_argument("--reconcile", action="store_true", help="also relist every ID, to flag deletions no event reported")
    sync.add_argument("--trust-event-payloads", action="store_true", help="take changed objects from the events, not a retrieve")
    sync.add_argument("--strict", action="store_true", help="fail at the first object that cannot be synced")
    sync.add_argument("-v", "--verbose", action="store_true", help="show the sync's progress lines under the bar")

    by_ids = commands.add_parser("sync-ids", help="sync the objects with these IDs (the type comes from the prefix)")
    by_ids.add_argument("ids", nargs="+", metavar="ID")
    by_ids.add_argument("--object-type", help="the type of every ID given, for IDs whose prefix tells none (coupons, say), e.g. coupon")
    by_ids.add_argument("--account", metavar="ACCT", help="the Connect account the IDs belong to (acct_…); default: the platform's own")
    by_ids.add_argument("--no-related", action="store_true", help="do not also sync what they refer to")
    by_ids.add_argument("-v", "--verbose", action="store_true")

    status = commands.add_parser("status", help="per table: rows, deleted, last sync, next run, events read (Stripe's clock), open errors")
    status.add_argument("tables", nargs="*", metavar="TABLE", help="as for sync (default: every table with a sync state)")

    # Their own parsers take their arguments (see main).
    commands.add_parser("emulator", help="serve the Stripe emulator (its options: stripe-pipeline emulator --help)")
    commands.add_parser("demo", help="the demo: the full sync job on the emulator, into stripe_demo.db")
    return root


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["emulator"]:
        from ..emulator.__main__ import main as emulator

        emulator(argv[1:], prog="stripe-pipeline emulator")
        return
    args = parser().parse_args(argv)
    if args.command == "demo":
        from ..demo import main as demo

        demo()
        return
    # No markup in what is printed: user text (an error's `[duckdb]`, a table name) stays as written.
    console = Console(stderr=True, markup=False, highlight=False)
    try:
        if args.command == "status":
            from .status import status

            status(args.tables, Console(markup=False, highlight=False))
            return
        from . import sync

        failed = sync.tables(args, console) if args.command == "sync" else sync.ids(args, console)
    except SETUP_ERRORS as error:
        say(console, Text.assemble((f"{type(error).__name__}:", "bold red"), f" {error}"))
        sys.exit(2)
    sys.exit(1 if failed else 0)
