"""`python -m benchmarks.backfill --account`: a whole account's first full sync, run as a user runs it.

The emulator, in this process, holds an account of 21 object types (the default full sync's)
and about a million objects by default, `--objects` split as MIX says: balance transactions
the most, then payments, customers and invoices, a few hundred coupons and products. A few
invoices carry long usage-based bills whose lines need pages of their own beyond the 10 the
invoice embeds. Everything is created over five years as ACCOUNT_TIMELINE says: an import
in the first week, growth, a campaign day each year, scripted bulk creates that share a second.
Every request waits 100 ms and Stripe's limits answer 429 beyond them: 100 requests/s for a
live key (the emulator's key is `sk_live_…`, so the product's default budget is a live key's
too) and 25/s per endpoint (`GET /v1/customers`, `GET /v1/invoices/:id/lines`).

The `stripe_full_sync` job then runs through Dagster as a user runs it (`dagster job execute`,
in a subprocess with a DAGSTER_HOME of its own, the job's own executor settings), into a PostgreSQL
schema of its own, dropped afterwards. Reported:
- the pages the data needs: per list endpoint ceil(objects / 100) (one for an empty list: it
  still takes a request to see it empty), and for child lists the pages beyond what the
  parent embeds;
- the bound: the fastest that is allowed, max(all pages / the global rate, the busiest
  endpoint's pages / its cap). The global rate is the sync's budget (the product's default for
  the key, or --budget) where it is below the emulator's limit; the cap is the endpoint limit,
  or the sync's own cap per endpoint where lower. Also the bound when only N steps run at once
  (the job's policies.STEPS_AT_ONCE, or --max-concurrent): each step's own bound, summed, over N;
- the run's wall time against the bound, and the time the API requests spanned (first to last
  request the emulator saw: the rest is Dagster starting and finishing);
- requests against pages, 429s (and which limit: global or endpoint), per endpoint too;
- the peak RSS of the job's processes (sampled from /proc: getrusage's ru_maxrss is useless
  here, a child inherits the peak of this process, the emulator with every object, across
  fork and exec), and CPU time per object (this process's children, all the job's processes);
- Dagster's steps (from the run's event log): how long each worker process took to start and
  each step to run. Every step is a process that imports Dagster and the package first;
  `--baseline` runs the job on an empty account first, to take that fixed cost off;
- rows per table against the emulator's counts.

Seeding takes about 4 s per 100,000 objects and 430 MB of this process's memory (objects and
their JSON), so a million is under a minute and about 4.5 GB: the emulator seeds in one pass.

    python -m benchmarks.backfill --account                                  # 1,000,000 objects
    python -m benchmarks.backfill --account --objects 30000                  # a quick look
    python -m benchmarks.backfill --account --budget 100 --endpoint-budget 25
    python -m benchmarks.backfill --account --single-type --objects 250000   # customers only, against 2,500 objects/s
    python -m benchmarks.backfill --account --seed-only --objects 50000      # seeding time, memory, pages, bound only
    python -m benchmarks.backfill --account --objects 30000 --baseline --json result.json
    python -m benchmarks.backfill --account --objects 30000 --reruns            # then no change, then 1,000 changes
    python -m benchmarks.backfill --account --objects 10000 --connected-accounts 1000 --reruns
    python -m benchmarks.backfill --account --objects 30000 --spawn --max-concurrent 2   # Dagster's default executor
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from array import array
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from stripe_emulator import Emulator
from stripe_emulator.objects import new_id
from stripe_emulator.store import Store
from stripe_emulator.timelines import DAY, HOUR, TIMELINES, YEAR, Span, Timeline, timeline
from stripe_pipeline import policies
from stripe_pipeline.catalog import CHILD_TABLES, TYPES

from .backfill import _memory_gib, _warehouse

PAGE = 100  # objects per list page, Stripe's maximum
API_KEY = "sk_live_emulator"  # a live key: Stripe's 100/s applies, and the product budgets for it
LINES = "invoice_line_items"
TIMELINE_BUCKET = 20.0  # seconds per column of the report's timeline of requests per endpoint

# Objects per million, by object name; LINES: invoice lines beyond the invoices' own 1 to 3,
# on a few long invoices (LONG_INVOICE). Scaled to --objects; balance transactions take the
# rounding. One balance transaction per charge, refund, payout and fee, so they lead.
MIX: dict[str, int] = {
    "balance_transaction": 314_850,
    "charge": 140_000,
    "payment_intent": 140_000,
    "customer": 110_000,
    "invoice": 90_000,
    LINES: 50_000,
    "subscription": 40_000,
    "setup_intent": 30_000,
    "checkout.session": 20_000,
    "invoiceitem": 20_000,
    "invoice_payment": 20_000,
    "refund": 15_000,
    "credit_note": 3_000,
    "payout": 2_000,
    "price": 1_500,
    "dispute": 1_000,
    "subscription_schedule": 1_000,
    "product": 500,
    "promotion_code": 500,
    "coupon": 300,
    "quote": 300,
    "tax_rate": 50,
}
# Lines on one long invoice (usage-based billing, one line per meter or seat group): drawn from
# these, so that some need one page beyond the embedded 10 and some need several.
LONG_INVOICE = (25, 60, 110, 180, 350, 900)

# Five years of an account, as the timelines module composes them: steady growth year on year,
# a migration that imported 10 % in its first three days, one campaign day a year (Black
# Friday: 2.5 % each), two seconds of scripted bulk creates (1 % each: a second the walk cannot
# cut by `created`) and a launch in the last hour.
ACCOUNT_TIMELINE = Timeline(
    (
        *(Span(weight, years * YEAR, YEAR) for years, weight in zip(range(5, 0, -1), (0.08, 0.11, 0.14, 0.18, 0.22))),
        Span(0.10, 5 * YEAR, 3 * DAY),
        *(Span(0.025, years * YEAR - 325 * DAY, DAY) for years in range(4, 0, -1)),
        Span(0.01, 3 * YEAR - 100 * DAY, 1),
        Span(0.01, YEAR - 200 * DAY, 1),
        Span(0.04, HOUR, HOUR),
    )
)


def account_counts(objects: int, single_type: bool) -> dict[str, int]:
    """`objects` split as MIX says (every type at least one), or all customers."""
    if single_type:
        return {"customer": objects}
    scale = objects / sum(MIX.values())
    counts = {name: max(1, round(per_million * scale)) for name, per_million in MIX.items()}
    counts["balance_transaction"] += objects - sum(counts.values())
    return counts


def seed(args: argparse.Namespace, counts: dict[str, int]) -> tuple[Emulator, dict]:
    """The emulator with the account (not started), and how long each part of seeding took."""
    shape = ACCOUNT_TIMELINE if args.distribution == "account" else timeline(args.distribution)
    started = time.perf_counter()
    emulator = Emulator(
        seed={name: count for name, count in counts.items() if name != LINES},
        random_seed=args.random_seed,
        timeline=shape,
        api_key=API_KEY,
        latency=args.latency_ms / 1000,
        rate_limit=args.rate_limit or None,
        endpoint_rate_limit=args.endpoint_rate_limit or None,
    )
    for number in range(args.connected_accounts):  # quiet ones, a few customers each
        emulator.add_account(f"acct_{number:016d}", {"customer": 3}, random_seed=args.random_seed + number + 1)
    objects_seconds = time.perf_counter() - started
    long_invoices = _add_long_invoices(emulator.store, counts.get(LINES, 0), random.Random(args.random_seed))
    lines_seconds = time.perf_counter() - started - objects_seconds
    # Serialise every object now, as the emulator would the first time it lists one: that work is
    # the emulator's (Stripe's servers'), and done during the run it takes CPU from the job.
    for collection in emulator.store.collections.values():
        for object_id in collection.objects:
            collection.json_of(object_id)
    seconds = time.perf_counter() - started
    return emulator, {
        "seconds": seconds,
        "objects_seconds": objects_seconds,
        "lines_seconds": lines_seconds,
        "json_seconds": seconds - objects_seconds - lines_seconds,
        "seconds_per_100k": seconds / sum(counts.values()) * 100_000,
        "long_invoices": long_invoices,
        "rss_mb": _rss_mb(os.getpid())[0],
    }


def _add_long_invoices(store: Store, lines: int, rng: random.Random) -> int:
    """Spread `lines` extra lines over invoices picked at random, LONG_INVOICE lines each at
    most; returns how many invoices got them. Each new line copies one of the invoice's own
    (same invoice, price and period) under a new ID: the emulator seeds lines on random parents
    only, one at a time, which gives no invoice more than a handful."""
    invoices = list(store.collection_for("invoice").objects)
    rng.shuffle(invoices)
    count = 0
    for invoice_id in invoices:
        own = store.child_list(LINES, invoice_id)
        if lines <= 0:
            break
        if not own:
            continue
        size = min(lines, rng.choice(LONG_INVOICE))
        store.add_children(LINES, invoice_id, [{**own[0], "id": new_id(rng, "line_item")} for _ in range(size)])
        lines -= size
        count += 1
    return count


def chosen_tables(single_type: bool) -> list[str]:
    """The tables the job writes: the product's default set (STRIPE_OBJECTS unset), or customers."""
    from stripe_pipeline.actions import ALL_ACTIONS
    from stripe_pipeline.dagster_defs.selection import chosen_tables as product_choice

    return sorted(product_choice(ALL_ACTIONS, "customers" if single_type else ""))


def pages_needed(store: Store, tables: list[str]) -> tuple[dict[str, int], dict[str, str]]:
    """Pages the data needs, by route as the emulator names it (`GET /v1/invoices/:id/lines`),
    and the table (Dagster step) that walks each route."""
    pages: Counter = Counter()
    step: dict[str, str] = {}
    by_table = {kind.table: kind for kind in TYPES.values()}
    for table in tables:
        child = CHILD_TABLES.get(table)
        if child is None:
            route = f"GET {by_table[table].path}"
            pages[route] += max(1, math.ceil(store.table_count(table) / PAGE))
            step[route] = table
            continue
        route = "GET " + (child.url if child.parent_param else child.url.replace("{parent}", ":id"))
        step[route] = TYPES[child.parent].table
        for parent_id, parent in store.collection_for(child.parent).objects.items():
            embedded = parent.get(child.embedded) if child.embedded else None
            if isinstance(embedded, dict) and not embedded.get("has_more"):
                continue  # all of them came with the parent
            shown = len(embedded["data"]) if isinstance(embedded, dict) else 0
            # An embedded page with more is followed from its last child; a list not embedded
            # costs a request even when empty.
            pages[route] += max(0 if shown else 1, math.ceil((_children_of(store, child, parent_id) - shown) / PAGE))
    return dict(pages), step


def _children_of(store: Store, child, parent_id: str) -> int:
    if child.parent_param:  # listed by a filter on the parent's ID (subscription items)
        return sum(1 for obj in store.collection_for(child.child.object_name).objects.values() if obj.get(child.parent_param) == parent_id)
    return len(store.child_list(child.table, parent_id))


def bounds(pages: dict[str, int], step: dict[str, str], rate: float, cap: float | None, steps_at_once: int) -> dict:
    """The least time the pages take at `rate` requests/s in all and `cap` per route: alone,
    and with `steps_at_once` Dagster steps at a time (each step no faster than its own bound)."""

    def least(routes: dict[str, int]) -> float:
        return max(sum(routes.values()) / rate, max((n / cap for n in routes.values()), default=0.0) if cap else 0.0)

    by_step: dict[str, dict[str, int]] = defaultdict(dict)
    for route, n in pages.items():
        by_step[step[route]][route] = n
    step_seconds = {name: least(routes) for name, routes in by_step.items()}
    seconds = least(pages)
    busiest = max(pages, key=pages.__getitem__)
    return {
        "seconds": seconds,
        "limited_by": f"{busiest} at {cap:g}/s"
        if cap and pages[busiest] / cap >= sum(pages.values()) / rate
        else f"all pages at {rate:g}/s",
        "seconds_with_steps_at_once": max(seconds, sum(step_seconds.values()) / steps_at_once),
        "step_seconds": step_seconds,
    }


class _Tap:
    """What the emulator's RequestLog does not keep: requests and 429s per route and by reason
    (global or endpoint limit), accepted requests' times per route, the first and last request
    in all and per route. It wraps the log's `record` and the limiter's `admit` on these
    instances only."""

    def __init__(self, emulator: Emulator):
        self._lock = threading.Lock()
        self.requests: Counter = Counter()
        self.rate_limited: dict[str, Counter] = defaultdict(Counter)
        self.accepted: dict[str, array] = defaultdict(lambda: array("d"))
        self.first: float | None = None
        self.last: float | None = None
        self.spans: dict[str, list[float]] = {}  # route -> [first, last]
        log, limiter = emulator.requests, emulator.rate_limiter
        record, admit = log.record, limiter.admit

        def tapped_record(route: str, status: int, at: float | None = None) -> None:
            at = time.monotonic() if at is None else at
            record(route, status, at)
            with self._lock:
                self.requests[route] += 1
                if 200 <= status < 300:
                    self.accepted[route].append(at)
                self.first = at if self.first is None else min(self.first, at)
                self.last = at if self.last is None else max(self.last, at)
                span = self.spans.setdefault(route, [at, at])
                span[0], span[1] = min(span[0], at), max(span[1], at)

        def tapped_admit(key: str, route: str) -> tuple[float, str | None]:
            at, limited = admit(key, route)
            if limited:
                with self._lock:
                    self.rate_limited[route][limited] += 1
            return at, limited

        log.record = tapped_record
        limiter.admit = tapped_admit  # type: ignore[method-assign]

    def seconds(self, route: str) -> float:
        first, last = self.spans.get(route, (0.0, 0.0))
        return last - first

    def timeline(self, route: str, bucket: float) -> list[int]:
        """Accepted requests to `route` per `bucket` seconds from the run's first request: which
        listing had the budget when."""
        counts = [0] * (int((self.last or 0.0) - (self.first or 0.0)) // int(bucket) + 1)
        for at in self.accepted[route]:
            counts[int((at - (self.first or 0.0)) // bucket)] += 1
        return counts

    def max_in_a_second(self, route: str) -> int:
        times = sorted(self.accepted[route])
        best, first = 0, 0
        for last, at in enumerate(times):
            while times[first] <= at - 1.0:
                first += 1
            best = max(best, last - first + 1)
        return best


class _ProcessTree(threading.Thread):
    """Samples the RSS of a process and all its descendants every `every` seconds: the peak of
    their sum, and the largest VmHWM (its own peak, exact since its exec) of any one of them."""

    def __init__(self, root: int, every: float = 0.5):
        super().__init__(name="rss-sampler", daemon=True)
        self.root, self.every = root, every
        self.peak_total_mb = self.peak_one_mb = 0.0
        self.seen: set[int] = set()
        self._done = threading.Event()  # not `_stop`: Thread has one

    def run(self) -> None:
        while not self._done.wait(self.every):
            self.sample()

    def stop(self) -> None:
        self._done.set()
        self.join()

    def sample(self) -> None:
        children: dict[int, list[int]] = defaultdict(list)
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                try:
                    stat = Path(f"/proc/{entry.name}/stat").read_text()
                except OSError:
                    continue  # gone meanwhile
                children[int(stat.rpartition(")")[2].split()[1])].append(int(entry.name))
        tree, total = [self.root], 0.0
        for pid in tree:
            tree.extend(children.get(pid, ()))
            rss, hwm = _rss_mb(pid)
            total += rss
            self.peak_one_mb = max(self.peak_one_mb, hwm)
        self.seen.update(tree)
        self.peak_total_mb = max(self.peak_total_mb, total)


def _rss_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MB; zeros once it is gone."""
    values = {"VmRSS:": 0.0, "VmHWM:": 0.0}
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                name = line.split(maxsplit=1)[0]
                if name in values:
                    values[name] = int(line.split()[1]) / 1024
    except OSError:
        pass
    return values["VmRSS:"], values["VmHWM:"]


def run_job(emulator: Emulator, url: str, schema: str | None, args: argparse.Namespace, timeout: float) -> dict:
    """`dagster job execute … -j stripe_full_sync` against the emulator, as a user runs it."""
    if not schema:  # unset, the sync would write into the default schema, which is not ours
        raise ValueError("The job needs a schema of its own")
    home = tempfile.TemporaryDirectory(prefix="bench-dagster-")
    env = {name: value for name, value in os.environ.items() if not name.startswith(("STRIPE_", "WAREHOUSE_", "DAGSTER_"))}
    env.update(
        DAGSTER_HOME=home.name,
        STRIPE_API_KEY=emulator.api_key,
        STRIPE_API_BASE=emulator.base_url,
        WAREHOUSE_URL=url,
        WAREHOUSE_SCHEMA=schema,
    )
    # Unset unless asked: the product's defaults are what is measured.
    for name, value in (
        ("STRIPE_REQUESTS_PER_SECOND", args.budget),
        ("STRIPE_ENDPOINT_REQUESTS_PER_SECOND", args.endpoint_budget),
        ("STRIPE_OBJECTS", "customers" if args.single_type else None),
        ("STRIPE_ACCOUNTS", "all" if args.connected_accounts else None),
    ):
        if value:
            env[name] = str(value)
    command = [
        str(Path(sys.executable).parent / "dagster"),
        "job",
        "execute",
        "-m",
        "stripe_pipeline.definitions",
        "-j",
        "stripe_full_sync",
    ]
    if args.max_concurrent or args.spawn:
        # Run config replaces the job's default (stripe_pipeline's STEP_PROCESSES) as a whole.
        multiprocess: dict = {"max_concurrent": args.max_concurrent or policies.STEPS_AT_ONCE}
        if not args.spawn:
            multiprocess["start_method"] = {"forkserver": {"preload_modules": ["stripe_pipeline.dagster_defs", "stripe_pipeline.actions"]}}
        config = Path(home.name, "run.json")
        config.write_text(json.dumps({"execution": {"config": {"multiprocess": multiprocess}}}))
        command += ["-c", str(config)]
    out, err = Path(home.name, "stdout.log"), Path(home.name, "stderr.log")
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    with out.open("w") as stdout, err.open("w") as stderr:
        # A session of its own, so that a timeout or Ctrl-C ends the job's step processes too.
        job = subprocess.Popen(command, env=env, cwd=home.name, stdout=stdout, stderr=stderr, start_new_session=True)
        sampler = _ProcessTree(job.pid)
        sampler.start()
        try:
            returncode = job.wait(timeout=timeout)
        except BaseException:
            os.killpg(job.pid, signal.SIGTERM)
            job.wait()
            raise
        finally:
            sampler.stop()
    seconds = time.monotonic() - started
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if returncode != 0:
        # DAGSTER_HOME stays, with the job's whole output and event log, to look into.
        raise SystemExit(f"The stripe_full_sync job failed ({returncode}; its output is in {home.name}):\n{err.read_text()[-4000:]}")
    steps = _step_times(Path(home.name))
    home.cleanup()
    return {
        "steps": steps,
        "started": started,
        "seconds": seconds,
        "cpu_seconds": (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime),
        "peak_rss_mb": sampler.peak_total_mb,
        "peak_rss_one_process_mb": sampler.peak_one_mb,
        "processes": len(sampler.seen),
    }


def _step_times(home: Path) -> dict[str, dict]:
    """Per Dagster step, from the run's event log in DAGSTER_HOME: seconds from its worker
    process starting to the step starting (the process's imports, loading the code location,
    resources), and from the step starting to its success (the sync itself)."""
    moments: dict[str, dict[str, datetime]] = defaultdict(dict)
    for database in (home / "history" / "runs").glob("*.db"):
        if database.name == "index.db":
            continue
        connection = sqlite3.connect(database)
        try:
            rows = connection.execute(
                "SELECT step_key, dagster_event_type, timestamp FROM event_logs WHERE step_key IS NOT NULL AND dagster_event_type IN "
                "('STEP_WORKER_STARTING', 'STEP_START', 'STEP_SUCCESS', 'STEP_FAILURE')"
            ).fetchall()
        finally:
            connection.close()
        for step, kind, timestamp in rows:
            moments[step].setdefault(kind, datetime.fromisoformat(timestamp))
    steps = {}
    for step, seen in moments.items():
        end = seen.get("STEP_SUCCESS") or seen.get("STEP_FAILURE")
        if "STEP_WORKER_STARTING" in seen and "STEP_START" in seen and end:
            steps[step] = {
                "starting_seconds": (seen["STEP_START"] - seen["STEP_WORKER_STARTING"]).total_seconds(),
                "running_seconds": (end - seen["STEP_START"]).total_seconds(),
            }
    return steps


def row_counts(url: str, schema: str | None, store: Store, tables: list[str]) -> dict[str, dict]:
    """The platform's live rows per table (not flagged `_deleted_at`) against the emulator's count."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            inspector = sa.inspect(connection)
            present = set(inspector.get_table_names(schema=schema))
            counts = {}
            for table in tables:
                rows = None
                if table in present:
                    columns = {column["name"] for column in inspector.get_columns(table, schema=schema)}
                    live = " WHERE _deleted_at IS NULL" if "_deleted_at" in columns else ""
                    if "_account" in columns:  # the platform's: connected accounts are counted apart
                        live += (" AND" if live else " WHERE") + " _account = ''"
                    rows = connection.exec_driver_sql(f'SELECT count(*) FROM "{schema}"."{table}"{live}').scalar()
                counts[table] = {"rows": rows, "expected": store.table_count(table)}
            return counts
    finally:
        engine.dispose()


def budget_in_effect(args: argparse.Namespace) -> tuple[float, float | None, str]:
    """The global rate and the cap per endpoint the sync can reach: its own budget (the
    product's default for the key, or --budget) under the emulator's limits."""
    from stripe_pipeline.stripe_api.budget import default_rate

    budget = args.budget or default_rate(API_KEY)
    # The product's own cap per endpoint, where it has one by default.
    endpoint_budget = args.endpoint_budget or getattr(policies, "ENDPOINT_REQUESTS_PER_SECOND", None)
    rate = min(value for value in (budget, args.rate_limit) if value)
    cap = min((value for value in (endpoint_budget, args.endpoint_rate_limit) if value), default=None)
    said = f"budget {budget:g}/s ({'--budget' if args.budget else 'the product default for a live key'})"
    said += f", endpoint cap {endpoint_budget:g}/s" if endpoint_budget else ", no endpoint cap of its own"
    return rate, cap, said


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.backfill --account", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--objects", type=int, default=None, help="objects in all (default: 1,000,000; with --single-type 250,000)")
    parser.add_argument("--single-type", action="store_true", help="customers only, synced alone (STRIPE_OBJECTS=customers)")
    parser.add_argument("--latency-ms", type=float, default=100.0, help="added to every request (default: 100)")
    parser.add_argument("--rate-limit", type=int, default=100, help="requests/s per key, enforced with 429s; 0: none (default: 100, live)")
    parser.add_argument(
        "--endpoint-rate-limit", type=int, default=25, help="requests/s per route, enforced with 429s; 0: none (default: 25)"
    )
    parser.add_argument("--budget", type=float, default=None, help="STRIPE_REQUESTS_PER_SECOND for the job (default: unset)")
    parser.add_argument(
        "--endpoint-budget", type=float, default=None, help="STRIPE_ENDPOINT_REQUESTS_PER_SECOND for the job (default: unset)"
    )
    parser.add_argument(
        "--max-concurrent", type=int, default=None, help="Dagster steps at once (default: the job's own, policies.STEPS_AT_ONCE)"
    )
    parser.add_argument("--spawn", action="store_true", help="each step a new process, as Dagster does by default (no forkserver)")
    parser.add_argument(
        "--reruns",
        action="store_true",
        help="then run the job again with no change, and again after 1,000 changes: the requests each costs",
    )
    parser.add_argument(
        "--connected-accounts", type=int, default=0, help="N quiet connected accounts besides the platform (STRIPE_ACCOUNTS=all)"
    )
    parser.add_argument(
        "--distribution",
        default="account",
        help=f"when objects were created: `account` (ACCOUNT_TIMELINE, the default) or one of {', '.join(TIMELINES)}",
    )
    parser.add_argument("--random-seed", type=int, default=42)
    parser.add_argument(
        "--timeout", type=float, default=None, help="seconds before the job is stopped (default: 10 times the bound, at least 600)"
    )
    parser.add_argument("--seed-only", action="store_true", help="seed, report seeding time and memory, the pages and the bound, and stop")
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="first run the job on an empty account: Dagster's fixed wall and CPU time, taken off for the marginal figures",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH (`-`: stdout)")
    args = parser.parse_args(argv)
    if args.distribution != "account":
        timeline(args.distribution)  # an unknown name fails before anything runs
    objects = args.objects or (250_000 if args.single_type else 1_000_000)
    counts = account_counts(objects, args.single_type)

    print(
        f"Machine: {os.cpu_count()} cores, {_memory_gib():.0f} GiB. Emulator: {sum(counts.values()):,} objects of {len(counts)} kinds, "
        f"`{args.distribution}` timeline, {args.latency_ms:.0f} ms per request, limits {args.rate_limit or 'none'}/s per key "
        f"({API_KEY[:8]}…) and {args.endpoint_rate_limit or 'none'}/s per endpoint.",
        flush=True,
    )
    emulator, seeding = seed(args, counts)
    print(
        f"Seeded in {seeding['seconds']:.1f} s ({seeding['seconds_per_100k']:.1f} s per 100,000 objects: objects "
        f"{seeding['objects_seconds']:.1f} s, long invoices {seeding['lines_seconds']:.1f} s, JSON {seeding['json_seconds']:.1f} s); "
        f"{seeding['long_invoices']} long invoices; this process's RSS {seeding['rss_mb']:,.0f} MB.",
        flush=True,
    )
    result: dict = {"objects": sum(counts.values()), "counts": counts, "seeding": seeding}
    tables = chosen_tables(args.single_type)
    pages, step = pages_needed(emulator.store, tables)
    rate, cap, budget_said = budget_in_effect(args)
    steps_at_once = args.max_concurrent or policies.STEPS_AT_ONCE
    bound = bounds(pages, step, rate, cap, steps_at_once)
    total_pages = sum(pages.values())
    print(
        f"{len(tables)} tables, {total_pages:,} pages needed on {len(pages)} endpoints; {budget_said}: at {rate:g}/s in all and "
        f"{cap or 'no cap'}/s per endpoint the bound is {bound['seconds']:.1f} s ({bound['limited_by']}); "
        f"{bound['seconds_with_steps_at_once']:.1f} s with {steps_at_once} Dagster steps at a time.",
        flush=True,
    )
    result.update(tables=len(tables), pages_needed=total_pages, pages=pages, rate=rate, endpoint_cap=cap, bound=bound)
    if args.seed_only:
        _write_json(args.json, result)
        return
    timeout = args.timeout or max(600.0, 10 * bound["seconds_with_steps_at_once"])
    baseline = None
    if args.baseline:
        baseline = _baseline(args, timeout)
        print(
            f"Baseline, the same job on an empty account: {baseline['seconds']:.1f} s wall, {baseline['cpu_seconds']:.1f} s CPU, "
            f"{baseline['requests']} requests.",
            flush=True,
        )
    with emulator, _warehouse("postgresql") as (url, schema):
        tap = _Tap(emulator)
        job = run_job(emulator, url, schema, args, timeout)
        rows = row_counts(url, schema, emulator.store, tables)
        log = emulator.requests
        first_run = {
            "requests": log.total,
            "rate_limited": log.rate_limited,
            "max_in_a_second": log.max_in_any_window(1.0, which="all"),
            "max_accepted_in_a_second": log.max_in_any_window(1.0, which="accepted"),
        }
        reruns = _reruns(emulator, url, schema, args, timeout, tables) if args.reruns else None
    if reruns is not None:
        result["reruns"] = reruns
        for name, rerun in reruns.items():
            print(
                f"Then {name}: {rerun['seconds']:.1f} s, {rerun['requests']:,} requests ({rerun['rate_limited']} answered 429) for "
                f"{len(tables)} tables and {args.connected_accounts + 1:,} accounts: {rerun['by_route']}; rows match: {rerun['rows_match']}",
                flush=True,
            )
    span = tap.last - tap.first if tap.first is not None and tap.last is not None else 0.0
    result.update(
        job=job,
        wall_seconds=job["seconds"],
        of_bound=bound["seconds"] / job["seconds"],  # the measure: the bound over the wall time
        api_span_seconds=span,
        first_request_after_seconds=(tap.first - job["started"]) if tap.first is not None else None,
        requests=first_run["requests"],
        rate_limited=first_run["rate_limited"],
        rate_limited_share=first_run["rate_limited"] / max(first_run["requests"], 1),
        rate_limited_by_reason=dict(sum(tap.rate_limited.values(), Counter())),
        max_requests_in_a_second=first_run["max_in_a_second"],
        max_accepted_in_a_second=first_run["max_accepted_in_a_second"],
        cpu_us_per_object=job["cpu_seconds"] / sum(counts.values()) * 1e6,
        routes={
            route: {
                "pages": pages.get(route, 0),
                "requests": tap.requests[route],
                "rate_limited": dict(tap.rate_limited[route]),
                "max_accepted_in_a_second": tap.max_in_a_second(route),
                "seconds": tap.seconds(route),
                "per_20_seconds": tap.timeline(route, TIMELINE_BUCKET),
            }
            for route in sorted(set(pages) | set(tap.requests), key=lambda r: -max(pages.get(r, 0), tap.requests[r]))
        },
        rows=rows,
        rows_match=all(row["rows"] == row["expected"] for row in rows.values()),
    )
    if baseline is not None:
        # What the objects cost beyond what any run of the job costs (process starts, imports).
        result.update(
            baseline=baseline,
            marginal_seconds=job["seconds"] - baseline["seconds"],
            marginal_cpu_us_per_object=(job["cpu_seconds"] - baseline["cpu_seconds"]) / sum(counts.values()) * 1e6,
        )
    if args.single_type:
        result.update(
            objects_per_second=objects / job["seconds"],
            objects_per_second_in_api_span=objects / span if span else None,
            objects_per_second_bound=PAGE * min(rate, cap or rate),
        )
    _report(result, args)
    _write_json(args.json, result)
    if not result["rows_match"]:
        raise SystemExit("Some tables do not hold the emulator's objects: see the rows above.")


def _reruns(emulator: Emulator, url: str, schema: str | None, args: argparse.Namespace, timeout: float, tables: list[str]) -> dict:
    """The job again with nothing changed, then after 1,000 changes: what each run costs."""
    results = {}
    for name, change in (("a run with no change", None), ("a run after 1,000 changes", 1_000)):
        emulator.clock.advance(3_600)  # an hour later, by Stripe's clock
        if change:
            _change(emulator.store, change, random.Random(args.random_seed))
        emulator.requests.reset()
        job = run_job(emulator, url, schema, args, timeout)
        rows = row_counts(url, schema, emulator.store, tables)
        results[name] = {
            "seconds": job["seconds"],
            "requests": emulator.requests.total,
            "rate_limited": emulator.requests.rate_limited,
            "by_route": dict(emulator.requests.by_route.most_common()),
            "rows_match": all(row["rows"] == row["expected"] for row in rows.values()),
        }
    return results


def _change(store: Store, changes: int, rng: random.Random) -> None:
    """What a day of an account does: customers renamed, created and deleted, subscriptions changed."""
    customers = list(store.collections["customers"].objects)
    subscriptions = list(store.collections["subscriptions"].objects)
    for n in range(changes):
        kind = n % 10
        if kind < 6:
            store.update(rng.choice(customers), name=f"Renamed {n}")
        elif kind < 8:
            store.create("customer", name=f"New {n}")
        elif kind < 9 and subscriptions:
            store.update(rng.choice(subscriptions), metadata={"changed": str(n)})
        else:
            victim = customers.pop(rng.randrange(len(customers)))
            store.delete(victim)


def _baseline(args: argparse.Namespace, timeout: float) -> dict:
    """The job against an account with nothing in it, under the same limits and settings."""
    with (
        Emulator(
            api_key=API_KEY,
            latency=args.latency_ms / 1000,
            rate_limit=args.rate_limit or None,
            endpoint_rate_limit=args.endpoint_rate_limit or None,
        ) as emulator,
        _warehouse("postgresql") as (url, schema),
    ):
        job = run_job(emulator, url, schema, args, timeout)
    return {"seconds": job["seconds"], "cpu_seconds": job["cpu_seconds"], "requests": emulator.requests.total}


def _report(result: dict, args: argparse.Namespace) -> None:
    job, bound = result["job"], result["bound"]
    print(
        f"\nstripe_full_sync: {result['objects']:,} objects in {job['seconds']:.1f} s wall: {result['of_bound']:.0%} of the bound's pace "
        f"(the bound {bound['seconds']:.1f} s; {bound['seconds_with_steps_at_once'] / result['wall_seconds']:.0%} of the bound with "
        f"steps at a time). API requests spanned {result['api_span_seconds']:.1f} s, the first {result['first_request_after_seconds'] or 0:.1f} s "
        f"after the start. {result['requests']:,} requests for {result['pages_needed']:,} pages needed "
        f"({result['requests'] / result['pages_needed']:.2f}x), {result['rate_limited']:,} answered 429 "
        f"({result['rate_limited_share']:.1%}: {result['rate_limited_by_reason'] or 'none'}); max {result['max_requests_in_a_second']} "
        f"requests in a second ({result['max_accepted_in_a_second']} accepted). Peak RSS {job['peak_rss_mb']:,.0f} MB over "
        f"{job['processes']} processes (largest {job['peak_rss_one_process_mb']:,.0f} MB); "
        f"{job['cpu_seconds']:.1f} s CPU, {result['cpu_us_per_object']:.0f} µs per object.",
        flush=True,
    )
    steps = job["steps"]
    if steps:
        starting = [step["starting_seconds"] for step in steps.values()]
        running = sorted(steps.items(), key=lambda item: -item[1]["running_seconds"])
        print(
            f"Dagster: {len(steps)} steps, their worker processes {sum(starting):.0f} s starting in all "
            f"({sum(starting) / len(starting):.1f} s each on average, up to {max(starting):.1f} s) and {sum(s['running_seconds'] for s in steps.values()):.0f} s "
            f"running; the longest: "
            + ", ".join(
                f"{name} {step['running_seconds']:.1f} s (bound {result['bound']['step_seconds'].get(name, 0):.1f} s)"
                for name, step in running[:4]
            )
            + ".",
            flush=True,
        )
    if "baseline" in result:
        print(
            f"Beyond the empty account's run: {result['marginal_seconds']:.1f} s wall ({result['marginal_seconds'] / bound['seconds']:.0%} "
            f"of the bound), {result['marginal_cpu_us_per_object']:.0f} µs CPU per object.",
            flush=True,
        )
    if args.single_type:
        print(
            f"Customers: {result['objects_per_second']:,.0f} objects/s over the wall time, "
            f"{result['objects_per_second_in_api_span'] or 0:,.0f} over the requests' span, against {result['objects_per_second_bound']:,.0f} "
            f"({result['objects_per_second'] / result['objects_per_second_bound']:.0%}).",
            flush=True,
        )
    print("\n| endpoint | pages needed | requests | 429s | first to last request | max accepted in a second |\n|---|---|---|---|---|---|")
    for route, seen in result["routes"].items():
        limited = ", ".join(f"{n} {reason}" for reason, n in seen["rate_limited"].items()) or "0"
        print(
            f"| {route} | {seen['pages']:,} | {seen['requests']:,} | {limited} | {seen['seconds']:.1f} s | {seen['max_accepted_in_a_second']} |"
        )
    _print_timeline(result["routes"])
    print("\n| table | rows | emulator |\n|---|---|---|")
    for table, row in result["rows"].items():
        mark = "" if row["rows"] == row["expected"] else " **differs**"
        print(f"| {table} | {'missing' if row['rows'] is None else format(row['rows'], ',')} | {row['expected']:,}{mark} |")
    print(
        "\n| objects | tables | pages needed | bound | wall | of the bound | API span | requests | requests / pages | 429s | "
        "peak RSS | CPU µs/object | rows match |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    )
    print(
        f"| {result['objects']:,} | {result['tables']} | {result['pages_needed']:,} | {bound['seconds']:.0f} s | {job['seconds']:.0f} s | "
        f"{result['of_bound']:.0%} | {result['api_span_seconds']:.0f} s | {result['requests']:,} | "
        f"{result['requests'] / result['pages_needed']:.2f} | {result['rate_limited']:,} ({result['rate_limited_share']:.1%}) | "
        f"{job['peak_rss_mb']:,.0f} MB | {result['cpu_us_per_object']:.0f} | {'yes' if result['rows_match'] else 'no'} |",
        flush=True,
    )


def _print_timeline(routes: dict) -> None:
    """Requests per second, by endpoint, in each TIMELINE_BUCKET from the run's first request, for
    the endpoints with more than a few seconds of requests: who had the budget when."""
    busy = {route: seen["per_20_seconds"] for route, seen in routes.items() if sum(seen["per_20_seconds"]) > 100}
    if not busy:
        return
    columns = max(len(counts) for counts in busy.values())
    starts = [f"{int(column * TIMELINE_BUCKET)}s" for column in range(columns)]
    print(f"\n| requests/s from | {' | '.join(starts)} |\n|---|{'---|' * columns}")
    totals = [0.0] * columns
    for route, counts in busy.items():
        rates = [count / TIMELINE_BUCKET for count in counts] + [0.0] * (columns - len(counts))
        totals = [total + rate for total, rate in zip(totals, rates)]
        print(f"| {route} | {' | '.join(f'{rate:.0f}' for rate in rates)} |")
    print(f"| all of these | {' | '.join(f'{total:.0f}' for total in totals)} |")


def _write_json(path: str | None, result: dict) -> None:
    if not path:
        return
    text = json.dumps(result, indent=2, default=str)
    if path == "-":
        print(text, flush=True)
    else:
        Path(path).write_text(text + "\n")


if __name__ == "__main__":
    main()
