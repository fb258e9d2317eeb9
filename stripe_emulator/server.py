"""The emulator as a local HTTP server: one object to start, seed, steer and stop."""

from __future__ import annotations

import email.utils
import socket
import threading
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import scenarios
from .api import StripeApi
from .ratelimit import RateLimiter
from .store import EVENT_RETENTION_SECONDS, Clock, Store
from .timelines import Timeline

DEFAULT_API_KEY = "sk_test_emulator"
# Stripe's published rate limits (docs.stripe.com/rate-limits), the emulator's default: every
# test and benchmark runs under them unless it says otherwise.
STRIPE_LIMITS = "stripe"
LIVE_LIMIT, SANDBOX_LIMIT, ENDPOINT_LIMIT = 100, 25, 25


def stripe_limit(api_key: str) -> int:
    """Stripe's global limit for the key's mode."""
    return LIVE_LIMIT if api_key.startswith(("sk_live_", "rk_live_")) else SANDBOX_LIMIT


class Emulator:
    """A stateful fake of Stripe's API on a loopback port.

    >>> with Emulator(seed={"customer": 100}) as emulator:
    ...     os.environ["STRIPE_API_BASE"] = emulator.base_url
    """

    def __init__(
        self,
        *,
        seed: Mapping[str, int] | None = None,
        random_seed: int = 42,
        timeline: str | Timeline = "even",
        api_key: str = DEFAULT_API_KEY,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        event_retention: float = EVENT_RETENTION_SECONDS,
        rate_limit: int | None | str = STRIPE_LIMITS,
        endpoint_rate_limit: int | None | str = STRIPE_LIMITS,
        accounts: Mapping[str, Mapping[str, int]] | None = None,
        not_enabled: Iterable[str] = (),
        account_id: str = "acct_emulator",
        stories: int = 0,
        refuse_params: Mapping[str, Iterable[str]] | None = None,
    ):
        """`timeline`: when the seeded objects were created, a name from timelines.TIMELINES
        ("even", the default, "burst-past", "ties", …) or a Timeline.
        `rate_limit`: requests per second per API key across all routes, and
        `endpoint_rate_limit`: per route such as `GET /v1/customers`. By default Stripe's own
        limits (`STRIPE_LIMITS`): 100 in all for a live key (`sk_live_…`), 25 for a sandbox's,
        and 25 per route; None is no limit. Over a limit the answer is Stripe's 429 (see
        `ratelimit.RateLimiter`).
        `accounts`: Connect accounts by ID, each with its own seed counts; they answer to the
        `Stripe-Account` header and the platform lists them in /v1/accounts.
        `not_enabled`: Stripe areas (`issuing`, `treasury`, …) this account does not have: their
        endpoints answer Stripe's "not set up" error.
        `account_id`: the key's own account, as `GET /v1/account` answers it.
        `stories`: that many subscription histories with their invoices, billed as Stripe
        would (scenarios.tell_random), so that the revenue metrics have something to say.
        `refuse_params`: parameters a list answers as unknown (400), by its path, as an older
        API version or a proxy may: `{"customers": ["created"]}`; `emulator.api.refused_params`
        changes them later."""
        self.api_key = api_key
        self.store = Store(Clock(), seed=random_seed, event_retention=event_retention)
        if seed:
            self.store.seed(seed, seed=random_seed, timeline=timeline)
        if stories:
            scenarios.tell_random(scenarios.Scenario(self.store, seed=random_seed), stories, seed=random_seed)
        limiter = RateLimiter(
            stripe_limit(api_key) if rate_limit == STRIPE_LIMITS else rate_limit,  # type: ignore[arg-type]
            ENDPOINT_LIMIT if endpoint_rate_limit == STRIPE_LIMITS else endpoint_rate_limit,  # type: ignore[arg-type]
        )
        self.api = StripeApi(self.store, api_key, limiter, frozenset(not_enabled), account_id)
        for number, (connected_id, counts) in enumerate((accounts or {}).items()):
            self.add_account(connected_id, counts, random_seed=random_seed + number + 1, timeline=timeline)
        self.api.faults.latency = latency
        self.api.refused_params = {path: set(names) for path, names in (refuse_params or {}).items()}
        self._server = _Server((host, port), _handler_for(self.api))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    def add_account(
        self, account_id: str, counts: Mapping[str, int] | None = None, *, random_seed: int = 1, timeline: str | Timeline = "even"
    ) -> Store:
        """A connected account with its own objects, listed by the platform's /v1/accounts."""
        store = Store(self.store.clock, seed=random_seed, event_retention=self.store.event_retention)
        if counts:
            store.seed(counts, seed=random_seed, timeline=timeline)
        self.api.accounts[account_id] = store
        self.store.create("account", id=account_id)
        return store

    def account(self, account_id: str) -> Store:
        """The store of a connected account."""
        return self.api.accounts[account_id]

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host if isinstance(host, str) else host.decode()}:{port}"

    @property
    def faults(self):
        return self.api.faults

    @property
    def requests(self):
        return self.api.log

    @property
    def rate_limiter(self) -> RateLimiter:
        """Its `rate` and `endpoint_rate` can be changed while the emulator runs."""
        return self.api.limiter

    @property
    def clock(self) -> Clock:
        """Emulator time; `emulator.clock.advance(seconds)` moves it, e.g. past event retention."""
        return self.store.clock

    def start(self) -> Emulator:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": _POLL_INTERVAL}, name="stripe-emulator", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever(poll_interval=_POLL_INTERVAL)

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# How often serve_forever looks for `stop()`; the stdlib's 0.5 s made every stop take that long.
_POLL_INTERVAL = 0.05


class _Server(ThreadingHTTPServer):
    # The stdlib listens with a backlog of 5: a burst of new connections beyond it waits for
    # the client's SYN retry, a second or more. Many concurrent clients connect at once.
    request_queue_size = 128


def _handler_for(api: StripeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the stripe package's session expects
        # Headers and body go out in separate writes; with Nagle's algorithm on, the body's last
        # segment waits for the client's delayed ACK, about 40 ms a response on keep-alive.
        disable_nagle_algorithm = True

        def _serve(self) -> None:
            path, _, query = self.path.partition("?")
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            headers = {name.lower(): value for name, value in self.headers.items()}
            status, response_headers, payload, sent = api.handle(self.command, path, query, body, headers)
            try:
                self.send_response(status)
                for name, value in response_headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload if sent is None else payload[:sent])
                if sent is not None:
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
            except ConnectionError:
                self.close_connection = True  # the client gave up waiting (a timeout): nothing to answer

        do_GET = do_POST = do_DELETE = _serve

        def date_time_string(self, timestamp=None):
            # The Date header tells emulator time, as Stripe's tells Stripe's: clients read "now" from it.
            return email.utils.formatdate(api.store.clock.now() if timestamp is None else timestamp, usegmt=True)

        def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
            pass  # request lines would flood test output; the RequestLog counts them instead

    return Handler
