"""The emulator as a local HTTP server: one object to start, seed, steer and stop."""

from __future__ import annotations

import email.utils
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from collections.abc import Mapping

from .api import StripeApi
from .store import EVENT_RETENTION_SECONDS, Clock, Store

DEFAULT_API_KEY = "sk_test_emulator"


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
        api_key: str = DEFAULT_API_KEY,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        event_retention: float = EVENT_RETENTION_SECONDS,
    ):
        self.api_key = api_key
        self.store = Store(Clock(), seed=random_seed, event_retention=event_retention)
        if seed:
            self.store.seed(seed, seed=random_seed)
        self.api = StripeApi(self.store, api_key)
        self.api.faults.latency = latency
        self._server = ThreadingHTTPServer((host, port), _handler_for(self.api))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def faults(self):
        return self.api.faults

    @property
    def requests(self):
        return self.api.log

    @property
    def clock(self) -> Clock:
        """Emulator time; `emulator.clock.advance(seconds)` moves it, e.g. past event retention."""
        return self.store.clock

    def start(self) -> Emulator:
        self._thread = threading.Thread(target=self._server.serve_forever, name="stripe-emulator", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _handler_for(api: StripeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the stripe package's session expects

        def _serve(self) -> None:
            path, _, query = self.path.partition("?")
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            headers = {name.lower(): value for name, value in self.headers.items()}
            status, response_headers, payload = api.handle(self.command, path, query, body, headers)
            self.send_response(status)
            for name, value in response_headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_DELETE = _serve

        def date_time_string(self, timestamp=None):
            # The Date header tells emulator time, as Stripe's tells Stripe's: clients read "now" from it.
            return email.utils.formatdate(api.store.clock.now() if timestamp is None else timestamp, usegmt=True)

        def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
            pass  # request lines would flood test output; the RequestLog counts them instead

    return Handler
