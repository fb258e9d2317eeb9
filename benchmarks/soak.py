"""`python -m benchmarks.soak`: incremental syncs for a long while, against an account that keeps
changing, through faults, with the sync killed -9 now and then. At the end the warehouse must
equal the source exactly, the error table must be empty and no run may have been left stuck.

The emulator runs in this process, with Stripe's test-mode rate limit, a latency per request,
random faults (every kind in stripe_emulator/api.py's FAULT_KINDS, plus 500 and 429, 5 % in
all) and a thread that creates, updates and deletes objects at a steady rate. Syncs run back to
back, each in a process of its own (as Dagster runs them), and every few minutes the running
one is killed with SIGKILL. Last, mutations and faults stop, and one clean run brings the
tables up to date from the events alone (no reconcile); then the tables are compared with the
emulator's objects.

    python -m benchmarks.soak                          # 20 minutes into PostgreSQL
    python -m benchmarks.soak --minutes 3 --warehouse sqlite
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter

import sqlalchemy as sa

from stripe_emulator import Emulator
from stripe_emulator.api import FAULT_KINDS

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SEED = {"product": 20, "price": 40, "customer": 20_000, "subscription": 10_000, "invoice": 10_000}
TYPES = ("products", "prices", "customers", "subscriptions", "invoices")
RUN_TIMEOUT_SECONDS = 600  # a run that takes longer counts as stuck
TIMEOUT_SECONDS = 2.0  # the sync's read timeout; stalls last longer
STALL_SECONDS = 3.0


def child(api_base: str, url: str, schema: str | None) -> None:
    """One incremental run of every type, as a Dagster run would do it; prints its figures."""
    from stripe_pipeline.actions import ALL_ACTIONS
    from stripe_pipeline.warehouse import Warehouse

    warehouse = Warehouse(url, schema)
    figures = {}
    for action in [a for a in ALL_ACTIONS if a.table_name() in TYPES]:
        sync = action(api_key="sk_test_emulator", api_base=api_base, warehouse=warehouse, timeout_seconds=TIMEOUT_SECONDS)
        stats = sync.sync_incremental()
        figures[action.table_name()] = {"modes": stats.modes, "retries": sync.client.stats.retries, "requests": sync.client.stats.requests}
    print(json.dumps(figures), flush=True)


class Mutator(threading.Thread):
    """Creates, updates and deletes objects at `per_second`, and remembers what it deleted."""

    def __init__(self, emulator: Emulator, per_second: float):
        super().__init__(daemon=True)
        self.store, self.interval = emulator.store, 1 / per_second
        self.done = Counter()
        self.deleted: set[str] = set()
        self._halt = threading.Event()
        self._rng = random.Random(11)

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            self.mutate()

    def stop(self) -> None:
        self._halt.set()
        self.join()

    def mutate(self) -> None:
        rng, store = self._rng, self.store
        customers = list(store.collections["customers"].objects)
        draw = rng.random()
        if draw < 0.25:
            store.create(
                "customer",
                name=rng.choice(["Zoë Ångström", "李小龙", "O'Brien & Söhne", None]),
                email=None if rng.random() < 0.3 else f"soak{rng.randrange(10**9)}@example.com",
            )
            self.done["customer created"] += 1
        elif draw < 0.55:
            store.update(
                rng.choice(customers), name=f"Renamed {rng.randrange(10**6)} ✓", metadata={"tier": rng.choice(["gold", "silver", ""])}
            )
            self.done["customer updated"] += 1
        elif draw < 0.65:
            victim = rng.choice(customers)
            store.delete(victim)
            self.deleted.add(victim)
            self.done["customer deleted"] += 1
        elif draw < 0.8:
            live = [s for s, obj in store.collections["subscriptions"].objects.items() if obj["status"] != "canceled"]
            if rng.random() < 0.3:
                store.delete(rng.choice(live))  # cancels
                self.done["subscription canceled"] += 1
            else:
                store.update(rng.choice(live), metadata={"seats": str(rng.randrange(1, 50))})
                self.done["subscription updated"] += 1
        elif draw < 0.95:
            store.update(rng.choice(list(store.collections["invoices"].objects)), metadata={"po": str(rng.randrange(10**6))})
            self.done["invoice updated"] += 1
        else:
            store.update(rng.choice(list(store.collections["products"].objects)), description=f"v{rng.randrange(1000)}")
            self.done["product updated"] += 1


def compare(emulator: Emulator, engine: sa.Engine, schema: str | None, deleted: set[str]) -> dict[str, int]:
    """Per table, how many rows differ from the source: a missing or extra live row, a stale
    `_raw`, or a deletion not flagged."""
    from stripe_pipeline.models import MODELS

    mismatches = {}
    translated = engine.execution_options(schema_translate_map={None: schema}) if schema else engine
    with translated.connect() as connection:
        for name in TYPES:
            table = MODELS[name].__table__
            rows = {row.id: row for row in connection.execute(sa.select(table.c.id, table.c._raw, table.c._deleted_at))}
            objects = emulator.store.collections[name].objects
            live = {i for i, row in rows.items() if row._deleted_at is None}
            wrong = (live ^ set(objects)) | {i for i in objects if i in rows and rows[i]._raw != objects[i]}
            if name == "customers":
                wrong |= {i for i in deleted if i not in rows or rows[i]._deleted_at is None}
            mismatches[name] = len(wrong)
    return mismatches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--warehouse", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--fault-share", type=float, default=0.05, help="share of requests answered with a fault, all kinds together")
    parser.add_argument("--mutations-per-second", type=float, default=2.0)
    parser.add_argument(
        "--kill-every", type=float, nargs=2, default=(60.0, 180.0), metavar=("MIN", "MAX"), help="seconds between kills, drawn uniformly"
    )
    parser.add_argument("--child", nargs=3, metavar=("API_BASE", "URL", "SCHEMA"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.child[2] or None)
        return

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # still drop the schema when stopped
    if args.warehouse == "postgresql":
        url, schema = POSTGRES_URL, f"soak_{uuid.uuid4().hex[:10]}"
    else:
        url, schema = f"sqlite:///{tempfile.mkdtemp(prefix='soak-')}/warehouse.db", None
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    emulator = Emulator(seed=SEED, latency=0.03, rate_limit=25, timeline="burst-past").start()
    kinds = [*FAULT_KINDS, 500, 429]
    emulator.faults.rates = {kind: args.fault_share / len(kinds) for kind in kinds}
    emulator.faults.stall_seconds = STALL_SECONDS
    mutator = Mutator(emulator, args.mutations_per_second)
    mutator.start()
    rng = random.Random(5)
    figures = Counter()
    run_seconds: list[float] = []
    requests: Counter = Counter()
    stuck = 0
    started = time.monotonic()
    deadline = started + args.minutes * 60
    next_kill = started + rng.uniform(4, 12)  # the first kill lands in the first backfill

    def launch() -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "benchmarks.soak", "--child", emulator.base_url, url, schema or ""],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    try:
        print(
            f"soak: {args.minutes:g} min into {args.warehouse}, seed {SEED}, faults {args.fault_share:.0%}, "
            f"{args.mutations_per_second:g} mutations/s, a kill every {args.kill_every[0]:.0f}-{args.kill_every[1]:.0f} s",
            flush=True,
        )
        while time.monotonic() < deadline:
            run_started = time.monotonic()
            process = launch()
            killed = False
            while process.poll() is None:
                now = time.monotonic()
                if now >= next_kill:
                    process.send_signal(signal.SIGKILL)
                    killed = True
                    next_kill = now + rng.uniform(*args.kill_every)
                elif now - run_started > RUN_TIMEOUT_SECONDS:
                    process.kill()
                    stuck += 1
                time.sleep(0.05)
            out, err = process.communicate()
            if killed:
                figures["killed"] += 1
            elif process.returncode != 0:
                figures["failed"] += 1
                print(f"  run failed (exit {process.returncode}): {err.strip().splitlines()[-1] if err.strip() else ''}", flush=True)
            else:
                figures["completed"] += 1
                run_seconds.append(time.monotonic() - run_started)
                for stats in json.loads(out.strip().splitlines()[-1]).values():
                    requests["requests"] += stats["requests"]
                    requests["retries"] += stats["retries"]
                    for mode in stats["modes"]:
                        figures[f"{mode} runs"] += 1
            elapsed = time.monotonic() - started
            print(f"  {elapsed / 60:5.1f} min: {dict(figures)}", flush=True)
            time.sleep(1.0)

        mutator.stop()
        emulator.faults.rates = {}
        final = launch()
        out, err = final.communicate(timeout=RUN_TIMEOUT_SECONDS)
        if final.returncode != 0:
            print(f"final run failed: {err}", flush=True)
        mismatches = compare(emulator, engine, schema, mutator.deleted)
        with engine.connect() as connection:
            prefix = f'"{schema}".' if schema else ""
            open_errors = (
                connection.scalar(sa.text(f"SELECT count(*) FROM {prefix}_stripe_sync_errors"))
                if sa.inspect(connection).has_table("_stripe_sync_errors", schema=schema)
                else 0
            )
            unfinished = connection.scalar(sa.text(f"SELECT count(*) FROM {prefix}_stripe_sync_state WHERE backfill IS NOT NULL"))
        print(
            json.dumps(
                {
                    "minutes": args.minutes,
                    "warehouse": args.warehouse,
                    "runs": dict(figures),
                    "stuck_runs": stuck,
                    "run_seconds": {"median": round(statistics.median(run_seconds), 1), "max": round(max(run_seconds), 1)}
                    if run_seconds
                    else None,
                    "mutations": dict(mutator.done),
                    "faults_injected": {str(kind): count for kind, count in emulator.faults.injected.items()},
                    "requests_by_completed_runs": dict(requests),
                    "emulator_requests": emulator.requests.snapshot()["total"],
                    "mismatched_rows": mismatches,
                    "open_sync_errors": open_errors,
                    "unfinished_backfills": unfinished,
                    "final_run_ok": final.returncode == 0,
                },
                indent=2,
            ),
            flush=True,
        )
        ok = final.returncode == 0 and not any(mismatches.values()) and open_errors == 0 and stuck == 0 and unfinished == 0
        print("soak: PASS" if ok else "soak: FAIL", flush=True)
        sys.exit(0 if ok else 1)
    finally:
        emulator.stop()
        if schema:
            with engine.begin() as connection:
                connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


if __name__ == "__main__":
    main()
