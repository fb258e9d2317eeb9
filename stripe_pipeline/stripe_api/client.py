"""Stripe API access for the sync: plain JSON pages through the `stripe` package.

The hot path never builds StripeObjects (about 125 µs each): hooks receive plain dicts exactly
as the API sent them. The `stripe` package builds, authenticates and sends each request and
turns error responses into its exceptions; the body of a success is parsed with orjson.
"""

from __future__ import annotations

import email.utils
import hashlib
import logging
import re
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import orjson
import stripe

from .. import policies, settings
from . import clock
from .budget import RateBudget, SlotStore, budget_key, default_rate
from .compat import RawRequester
from .endpoints import endpoint
from .errors import StripeAccessError, StripeNotEnabled, StripeUnreachable
from .retry import BackoffPolicy, header
from .transport import BudgetedHttpClient, NothingListens

_KEY_PATTERN = re.compile(r"\b[sr]k_(?:live|test)_[A-Za-z0-9*]+")


@dataclass
class RequestStats:
    """What the client did, for logs and asset metadata."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(self, **increments: int) -> None:
        with self._lock:
            for name, value in increments.items():
                setattr(self, name, getattr(self, name) + value)

    def as_dict(self) -> dict[str, int]:
        return {"requests": self.requests, "retries": self.retries, "rate_limited": self.rate_limited}


class StripeApiClient:
    """Reads Stripe's API as JSON dicts, retrying what is worth retrying.

    Arguments override the environment (STRIPE_API_KEY, STRIPE_API_BASE, STRIPE_TIMEOUT_SECONDS,
    STRIPE_REQUESTS_PER_SECOND, STRIPE_ENDPOINT_REQUESTS_PER_SECOND), or `config` (settings
    already loaded, a Dagster resource's) in its place. `stripe_account` reads a
    Connect account's data through the platform key. Every request waits for a slot of the
    request budget; pass a `slot_store` shared between processes (`Warehouse.slot_store()`) to
    share the budget with them, or a whole `budget`.
    """

    def __init__(
        self,
        api_key: str | None = None,
        api_base: str | None = None,
        *,
        stripe_account: str | None = None,
        backoff: BackoffPolicy | None = None,
        timeout: float | None = None,
        logger: logging.Logger | Any | None = None,
        budget: RateBudget | None = None,
        slot_store: SlotStore | None = None,
        requests_per_second: float | None = None,
        endpoint_requests_per_second: float | None = None,
        config: settings.Settings | None = None,
    ):
        config = settings.load(
            config,
            stripe_api_key=api_key,
            stripe_api_base=api_base,
            stripe_timeout_seconds=timeout,
            stripe_requests_per_second=requests_per_second,
            stripe_endpoint_requests_per_second=endpoint_requests_per_second,
        )
        api_key = settings.required_key(config)
        self.budget = budget or RateBudget(
            budget_key(api_key),  # connected accounts' requests spend the platform key's budget
            config.stripe_requests_per_second or default_rate(api_key),
            config.stripe_endpoint_requests_per_second or policies.ENDPOINT_REQUESTS_PER_SECOND,
            store=slot_store,
        )
        self.api_base = config.stripe_api_base
        self.stripe_account = stripe_account
        self.livemode = api_key.startswith(("sk_live_", "rk_live_"))
        # Names the key, the account it reads and where, without revealing the key: a sync state
        # row remembers which key it has seen read its account already (actions/sync/runner.py).
        self.key_fingerprint = hashlib.sha256(f"{api_key} {stripe_account or ''} {config.stripe_api_base}".encode()).hexdigest()[:32]
        self._account_id: str | None = None
        self.backoff = backoff or BackoffPolicy()
        self.stats = RequestStats()
        self._server_time: int | None = None
        self._reached = False  # until Stripe answers once, refused connections mean a wrong address
        self._clock = clock.for_host(self.api_base)
        self._local = threading.local()  # each thread's last response time: when its data was observed
        self.log = logger or logging.getLogger("stripe_pipeline.stripe_api")
        self._http = BudgetedHttpClient(self.budget, self.api_base, timeout=config.stripe_timeout_seconds)
        self._client = stripe.StripeClient(
            api_key,
            stripe_account=stripe_account,
            base_addresses={"api": self.api_base},
            max_network_retries=0,  # retries are ours: see retry.py
            http_client=self._http,
        )
        self._raw = RawRequester(self._client)

    def __repr__(self) -> str:
        return f"StripeApiClient(api_base={self.api_base!r}, stripe_account={self.stripe_account!r})"

    def get(self, path: str, params: dict | None = None) -> dict:
        """GET one API resource as a dict, with backoff on 429, 409, 5xx and network errors."""
        attempt = 0
        while True:
            self.stats.count(requests=1)
            try:
                return self._request_json("get", path, params or {})
            except (stripe.AuthenticationError, stripe.PermissionError, stripe.InvalidRequestError) as error:
                if _not_enabled(error, path):
                    raise StripeNotEnabled(f"GET {path}: {_redacted_message(error)}") from None
                if isinstance(error, stripe.InvalidRequestError):
                    raise
                raise _access_error(error, path) from None
            except stripe.StripeError as error:
                if isinstance(error, NothingListens) and not self._reached:
                    # Never reached: a wrong address, not a blip; retrying would wait minutes for a fix.
                    raise StripeUnreachable(
                        f"Cannot reach Stripe at {self.api_base} (STRIPE_API_BASE): {error.user_message}. Check STRIPE_API_BASE "
                        f"(unset, it is {settings.DEFAULT_API_BASE}), the network, and HTTPS_PROXY if you use a proxy."
                    ) from None
                if error.http_status == 429:
                    self.stats.count(rate_limited=1)
                    self._slow_down(path, error)
                if not self.backoff.should_retry(error, attempt):
                    raise
                delay = self.backoff.delay(error, attempt)
                attempt += 1
                account = f" ({self.stripe_account})" if self.stripe_account else ""
                self.log.warning(f"GET {path}{account}: {_describe(error)}; retry {attempt}/{self.backoff.max_retries} in {delay:.1f} s")
                time.sleep(delay)
                self.stats.count(retries=1)

    def _slow_down(self, path: str, error: stripe.StripeError) -> None:
        """A 429 from a rate limiter (not a lock timeout) lowers the rate of the limit it names."""
        if error.code == "lock_timeout":
            return
        reason = header(error.headers, "stripe-rate-limited-reason")
        name = endpoint("GET", path)
        if self.budget.rate_limited(name, reason, getattr(self._http.timing, "sent", None)):
            limit = name if reason and reason.startswith("endpoint") else "the whole budget"
            self.log.info(f"Stripe answered 429 ({reason or 'no reason given'}): {limit} slowed down for a while")

    def _request_json(self, method: str, path: str, params: dict) -> dict:
        """One request through the `stripe` package, its body parsed with orjson (compat.py)."""
        try:
            body, status, headers = self._raw.request(method, path, params)
        except stripe.APIError as error:
            if "Invalid response body" in (error.user_message or ""):  # the package's message quotes the body
                raise stripe.APIError(
                    _unreadable(error.http_body or b"", error.http_status or 0, error.headers or {}),
                    None,
                    error.http_status,
                    None,
                    error.headers,
                ) from None
            raise
        self._reached = True
        self._note_server_time(headers)
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            # A body cut short (a dropped connection, a proxy): retried like a network error. The
            # message names its length, never its content, which is customer data.
            raise stripe.APIConnectionError(_unreadable(body, status, headers), should_retry=True) from None

    @property
    def uses_private_stripe_calls(self) -> bool:
        """Whether requests take the fast path through the package's private calls (compat.py)."""
        return self._raw.uses_private_calls

    def account_id(self) -> str | None:
        """The ID of the account this client reads (`GET /v1/account`: the key's own account,
        or the connected account), or None when it cannot be read: a restricted key without
        that permission, or a proxy or fake that does not serve the endpoint. Asked once per client."""
        if self._account_id is None:
            try:
                self._account_id = str(self.get("/v1/account").get("id") or "")
            except StripeAccessError as error:
                if error.http_status == 401:
                    raise  # a key Stripe rejects: nothing else will work either
                self._account_id = ""
            except (StripeNotEnabled, stripe.InvalidRequestError):
                self._account_id = ""
        return self._account_id or None

    def server_now(self) -> int:
        """Stripe's clock as of the last response (its Date header), else this machine's.

        Event retention is measured in Stripe's time; the emulator's clock runs apart from ours.
        """
        return self._server_time if self._server_time is not None else int(time.time())

    def _note_server_time(self, headers) -> None:
        date = headers.get("date") or headers.get("Date")
        if date:
            try:
                self._server_time = second = int(email.utils.parsedate_to_datetime(date).timestamp())
            except (TypeError, ValueError):
                return  # a proxy's odd Date header must not fail the sync
            timing = self._http.timing
            self._local.observed = self._clock.observe(second, timing.sent, timing.received)

    def observed_at(self) -> datetime | None:
        """When the data of this thread's last response was observed, by Stripe's clock, to the
        microsecond within its Date header's second (clock.py). Rows carry it, and an older
        observation never overwrites a newer."""
        observed = getattr(self._local, "observed", None)
        return None if observed is None else datetime.fromtimestamp(observed, UTC)

    def observation_now(self) -> datetime:
        """Now, by Stripe's clock as this process knows it: for data observed without a response."""
        return datetime.fromtimestamp(self._clock.now(), UTC)

    def list_pages(self, path: str, params: dict | None = None) -> Iterator[list[dict]]:
        """Walk a list endpoint newest first, one page of dicts at a time (memory stays flat).
        `params` go as given: a list that pages takes `limit` (100, its most), one that answers
        whole (an account's capabilities) refuses it (catalog's `accepts`)."""
        params = dict(params or {})
        while True:
            page = self.get(path, params)
            objects = page["data"]
            if objects:
                yield objects
            if not page.get("has_more") or not objects:
                return
            params["starting_after"] = objects[-1]["id"]

    def retrieve(self, path: str, object_id: str) -> dict | None:
        """One object by ID, or None when Stripe has no such object."""
        try:
            return self.get(f"{path}/{quote(object_id, safe='')}")
        except stripe.InvalidRequestError as error:
            # Only Stripe's "no such object"; a 404 for a wrong URL or proxy must not look like one.
            if error.http_status == 404 and error.code == "resource_missing":
                return None
            raise


def _unreadable(body: str | bytes, status: int, headers: Mapping[str, str]) -> str:
    request_id = headers.get("request-id") or headers.get("Request-Id") or "unknown"
    return f"Stripe's response was not complete JSON (HTTP {status}, {len(body):,} bytes, request {request_id})"


def _describe(error: stripe.StripeError) -> str:
    if isinstance(error, stripe.APIConnectionError):
        return "connection failed"
    return f"HTTP {error.http_status}"


# What Stripe answers on an account without a product ("Your account is not set up to use
# Issuing"), and where an API version has no such endpoint.
_NOT_ENABLED = re.compile(r"not set up to use|is not enabled|not been enabled|not onboarded|does not have access to (?!account)", re.I)


def _not_enabled(error: stripe.StripeError, path: str) -> bool:
    message = error.user_message or str(error) or ""
    if isinstance(error, stripe.PermissionError):
        # A restricted key without a permission names "the provided key": that one the user must fix.
        return "provided key" not in message
    if error.http_status == 404 and f"(GET: {path})" in message:
        # The account's API version has no such list. Only for the exact path asked: behind a
        # wrong STRIPE_API_BASE (a proxy's prefix) every URL is unrecognised, and that must fail.
        return message.startswith("Unrecognized request URL")
    return error.http_status in (400, 403) and error.code != "resource_missing" and bool(_NOT_ENABLED.search(message))


def _redacted_message(error: stripe.StripeError) -> str:
    return _KEY_PATTERN.sub("[redacted key]", error.user_message or "")


def _access_error(error: stripe.StripeError, path: str) -> StripeAccessError:
    # Stripe echoes part of the key in these messages; ours carries none of it.
    if isinstance(error, stripe.AuthenticationError):
        return StripeAccessError(
            f"Stripe rejected the API key (HTTP {error.http_status}) on GET {path}. "
            "Check STRIPE_API_KEY: it must be a current secret or restricted key of the account you sync.",
            error.http_status,
        )
    detail = _redacted_message(error)
    return StripeAccessError(
        f"The API key may not read GET {path} (HTTP {error.http_status}): {detail} Give the restricted key read access to this resource.",
        error.http_status,
    )
