"""Retries, backoff and key errors of the Stripe access layer, against the emulator over HTTP."""

from __future__ import annotations

import contextlib
import functools
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
import stripe

from stripe_pipeline.actions import StripeCustomerAction
from stripe_pipeline.models import StripeCustomer
from stripe_pipeline.settings import ConfigurationError
from stripe_pipeline.stripe_api import BackoffPolicy, StripeAccessError, StripeApiClient, StripeUnreachable

from .conftest import table_rows
from .tcp_proxy import TcpProxy


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_faults_are_survived_and_nothing_is_lost(status, make_emulator, client_for, warehouse):
    emulator = make_emulator({"customer": 250})
    client = client_for(emulator)
    emulator.faults.fail_next(3, status)

    StripeCustomerAction(client=client, warehouse=warehouse).sync_all()

    assert set(table_rows(warehouse, StripeCustomer.__table__)) == set(emulator.store.collections["customers"].objects)
    assert client.stats.retries == 3
    assert client.stats.rate_limited == (3 if status == 429 else 0)
    assert emulator.requests.by_status[status] == 3


def test_retry_after_is_honoured(make_emulator, client_for):
    emulator = make_emulator({"customer": 5})
    client = client_for(emulator)  # its own backoff would wait about 0.01 s
    emulator.faults.fail_next(1, 429, retry_after=0.6)
    started = time.monotonic()
    assert len(client.get("/v1/customers", {"limit": 10})["data"]) == 5
    assert time.monotonic() - started >= 0.6


def test_a_long_retry_after_is_bounded(make_emulator):
    emulator = make_emulator({"customer": 5})
    client = StripeApiClient(emulator.api_key, emulator.base_url, backoff=BackoffPolicy(base_delay=0.01, max_retry_after=0.2))
    emulator.faults.fail_next(1, 429, retry_after=3600)
    started = time.monotonic()
    client.get("/v1/customers")
    assert 0.2 <= time.monotonic() - started < 2


def test_a_404_from_a_wrong_url_is_not_a_missing_object(make_emulator):
    emulator = make_emulator({"customer": 1})
    client = StripeApiClient(emulator.api_key, emulator.base_url + "/wrong-prefix", backoff=BackoffPolicy(max_retries=0))
    with pytest.raises(stripe.InvalidRequestError, match="Unrecognized request URL"):
        client.retrieve("/v1/customers", "cus_whatever")


def test_stripe_should_retry_false_is_not_retried(make_emulator, client_for):
    emulator = make_emulator({"customer": 5})
    client = client_for(emulator)
    emulator.faults.fail_next(1, 500, should_retry=False)
    with pytest.raises(stripe.APIError):
        client.get("/v1/customers")
    assert emulator.requests.total == 1


def test_retries_are_bounded(make_emulator):
    emulator = make_emulator({"customer": 5})
    client = StripeApiClient(emulator.api_key, emulator.base_url, backoff=BackoffPolicy(max_retries=2, base_delay=0.01))
    emulator.faults.fail_next(10, 503)
    with pytest.raises(stripe.APIError):
        client.get("/v1/customers")
    assert emulator.requests.total == 3


def test_a_bad_key_is_a_clear_error_without_the_key(make_emulator, warehouse):
    emulator = make_emulator({"customer": 5})
    bad_key = "sk_test_51ThisIsNotTheRightKeyAtAll9876"
    action = StripeCustomerAction(client=StripeApiClient(bad_key, emulator.base_url), warehouse=warehouse)
    with pytest.raises(StripeAccessError) as raised:
        action.sync_all()
    message = str(raised.value)
    assert "rejected the API key" in message and "STRIPE_API_KEY" in message
    assert bad_key not in message and bad_key[-4:] not in message and bad_key[8:20] not in message
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    assert emulator.requests.by_status[401] == 1  # not retried


def test_a_missing_key_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="STRIPE_API_KEY is not set"):
        StripeApiClient()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_nothing_at_stripe_api_base_fails_the_first_request_at_once_naming_it():
    """Refused, or a host that does not resolve, before Stripe ever answered: a wrong setting,
    not a blip; minutes of retries per table would only hide it."""
    for base in (f"http://127.0.0.1:{_closed_port()}", "http://no-such-host.invalid"):
        client = StripeApiClient("sk_test_x", base, backoff=BackoffPolicy(max_retries=2, base_delay=0.01))
        with pytest.raises(StripeUnreachable, match=rf"Cannot reach Stripe at {re.escape(base)} \(STRIPE_API_BASE\)"):
            client.get("/v1/customers")
        assert client.stats.retries == 0


def test_connection_errors_after_the_first_answer_are_retried_then_raised(make_emulator):
    emulator = make_emulator({"customer": 3})
    proxy = TcpProxy("127.0.0.1", int(emulator.base_url.rsplit(":", 1)[1]))
    client = StripeApiClient(emulator.api_key, f"http://127.0.0.1:{proxy.port}", backoff=BackoffPolicy(max_retries=2, base_delay=0.01))
    assert len(client.get("/v1/customers")["data"]) == 3
    proxy.close()  # Stripe was there; now connections are cut and refused: a network fault, retried
    with pytest.raises(stripe.APIConnectionError) as raised:
        client.get("/v1/customers")
    assert not isinstance(raised.value, StripeUnreachable)
    assert (client.stats.requests, client.stats.retries) == (4, 2)


def test_the_environments_proxy_settings_are_honoured(make_emulator, monkeypatch):
    emulator = make_emulator({"customer": 3})
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{_closed_port()}")
    no_retries = BackoffPolicy(max_retries=0)
    # Through a proxy that is not there: the request cannot get out.
    with pytest.raises(stripe.APIConnectionError):
        StripeApiClient(emulator.api_key, emulator.base_url, backoff=no_retries).get("/v1/customers")
    # NO_PROXY exempts the emulator's host: straight there.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    page = StripeApiClient(emulator.api_key, emulator.base_url, backoff=no_retries).get("/v1/customers")
    assert len(page["data"]) == 3


@contextlib.contextmanager
def _serving(handler, tls: ssl.SSLContext | None = None) -> Iterator[str]:
    """A plain HTTP(S) server in a thread, standing where Stripe should be; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if tls:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_page_that_is_not_json_is_a_clear_error(tmp_path):
    # Something other than Stripe answers 200 with HTML: a captive portal or a misrouted proxy.
    (tmp_path / "v1").mkdir()
    (tmp_path / "v1" / "customers").write_text("<html>Please log in to the network</html>")
    with _serving(functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path))) as base_url:
        client = StripeApiClient("sk_test_x", base_url, backoff=BackoffPolicy(max_retries=0))
        with pytest.raises(stripe.APIConnectionError, match="not complete JSON") as raised:
            client.get("/v1/customers")
    assert "Please log in" not in str(raised.value)  # a body is never quoted: it may be customer data


class _ListHandler(BaseHTTPRequestHandler):
    """Answers every GET with an empty list page and keeps the request headers."""

    seen: list[dict[str, str]] = []

    def do_GET(self):
        self.seen.append({name.lower(): value for name, value in self.headers.items()})
        body = b'{"object": "list", "data": [], "has_more": false}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_requests_carry_the_key_the_api_version_and_the_connect_account():
    _ListHandler.seen = []
    with _serving(_ListHandler) as base_url:
        client = StripeApiClient("sk_test_recorded", base_url, stripe_account="acct_1Connected")
        assert list(client.list_pages("/v1/customers")) == []
    (headers,) = _ListHandler.seen
    assert headers["authorization"] == "Bearer sk_test_recorded"
    assert headers["stripe-account"] == "acct_1Connected"
    assert headers["stripe-version"] == stripe.api_version


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a certificate")
def test_tls_certificates_are_checked_against_the_packages_ca_bundle(tmp_path, monkeypatch):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    with _serving(_ListHandler, tls) as base_url:
        # A certificate that no authority in the bundle signed (an intercepting proxy, say) is refused.
        client = StripeApiClient("sk_test_x", base_url, backoff=BackoffPolicy(max_retries=3, base_delay=0.01))
        with pytest.raises(stripe.APIConnectionError, match="Could not verify the TLS certificate") as refused:
            client.get("/v1/customers")
        assert refused.value.should_retry is False and client.stats.retries == 0
        # The same server, once the package's bundle trusts it: the page arrives over TLS.
        monkeypatch.setattr(stripe, "ca_bundle_path", str(cert))
        assert StripeApiClient("sk_test_x", base_url).get("/v1/customers")["object"] == "list"


class _SlowHandler(_ListHandler):
    def do_GET(self):
        time.sleep(1.0)  # and no answer: the client has given up by now


def test_a_response_slower_than_the_timeout_is_a_retried_connection_error():
    with _serving(_SlowHandler) as base_url:
        client = StripeApiClient("sk_test_x", base_url, timeout=0.2, backoff=BackoffPolicy(max_retries=1, base_delay=0.01))
        with pytest.raises(stripe.APIConnectionError, match="ReadTimeoutError"):
            client.get("/v1/customers")
    assert (client.stats.requests, client.stats.retries) == (2, 1)


def test_a_body_cut_short_is_retried_and_never_quoted(make_emulator, client_for, warehouse):
    emulator = make_emulator({"customer": 30})
    emulator.faults.truncate_next(2)
    StripeCustomerAction(client=client_for(emulator), warehouse=warehouse).sync_all()
    assert warehouse.count(StripeCustomer.__table__) == 30

    emulator.faults.truncate_next(1)
    client = StripeApiClient(emulator.api_key, emulator.base_url, backoff=BackoffPolicy(max_retries=0))
    with pytest.raises(stripe.APIConnectionError) as raised:
        client.get("/v1/customers", {"limit": 3})
    message = str(raised.value)
    assert "not complete JSON" in message and "req_" in message
    emails = [c["email"] for c in emulator.store.collections["customers"].objects.values() if c.get("email")]
    assert "cus_" not in message and not any(email in message for email in emails)


def test_a_stalled_response_costs_the_timeout_that_is_set(make_emulator, monkeypatch):
    emulator = make_emulator({"customer": 2})
    emulator.faults.latency = 3.0
    monkeypatch.setenv("STRIPE_TIMEOUT_SECONDS", "0.5")
    client = StripeApiClient(emulator.api_key, emulator.base_url, backoff=BackoffPolicy(max_retries=0))
    started = time.monotonic()
    with pytest.raises(stripe.APIConnectionError):
        client.get("/v1/customers")
    assert time.monotonic() - started < 2.0
    monkeypatch.setenv("STRIPE_TIMEOUT_SECONDS", "soon")
    with pytest.raises(ConfigurationError, match="STRIPE_TIMEOUT_SECONDS must be a number of seconds"):
        StripeApiClient(emulator.api_key, emulator.base_url)
