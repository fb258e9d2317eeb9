"""`python -m benchmarks.backfill`: how fast a backfill runs at Stripe's rate limit.

For each shape of `created` (--distribution, see stripe_emulator/timelines.py), starts
the emulator with N customers created that way, a latency per request and Stripe's rate limit
and per endpoint (429s beyond them), then backfills into PostgreSQL (and, for the first shape,
SQLite, DuckDB and MariaDB; Snowflake and BigQuery with `--targets`, against their local
emulators: tests/emulators/install):
- the parallel path (`StripeCustomerAction().sync_all()`: created windows, shared budget);
- the sequential path the seed used (`stripe.Customer.list(limit=100).auto_paging_iter()`),
  through the same hooks and upserts.
Each backfill runs in a process of its own, so its CPU time and peak RSS are its own; the
emulator runs in this process. A Markdown table sums up each shape in a row. Last, the whole
code location is materialized with Dagster's multiprocess executor (every asset in its own
process), and the request rate the emulator saw is compared with the budget.

`--account` runs a whole account's first full sync instead, through Dagster as a user runs it:
see benchmarks/account.py, and `python -m benchmarks.backfill --account --help` for its options.

    python -m benchmarks.backfill                       # every shape, 200,000 customers, 100 ms, 100 req/s, 25/s per endpoint
    python -m benchmarks.backfill --distribution burst-past,ties --skip-multi-asset
    python -m benchmarks.backfill --objects 1000000 --distribution even --skip-sequential --targets postgresql
    python -m benchmarks.backfill --objects 250000 --distribution even --skip-sequential --skip-multi-asset --targets postgresql
    python -m benchmarks.backfill --endpoint-rate-limit 0        # no limit per endpoint: the bound is the global 100/s
    python -m benchmarks.backfill --account --objects 30000     # the account benchmark (benchmarks/account.py)
    python -m benchmarks.backfill --objects 20000 --distribution even --skip-sequential --skip-multi-asset \
        --latency-ms 0 --targets postgresql,snowflake,bigquery   # what each warehouse is sent

For Snowflake and BigQuery, the emulators' speed says nothing about the services': the figures
to read are those counted on the wire (benchmarks/wire.py): statements (and load jobs) per
100,000 rows, rows per writing statement, and the bytes sent. PostgreSQL's statements are
counted by SQLAlchemy in the backfill's process.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from stripe_emulator import Emulator
from stripe_emulator.timelines import TIMELINES, timeline

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MYSQL_URL = os.environ.get("TEST_MYSQL_URL", "mariadb+pymysql://root@127.0.0.1:3306/")
MULTI_ASSET_COUNTS = {
    "product": 200,
    "price": 400,
    "coupon": 100,
    "customer": 40_000,
    "subscription": 20_000,
    "invoice": 20_000,
    "payment_intent": 20_000,
    "charge": 20_000,
}


def run_one(path: str, api_base: str, url: str, schema: str | None, concurrency: int) -> dict:
    """In a child process: one backfill of customers; prints what it measured as JSON."""
    import stripe

    from stripe_pipeline.actions import StripeCustomerAction
    from stripe_pipeline.warehouse import Warehouse

    warehouse = Warehouse(url, schema)
    statements: list[str] = []  # what SQLAlchemy sends (a cloud warehouse's bulk paths bypass it: see wire.py)
    sa.event.listen(warehouse.engine, "before_cursor_execute", lambda conn, cursor, sql, *rest: statements.append(sql))
    action = StripeCustomerAction(api_key="sk_test_emulator", api_base=api_base, warehouse=warehouse, concurrency=concurrency)
    started, cpu_started = time.perf_counter(), time.process_time()
    if path == "parallel":
        stats = action.sync_all()
        fetched = stats.fetched
    else:
        client = stripe.StripeClient("sk_test_emulator", base_addresses={"api": api_base})
        fetched = 0
        with action.batched():
            for customer in client.v1.customers.list(params={"limit": 100}).auto_paging_iter():
                action.sync(customer)
                fetched += 1
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return {
        "objects": fetched,
        "seconds": elapsed,
        "cpu_us_per_object": cpu / max(fetched, 1) * 1e6,
        "peak_rss_mb": _peak_rss_mb(),
        "rows": warehouse.count(action.table()),
        "statements": statements,
    }


def _peak_rss_mb() -> float:
    # VmHWM, not getrusage's ru_maxrss: that one keeps the peak of the forked parent (the
    # emulator, with all its objects) across exec.
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _backfill(emulator: Emulator, path: str, target: str, concurrency: int, endpoint_budget: float | None) -> dict:
    env = {**os.environ, "STRIPE_REQUESTS_PER_SECOND": str(emulator.rate_limiter.rate or 100)}
    if endpoint_budget:
        env["STRIPE_ENDPOINT_REQUESTS_PER_SECOND"] = str(endpoint_budget)
    with _warehouse(target) as (url, schema):
        env.update(_warehouse.env)
        emulator.requests.reset()
        child = subprocess.run(
            [sys.executable, "-m", "benchmarks.backfill", "--run-one", path, emulator.base_url, url, schema or "", str(concurrency)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if child.returncode != 0:
            raise SystemExit(f"The {path} backfill into {target} failed:\n{child.stderr[-3000:]}")
        result = json.loads(child.stdout.strip().splitlines()[-1])
        if _warehouse.wire is not None:  # counted on the wire: the bulk paths too
            result.update(statements=_warehouse.wire.statements, bytes_sent=_warehouse.wire.bytes_sent)
    log = emulator.requests
    result.update(
        requests=log.total,
        rate_limited=log.rate_limited,
        objects_per_second=result["objects"] / result["seconds"],
        max_requests_in_a_second=log.max_in_any_window(1.0, which="all"),
    )
    return result


class _warehouse:
    """A fresh warehouse: a new PostgreSQL schema or MariaDB database (dropped afterwards), a new
    SQLite or DuckDB file, or Snowflake or BigQuery emulated (fakesnow, bqemulator) behind a
    wire counter, with the sync's state in a SQLite file. `_warehouse.env`: what the backfill's
    process needs besides; `_warehouse.wire`: the counter, for an emulated cloud warehouse."""

    env: dict[str, str] = {}
    wire: Any = None

    def __init__(self, target: str):
        self.target = target

    def __enter__(self) -> tuple[str, str | None]:
        type(self).env, type(self).wire = {}, None
        if self.target in ("snowflake", "bigquery"):
            return self._cloud()
        if self.target == "postgresql":
            self.schema = f"bench_{uuid.uuid4().hex[:10]}"
            return POSTGRES_URL, self.schema
        if self.target == "mariadb":
            self.database = f"bench_{uuid.uuid4().hex[:10]}"
            with sa.create_engine(MYSQL_URL).begin() as connection:
                connection.exec_driver_sql(f"CREATE DATABASE `{self.database}` CHARACTER SET utf8mb4")
            return sa.make_url(MYSQL_URL).set(database=self.database).render_as_string(hide_password=False), None
        self.folder = tempfile.TemporaryDirectory()
        if self.target == "duckdb":
            return f"duckdb:///{Path(self.folder.name) / 'bench.duckdb'}", None
        return f"sqlite:///{Path(self.folder.name) / 'bench.db'}", None

    def _cloud(self) -> tuple[str, str | None]:
        from tests.integration import warehouse_emulators

        from .wire import WireCounter, bigquery_statement, snowflake_statement

        self.stack = ExitStack()
        self.folder = tempfile.TemporaryDirectory()
        folder = Path(self.folder.name)
        type(self).env = {"STATE_URL": f"sqlite:///{folder / 'state.db'}"}
        if self.target == "snowflake":
            port = self.stack.enter_context(warehouse_emulators.fakesnow(folder))
            url = warehouse_emulators.new_snowflake_database(port, "bench")
            wire = type(self).wire = self.stack.enter_context(WireCounter(port, snowflake_statement))
            return url.replace(f"port={port}", f"port={wire.port}"), "stripe"  # through the wire counter
        address = self.stack.enter_context(warehouse_emulators.bqemulator(folder))
        wire = type(self).wire = self.stack.enter_context(WireCounter(int(address.rsplit(":", 1)[1]), bigquery_statement))
        type(self).env["BIGQUERY_EMULATOR_HOST"] = f"127.0.0.1:{wire.port}"
        return f"bigquery://{warehouse_emulators.BIGQUERY_PROJECT}/bench", None

    def __exit__(self, *exc) -> None:
        if self.target in ("snowflake", "bigquery"):
            self.stack.close()
            self.folder.cleanup()
        elif self.target == "postgresql":
            engine = sa.create_engine(POSTGRES_URL)
            with engine.begin() as connection:
                connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
            engine.dispose()
        elif self.target == "mariadb":
            engine = sa.create_engine(MYSQL_URL)
            with engine.begin() as connection:
                connection.exec_driver_sql(f"DROP DATABASE IF EXISTS `{self.database}`")
            engine.dispose()
        else:
            self.folder.cleanup()


def _multi_asset(rate_limit: int, endpoint_rate_limit: int | None, latency: float) -> dict:
    with (
        Emulator(seed=MULTI_ASSET_COUNTS, latency=latency, rate_limit=rate_limit, endpoint_rate_limit=endpoint_rate_limit) as emulator,
        _warehouse("postgresql") as (url, schema),
    ):
        home = tempfile.TemporaryDirectory()
        env = {
            **os.environ,
            "DAGSTER_HOME": home.name,
            "STRIPE_API_KEY": emulator.api_key,
            "STRIPE_API_BASE": emulator.base_url,
            "STRIPE_REQUESTS_PER_SECOND": str(rate_limit),
            "WAREHOUSE_URL": url,
            "WAREHOUSE_SCHEMA": schema,
        }
        started = time.perf_counter()
        subprocess.run(
            [Path(sys.executable).parent / "dagster", "job", "execute", "-m", "stripe_pipeline.definitions", "-j", "stripe_full_sync"],
            env=env,
            cwd=home.name,
            check=True,
            capture_output=True,
        )
        elapsed = time.perf_counter() - started
        log = emulator.requests
        result = {
            "objects": sum(MULTI_ASSET_COUNTS.values()),
            "seconds": elapsed,
            "requests": log.total,
            "requests_per_second": log.total / elapsed,
            "max_requests_in_a_second": log.max_in_any_window(1.0, which="all"),
            "rate_limited": log.rate_limited,
        }
        home.cleanup()
        return result


def _row(shape: str, parallel: dict, sequential: dict | None, bound: float) -> str:
    speedup = f"{parallel['objects_per_second'] / sequential['objects_per_second']:.1f}x" if sequential else "-"
    sequential_rate = f"{sequential['objects_per_second']:,.0f}" if sequential else "-"
    return (
        f"| {shape} | {parallel['objects_per_second']:,.0f} | {parallel['objects_per_second'] / bound:.0%} | "
        f"{parallel['requests']:,} | {parallel['pages_needed']:,} | {parallel['rate_limited']} | {parallel['max_requests_in_a_second']} | "
        f"{parallel['peak_rss_mb']:.0f} MB | {parallel['cpu_us_per_object']:.0f} | {sequential_rate} | {speedup} |"
    )


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if "--account" in argv:  # a benchmark of its own, with its own options
        from .account import main as account

        account([arg for arg in argv if arg != "--account"])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--account", action="store_true", help="the account benchmark instead (benchmarks/account.py; --account --help)")
    parser.add_argument("--objects", type=int, default=200_000)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--rate-limit", type=int, default=100, help="requests per second, enforced by the emulator with 429s")
    parser.add_argument(
        "--endpoint-rate-limit",
        type=int,
        default=25,
        help="requests per second to one route (GET /v1/customers), enforced with 429s as Stripe does; 0: none (default: 25)",
    )
    parser.add_argument(
        "--endpoint-budget", type=float, default=None, help="STRIPE_ENDPOINT_REQUESTS_PER_SECOND for the backfills (default: unset)"
    )
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--distribution",
        default=",".join(TIMELINES),
        help=f"when the customers were created, one or more of: {', '.join(TIMELINES)} (default: all)",
    )
    parser.add_argument(
        "--targets",
        default="postgresql,sqlite,duckdb,mariadb",
        help="the first gets every shape and the sequential path; the others the first shape",
    )
    parser.add_argument("--skip-sequential", action="store_true")
    parser.add_argument("--skip-multi-asset", action="store_true")
    parser.add_argument("--run-one", nargs=5, metavar=("PATH", "API_BASE", "URL", "SCHEMA", "CONCURRENCY"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.run_one:
        path, api_base, url, schema, concurrency = args.run_one
        print(json.dumps(run_one(path, api_base, url, schema or None, int(concurrency))))
        return

    shapes = args.distribution.split(",")
    for shape in shapes:
        timeline(shape)  # an unknown name fails before anything runs
    targets = args.targets.split(",")
    endpoint_rate_limit = args.endpoint_rate_limit or None
    # One list endpoint: the lower of the two limits bounds it.
    bound = min(args.rate_limit, endpoint_rate_limit or args.rate_limit) * 100
    print(
        f"Machine: {os.cpu_count()} cores, {_memory_gib():.0f} GiB. Emulator: {args.objects:,} customers, {args.latency_ms:.0f} ms per request, "
        f"{args.rate_limit} requests/s, {endpoint_rate_limit or 'no limit'} per endpoint (bound: {bound:,} objects/s), "
        f"concurrency {args.concurrency}.",
        flush=True,
    )
    table = []
    for index, shape in enumerate(shapes):
        started = time.perf_counter()
        with Emulator(
            seed={"customer": args.objects},
            timeline=shape,
            latency=args.latency_ms / 1000,
            rate_limit=args.rate_limit,
            endpoint_rate_limit=endpoint_rate_limit,
        ) as emulator:
            print(f"\n{shape}: seeded in {time.perf_counter() - started:.1f} s.", flush=True)
            runs = [(targets[0], "parallel")]
            if not args.skip_sequential:
                runs.append((targets[0], "sequential"))
            if index == 0:
                runs += [(target, "parallel") for target in targets[1:]]
            results = {}
            for target, path in runs:
                result = results[(target, path)] = _backfill(emulator, path, target, args.concurrency, args.endpoint_budget)
                result["pages_needed"] = max(1, -(-args.objects // 100))
                print(
                    f"{path:>10} into {target:<10} {result['objects']:>9,} objects in {result['seconds']:7.1f} s: "
                    f"{result['objects_per_second']:7,.0f} objects/s ({result['objects_per_second'] / bound:.0%} of the bound), "
                    f"{result['requests']:,} requests, {result['rate_limited']} 429s, max {result['max_requests_in_a_second']}/s, "
                    f"peak RSS {result['peak_rss_mb']:.0f} MB, {result['cpu_us_per_object']:.0f} µs CPU/object",
                    flush=True,
                )
                assert result["rows"] == args.objects, f"{result['rows']:,} rows for {args.objects:,} objects"
                print(f"{'':>10} {_writes(result)}", flush=True)
            table.append(_row(shape, results[(targets[0], "parallel")], results.get((targets[0], "sequential")), bound))
    print(
        f"\n{args.objects:,} customers into {targets[0]}, {args.latency_ms:.0f} ms per request, {args.rate_limit} requests/s, "
        f"{endpoint_rate_limit or 'no limit'} per endpoint:\n"
    )
    print(
        "| shape | objects/s | of the bound | requests | pages needed | 429s | max requests in a second | peak RSS | CPU µs/object | sequential objects/s | parallel / sequential |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(table), flush=True)
    if not args.skip_multi_asset:
        multi = _multi_asset(args.rate_limit, endpoint_rate_limit, args.latency_ms / 1000)
        print(
            f"\nAll 8 assets at once (Dagster multiprocess executor, PostgreSQL): {multi['objects']:,} objects in "
            f"{multi['seconds']:.1f} s, {multi['requests']:,} requests, {multi['requests_per_second']:.0f} requests/s on average, "
            f"max {multi['max_requests_in_a_second']} in any second against a budget of {args.rate_limit}, {multi['rate_limited']} 429s",
            flush=True,
        )


def _writes(result: dict) -> str:
    """What a backfill sent its warehouse, per 100,000 objects: its statements by first word, and
    how many objects each statement that upserts the table's rows carried."""
    statements = result["statements"]
    words = Counter((sql.split(None, 1) or ["?"])[0].upper() for sql in statements)
    upserts = sum(1 for sql in statements if _upserts_customers(sql))
    per = 100_000 / max(result["objects"], 1)
    sent = f", {result['bytes_sent'] / max(result['objects'], 1):,.0f} bytes sent per object" if "bytes_sent" in result else ""
    listed = ", ".join(f"{word} {n:,}" for word, n in words.most_common())
    return (
        f"{len(statements) * per:,.0f} statements per 100,000 objects ({listed}); {upserts * per:,.0f} upserts of the table "
        f"per 100,000, {result['objects'] / max(upserts, 1):,.0f} objects each{sent}"
    )


def _upserts_customers(sql: str) -> bool:
    """A statement that writes rows into the customers table itself (not a staging table): a
    MERGE INTO it, or an INSERT into it (PostgreSQL's JSON batch starts WITH …)."""
    text = " ".join(sql.split()).lower()
    return bool(re.search(r"(merge( into)?|insert into) [`\"\w.]*?\bcustomers\b[`\"]?( |\()", text))


def _memory_gib() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30


if __name__ == "__main__":
    main()
