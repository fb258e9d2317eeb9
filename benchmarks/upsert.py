"""`python -m benchmarks.upsert`: PostgreSQL's two upsert paths side by side.

The JSON batch (warehouse/upsert.py: the rows as one JSON array, unpacked by the server) against
the portable statement (SQLAlchemy's executemany, sent as multi-row INSERTs with every value
bound), on the same rows, in flushes of 500 as the sync writes them. Three rounds per path:
insert into an empty table, update every row, and a rerun that changes nothing. For each: rows
per second, the client's CPU per row, and the server's (the backend process's user + system
time, read from /proc: the database runs on this machine).

    python -m benchmarks.upsert                  # 20,000 customers and 20,000 invoices
    python -m benchmarks.upsert --objects 50000
"""

from __future__ import annotations

import argparse
import os
import time
import uuid

import sqlalchemy as sa

from stripe_emulator import Emulator
from stripe_pipeline.actions import StripeCustomerAction, StripeInvoiceAction
from stripe_pipeline.policies import FLUSH_EVERY
from stripe_pipeline.warehouse import Warehouse
from stripe_pipeline.warehouse import upsert as upsert_module

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TICKS = os.sysconf("SC_CLK_TCK")


def _server_cpu(connection) -> float:
    pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    connection.commit()
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def _round(warehouse: Warehouse, table: sa.Table, rows: list[dict], write) -> dict:
    with warehouse.engine.connect() as connection:
        server_before, cpu_before, started = _server_cpu(connection), time.process_time(), time.perf_counter()
        for start in range(0, len(rows), FLUSH_EVERY):
            with connection.begin():
                write(warehouse.database.dialect, connection, table, rows[start : start + FLUSH_EVERY])
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu_before
        server = _server_cpu(connection) - server_before
    return {"rows/s": len(rows) / wall, "client µs/row": cpu / len(rows) * 1e6, "server µs/row": server / len(rows) * 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=20_000)
    args = parser.parse_args()

    emulator = Emulator(seed={"customer": args.objects, "invoice": args.objects}, timeline="burst-past")
    paths = {"JSON batch": upsert_module.upsert_rows, "portable": upsert_module._upsert_portable}
    print(f"{args.objects:,} rows per table into PostgreSQL, {FLUSH_EVERY} rows per flush\n")
    print("| table | path | round | rows/s | client µs/row | server µs/row |")
    print("|---|---|---|---|---|---|")
    for action in (StripeCustomerAction, StripeInvoiceAction):
        objects = list(emulator.store.collections[action.table_name()].objects.values())
        for path, write in paths.items():
            schema = f"bench_{uuid.uuid4().hex[:10]}"
            warehouse = Warehouse(POSTGRES_URL, schema)
            try:
                warehouse.ensure_tables([action.table()])
                sync = action()
                rows = sorted((sync.set_default(obj) for obj in objects), key=lambda row: row["id"])
                changed = [{**row, "metadata": {"round": "2"}} for row in rows]
                for name, batch in (("insert", rows), ("update", changed), ("unchanged", changed)):
                    figures = _round(warehouse, action.table(), batch, write)
                    print(
                        f"| {action.table_name()} ({len(action.table().columns)} columns) | {path} | {name} | "
                        f"{figures['rows/s']:,.0f} | {figures['client µs/row']:.0f} | {figures['server µs/row']:.0f} |",
                        flush=True,
                    )
            finally:
                with warehouse.engine.begin() as connection:
                    connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
                warehouse.engine.dispose()


if __name__ == "__main__":
    main()
