"""`python -m stripe_emulator`: serve a seeded Stripe emulator until interrupted."""

from __future__ import annotations

import argparse

from stripe_pipeline.catalog.declarations import DEFAULT_OBJECTS

from .api import FAULT_KINDS
from .objects import SEED_ORDER
from .server import DEFAULT_API_KEY, STRIPE_LIMITS, Emulator
from .timelines import TIMELINES

DEMO_COUNTS = {
    "product": 20,
    "price": 40,
    "coupon": 10,
    "customer": 500,
    "subscription": 400,
    "invoice": 800,
    "payment_intent": 600,
    "charge": 600,
    # The rest of the default full sync, from the generic builder (emulator/generic.py).
    **{name: 25 for name in DEFAULT_OBJECTS if name not in SEED_ORDER},
    "credit_note_line_items": 60,
}


def main(argv: list[str] | None = None, prog: str | None = None) -> None:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--api-key", default=DEFAULT_API_KEY, help="the one key the emulator accepts")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every request")
    parser.add_argument("--random-seed", type=int, default=42)
    parser.add_argument("--timeline", default="even", choices=list(TIMELINES), help="when the seeded objects were created")
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="FAULT:SHARE",
        help="answer this share of requests with this fault: an HTTP status or one of "
        f"{', '.join(FAULT_KINDS)}, e.g. --fault 429:0.05 --fault drop:0.01",
    )
    parser.add_argument("--stall-seconds", type=float, default=2.0, help="how long a `stall` fault holds the answer")
    parser.add_argument(
        "--rate-limit",
        type=_limit,
        default=STRIPE_LIMITS,
        metavar="N",
        help="at most N requests per second per API key, 0 for none (default: Stripe's: 100 for a live key, 25 for a sandbox's)",
    )
    parser.add_argument(
        "--endpoint-rate-limit",
        type=_limit,
        default=STRIPE_LIMITS,
        metavar="N",
        help="at most N requests per second to one route, e.g. GET /v1/customers, 0 for none (default: Stripe's 25)",
    )
    for object_name in SEED_ORDER:
        parser.add_argument(
            f"--{object_name.replace('_', '-')}s",
            dest=object_name,
            type=int,
            default=DEMO_COUNTS[object_name],
            help=f"{object_name} objects to seed",
        )
    parser.add_argument(
        "--seed",
        action="append",
        default=[],
        metavar="TYPE=N",
        help="seed any catalogued type or child table besides those above, e.g. --seed refund=500 --seed invoice_line_items=40",
    )
    parser.add_argument(
        "--stories",
        type=int,
        default=0,
        metavar="N",
        help="N subscription histories with every invoice Stripe would have issued, for the revenue metrics",
    )
    parser.add_argument(
        "--not-enabled",
        action="append",
        default=[],
        metavar="AREA",
        help="answer an area's endpoints as on an account without it, e.g. issuing",
    )
    args = parser.parse_args(argv)
    counts = {object_name: getattr(args, object_name) for object_name in SEED_ORDER}
    counts.update({name: int(count) for name, _, count in (option.partition("=") for option in args.seed)})
    emulator = Emulator(
        seed=counts,
        random_seed=args.random_seed,
        timeline=args.timeline,
        api_key=args.api_key,
        host=args.host,
        port=args.port,
        latency=args.latency_ms / 1000,
        rate_limit=args.rate_limit,
        endpoint_rate_limit=args.endpoint_rate_limit,
        not_enabled=args.not_enabled,
        stories=args.stories,
    )
    emulator.faults.rates = _fault_rates(parser, args.fault)
    emulator.faults.stall_seconds = args.stall_seconds
    print(
        f"Stripe emulator on {emulator.base_url} (key {args.api_key}), seeded with {dict((path, n) for path, n in emulator.store.counts().items() if n)}",
        flush=True,
    )
    if emulator.rate_limiter.enabled:
        limiter = emulator.rate_limiter
        print(f"  rate limits: {limiter.rate or 'none'}/s per key, {limiter.endpoint_rate or 'none'}/s per endpoint", flush=True)
    print(f"  export STRIPE_API_BASE={emulator.base_url} STRIPE_API_KEY={args.api_key}", flush=True)
    try:
        emulator.serve_forever()
    except KeyboardInterrupt:
        pass


def _fault_rates(parser: argparse.ArgumentParser, faults: list[str]) -> dict[str | int, float]:
    rates: dict[str | int, float] = {}
    for fault in faults:
        kind, _, share = fault.rpartition(":")
        if not (kind.isdigit() or kind in FAULT_KINDS):
            parser.error(f"--fault {fault}: the fault is an HTTP status or one of {', '.join(FAULT_KINDS)}")
        try:
            rates[int(kind) if kind.isdigit() else kind] = float(share)
        except ValueError:
            parser.error(f"--fault {fault}: the share is a number, e.g. {kind}:0.05")
    return rates


def _limit(value: str) -> int | None:
    return int(value) or None


if __name__ == "__main__":
    main()
