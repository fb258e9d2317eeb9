"""The HTTP client the `stripe` package sends our requests through: urllib3, within the budget.

`stripe.HTTPClient` is the package's hook for custom clients. Its default client goes through
requests, whose layers above urllib3 (preparing the request, merging session settings, reading
the environment's proxy variables again) cost as much CPU per request as urllib3 itself. At a
hundred pages a second that was a fifth of the sync's CPU, so this client calls urllib3
directly, as botocore does. It keeps what matters from requests: certificates checked against
the package's CA bundle, the environment's proxy settings (`HTTPS_PROXY`, `NO_PROXY`, …), and
connection errors as the package's `APIConnectionError`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass

import stripe
import urllib3

from .. import policies
from .budget import RateBudget
from .endpoints import endpoint

MAX_CONNECTIONS = policies.HTTP_MAX_CONNECTIONS
CONNECT_TIMEOUT_SECONDS = policies.HTTP_CONNECT_TIMEOUT_SECONDS


class BudgetedHttpClient(stripe.HTTPClient):
    """Waits for the request budget right before sending: after the package's own work on the
    request, so the request leaves when its slot comes."""

    name = "urllib3"

    def __init__(self, budget: RateBudget, api_base: str, timeout: float):
        connect = min(timeout, CONNECT_TIMEOUT_SECONDS)
        super().__init__()
        self._budget = budget
        self._timeout = urllib3.Timeout(connect=connect, read=timeout)
        self._pool = _connection_pool(api_base)
        # This thread's last request: when it left and when its answer arrived (this machine's clock).
        self.timing = threading.local()

    # The body is bytes, as from stripe's own clients, though their base class says `str`.
    def request(
        self, method: str, url: str, headers: Mapping[str, str] | None, post_data: Any = None, *, _usage: list[str] | None = None
    ) -> tuple[Any, int, Mapping[str, str]]:
        self._budget.wait(endpoint(method, url))
        try:
            sent = time.time()
            # retries=False: retries are ours (retry.py), and a redirect is answered, not followed.
            response = self._pool.request(
                method.upper(), url, headers=dict(headers or {}), body=post_data, timeout=self._timeout, retries=False
            )
            self.timing.sent, self.timing.received = sent, time.time()  # when its data was read: clock.py
        except urllib3.exceptions.SSLError as error:
            raise stripe.APIConnectionError(
                f"Could not verify the TLS certificate of {urlsplit(url).hostname}: {error}. "
                "Make sure nothing on your network intercepts certificates.",
                should_retry=False,
            ) from error
        except urllib3.exceptions.NewConnectionError as error:
            cause = error.__cause__ or error.__context__
            if isinstance(error, urllib3.exceptions.NameResolutionError) or isinstance(cause, ConnectionRefusedError):
                why = (
                    "its host name does not resolve"
                    if isinstance(error, urllib3.exceptions.NameResolutionError)
                    else "the connection was refused"
                )
                raise NothingListens(f"{urlsplit(url).hostname}: {why}", should_retry=True) from error
            raise _connection_error(url, error) from error
        except urllib3.exceptions.HTTPError as error:
            raise _connection_error(url, error) from error
        return response.data, response.status, response.headers

    def request_stream(
        self, method: str, url: str, headers: Mapping[str, str] | None, post_data: Any = None, *, _usage: list[str] | None = None
    ) -> tuple[Any, int, Mapping[str, str]]:
        raise NotImplementedError("The sync reads JSON pages; streamed responses (PDFs) are not supported")

    def close(self) -> None:
        self._pool.clear()


class NothingListens(stripe.APIConnectionError):
    """No server at the address: the connection was refused, or the host name does not resolve.
    A client that never reached Stripe takes it for a wrong STRIPE_API_BASE (client.py); later
    in a run it is a network fault like any other, and retried."""


def _connection_error(url: str, error: Exception) -> stripe.APIConnectionError:
    return stripe.APIConnectionError(f"The request to {urlsplit(url).hostname} failed: {type(error).__name__}: {error}", should_retry=True)


def _connection_pool(api_base: str) -> urllib3.PoolManager:
    """Connections to the API host, through the environment's proxy unless NO_PROXY exempts it."""
    tls: dict[str, Any] = {"cert_reqs": "CERT_REQUIRED", "ca_certs": stripe.ca_bundle_path}
    parts = urlsplit(api_base)
    proxies = {} if proxy_bypass(parts.hostname or "") else getproxies()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if proxy:
        return urllib3.ProxyManager(proxy, maxsize=MAX_CONNECTIONS, **tls)
    return urllib3.PoolManager(maxsize=MAX_CONNECTIONS, **tls)
