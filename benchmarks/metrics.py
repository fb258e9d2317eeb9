"""`python -m benchmarks.metrics`: how long every revenue metric takes to build, and in how much
memory, for 100,000 subscriptions and about 1,000,000 invoices in PostgreSQL.

The synced tables are filled without HTTP: the emulator's scenarios
(stripe_emulator/scenarios.py) tell each subscription's history, and the actions' own mapping
and upserts write it (`sync` in a batch), as a sync would. The shapes vary: monthly, quarterly, annual and weekly prices in two
currencies, quantities, coupons of every duration, trials, upgrades, cancellations at once
and at the period end, pauses and failed payments; starts spread over three years, with a
burst in the last months. The metrics are then built in a process of their own, so its time
and peak memory (VmHWM) are theirs alone.

    python -m benchmarks.metrics                          # 100,000 subscriptions
    python -m benchmarks.metrics --subscriptions 10000    # a quick look
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
import uuid

import sqlalchemy as sa

from .backfill import POSTGRES_URL, _peak_rss_mb

BATCH = 1000


def _seed(url: str, schema: str, subscriptions: int, seed: int) -> dict:
    from stripe_emulator.scenarios import Scenario, random_story, standard_plans
    from stripe_emulator.store import Store
    from stripe_pipeline.actions import StripeInvoiceAction, StripePriceAction, StripeSubscriptionAction
    from stripe_pipeline.stripe_api import StripeApiClient
    from stripe_pipeline.warehouse import Warehouse

    warehouse = Warehouse(url, schema)
    client = StripeApiClient("sk_test_benchmark", "http://127.0.0.1:9")  # never asked: every row is given
    actions = {
        name: action(client=client, warehouse=warehouse)
        for name, action in (("price", StripePriceAction), ("subscription", StripeSubscriptionAction), ("invoice", StripeInvoiceAction))
    }
    store = Store(seed=seed)
    story, rng = Scenario(store, seed=seed), random.Random(seed)
    plans, coupons = standard_plans(story)
    with actions["price"].batched():
        for price in plans:
            actions["price"].sync(price)
    customers = [f"cus_bench{n:07d}" for n in range(int(subscriptions * 0.7))]
    now = store.clock.now()
    counts = {"subscriptions": 0, "invoices": 0, "lines": 0}
    for first in range(0, subscriptions, BATCH):
        # A batch per thousand, as a sync's pages come: each flush stays small.
        with actions["subscription"].batched(), actions["invoice"].batched():
            for _ in range(first, min(first + BATCH, subscriptions)):
                subscription, invoices = random_story(story, rng, customers, plans, coupons, now).build(now)
                story.subscriptions.clear()  # built and written: nothing kept in memory
                actions["subscription"].sync(subscription)
                for invoice in invoices:
                    actions["invoice"].sync(invoice)
                counts["subscriptions"] += 1
                counts["invoices"] += len(invoices)
                counts["lines"] += sum(len(invoice["lines"]["data"]) for invoice in invoices)
        if first and first % 10_000 == 0:
            print(f"  seeded {first:,} subscriptions, {counts['invoices']:,} invoices", flush=True)
    # What autovacuum does within a minute of a load this size; it is off on the benchmark
    # machine, and without statistics the planner joins 1.5 million lines by nested loops
    # (65 s for the whole build instead of 51 s).
    with warehouse.engine.begin() as connection:
        connection.exec_driver_sql(f'ANALYZE "{schema}".invoice_line_items, "{schema}".invoices, "{schema}".subscriptions')
    warehouse.engine.dispose()
    return counts


def _build(url: str, schema: str) -> None:
    from stripe_pipeline.metrics import TABLES, build_all, write
    from stripe_pipeline.warehouse import Warehouse

    warehouse = Warehouse(url, schema)
    started = time.perf_counter()
    tables = build_all(warehouse)
    computed = time.perf_counter() - started
    for name in TABLES:
        write(warehouse, name, tables[name])
    print(
        json.dumps(
            {
                "compute_seconds": computed,
                "seconds": time.perf_counter() - started,
                "peak_rss_mb": _peak_rss_mb(),
                "rows": {name: len(tables[name]) for name in TABLES},
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscriptions", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--build-only", nargs=2, metavar=("URL", "SCHEMA"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build_only:
        _build(*args.build_only)
        return
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(POSTGRES_URL)
    try:
        started = time.perf_counter()
        counts = _seed(POSTGRES_URL, schema, args.subscriptions, args.seed)
        print(
            f"Seeded {counts['subscriptions']:,} subscriptions, {counts['invoices']:,} invoices, {counts['lines']:,} lines in {time.perf_counter() - started:.0f} s."
        )
        child = subprocess.run(
            [sys.executable, "-m", "benchmarks.metrics", "--build-only", POSTGRES_URL, schema], capture_output=True, text=True, check=False
        )
        if child.returncode != 0:
            raise SystemExit(f"The metrics build failed:\n{child.stderr[-3000:]}")
        result = json.loads(child.stdout.strip().splitlines()[-1])
        print(
            f"Every metric built in {result['seconds']:.1f} s ({result['compute_seconds']:.1f} s reading and computing, the rest writing), "
            f"peak RSS {result['peak_rss_mb']:.0f} MB; rows: {result['rows']}"
        )
    finally:
        with engine.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        engine.dispose()


if __name__ == "__main__":
    main()
