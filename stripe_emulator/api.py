"""Stripe's HTTP API over the store: auth, routing, list parameters, expansion, faults."""

from __future__ import annotations

import base64
import itertools
import json
import random
import secrets
import threading
import time
from array import array
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import unquote_plus

from .collection import parse_created
from .errors import ApiError, invalid_integer, unknown_parameter
from .forms import decode_params
from .ratelimit import RateLimiter
from .resources import AREA_BY_PATH, CHILD_ROUTES, RESOURCES
from .store import API_VERSION, Store

# What goes wrong between a client and Stripe, by name. A status code (429, 503, …) is Stripe's
# own JSON error; the named kinds are what networks and proxies do.
FAULT_KINDS = {
    "429-retry-after": "429 with Retry-After (1 s)",
    "429-should-retry": "429 with Stripe-Should-Retry: true",
    "proxy-502": "a proxy's HTML 502 page instead of Stripe's JSON",
    "truncate": "a 200 whose body is cut in half (Content-Length matches the cut)",
    "drop": "a 200 whose connection closes halfway through the body",
    "stall": "no answer for `stall_seconds`, then the answer",
}


@dataclass(frozen=True)
class Fault:
    kind: str | int  # a FAULT_KINDS name or an HTTP status

    def error(self) -> ApiError | None:
        """The error response this fault replaces the answer with, if it is one."""
        if isinstance(self.kind, int):
            return _fault_error(self.kind, {})
        if self.kind == "429-retry-after":
            return _fault_error(429, {"Retry-After": "1"})
        if self.kind == "429-should-retry":
            return _fault_error(429, {"Stripe-Should-Retry": "true"})
        if self.kind == "proxy-502":
            return ApiError(
                502,
                "",
                html="<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>\n",
            )
        return None


@dataclass
class Faults:
    """Switches tests flip: latency on every request, faults for the next N requests, and
    random faults at given rates (`rates = {"drop": 0.05, 429: 0.05}`; see FAULT_KINDS)."""

    latency: float = 0.0
    rates: dict[str | int, float] = field(default_factory=dict)
    stall_seconds: float = 2.0
    _queued: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    _queued_kinds: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _rng: random.Random = field(default_factory=lambda: random.Random(7))
    injected: Counter = field(default_factory=Counter)  # faults answered, by kind

    def fail_next(self, count: int = 1, status: int = 429, *, retry_after: float | None = None, should_retry: bool | None = None) -> None:
        headers = {}
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        if should_retry is not None:
            headers["Stripe-Should-Retry"] = "true" if should_retry else "false"
        with self._lock:
            self._queued.extend([(status, headers)] * count)

    def next(self, kind: str, count: int = 1) -> None:
        """Answer the next `count` requests with a FAULT_KINDS fault."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"Unknown fault {kind!r}: one of {', '.join(FAULT_KINDS)}, or an HTTP status")
        with self._lock:
            self._queued_kinds.extend([kind] * count)

    def truncate_next(self, count: int = 1) -> None:
        """Cut the next `count` bodies in half (as `next("truncate", count)`)."""
        self.next("truncate", count)

    def take(self) -> tuple[int, dict[str, str]] | Fault | None:
        with self._lock:
            if self._queued:
                self.injected[self._queued[0][0]] += 1
                return self._queued.pop(0)
            if self._queued_kinds:
                self.injected[self._queued_kinds[0]] += 1
                return Fault(self._queued_kinds.pop(0))
            draw = self._rng.random()
            for kind, rate in self.rates.items():
                if draw < rate:
                    self.injected[kind] += 1
                    return Fault(kind)
                draw -= rate
            return None


_TIMELINES = ("all", "accepted", "rate_limited")


class _Times:
    """Request times as packed doubles (8 bytes each) in chunks, the oldest chunk dropped past `limit`."""

    _CHUNK = 65_536

    def __init__(self, limit: int):
        self.limit = limit
        self.dropped = 0
        self._chunks = [array("d")]
        self._size = 0

    def add(self, at: float) -> None:
        chunk = self._chunks[-1]
        if len(chunk) >= self._CHUNK:
            chunk = array("d")
            self._chunks.append(chunk)
        chunk.append(at)
        self._size += 1
        if self._size > self.limit and len(self._chunks) > 1:
            oldest = self._chunks.pop(0)
            self._size -= len(oldest)
            self.dropped += len(oldest)

    def copy(self) -> list[float]:
        return list(itertools.chain.from_iterable(self._chunks))


def _max_in_window(times: list[float], seconds: float) -> int:
    """Most times in any `seconds`-long window: for each time t, those in (t - seconds, t]."""
    times.sort()
    best, first = 0, 0
    for last, at in enumerate(times):
        horizon = at - seconds
        while times[first] <= horizon:
            first += 1
        if last - first + 1 > best:
            best = last - first + 1
    return best


@dataclass
class RequestLog:
    """What the emulator was asked, so tests can count requests as Stripe would see them.

    Besides counts by route and status, it keeps a timeline of every request's arrival (its
    admission by the rate limiter, on `time.monotonic()`): counts per wall-clock second, and
    the times themselves (8 bytes a request, the newest `timeline_limit` of each kind), from
    which `max_in_any_window` computes exact sliding-window maxima. Per-100 ms buckets would
    be smaller but cannot answer "at most N in any one-second window": 5 requests at 0.95 s
    and 5 at 1.05 s are 10 within 0.1 s, yet no ten aligned buckets see more than 5 of them.

    Kinds: "all" requests, "accepted" (answered 2xx) and "rate_limited" (answered 429,
    by the rate limiter or by `faults`).
    """

    total: int = 0
    by_route: Counter = field(default_factory=Counter)
    by_status: Counter = field(default_factory=Counter)
    # Objects returned by list requests, by resource: what a caller had fetched so far,
    # whatever number of empty or probing requests it took.
    listed: Counter = field(default_factory=Counter)
    timeline_limit: int = 2_000_000
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _wall_offset: float = field(default_factory=lambda: time.time() - time.monotonic())
    _per_second: dict[str, Counter] = field(default_factory=lambda: {kind: Counter() for kind in _TIMELINES})
    _times: dict[str, _Times] = field(default_factory=dict)
    _route_times: dict[str, _Times] = field(default_factory=dict)  # every request, by route

    def __post_init__(self) -> None:
        self._times = {kind: _Times(self.timeline_limit) for kind in _TIMELINES}

    def record(self, route: str, status: int, at: float | None = None) -> None:
        """Count one request; `at` is when it arrived on `time.monotonic()` (default: now)."""
        if at is None:
            at = time.monotonic()
        second = int(at + self._wall_offset)
        kinds = ("all", "accepted") if 200 <= status < 300 else ("all", "rate_limited") if status == 429 else ("all",)
        with self._lock:
            self.total += 1
            self.by_route[route] += 1
            self.by_status[status] += 1
            for kind in kinds:
                self._per_second[kind][second] += 1
                self._times[kind].add(at)
            times = self._route_times.get(route)
            if times is None:
                times = self._route_times[route] = _Times(self.timeline_limit)
            times.add(at)

    def count_listed(self, resource: str, objects: int) -> None:
        with self._lock:
            self.listed[resource] += objects

    @property
    def rate_limited(self) -> int:
        """Requests answered 429."""
        return self.by_status[429]

    def per_second(self, which: str = "accepted") -> dict[int, int]:
        """{unix second (wall clock): requests that arrived in it}, oldest first, for one kind:
        "accepted" (2xx), "all" or "rate_limited" (429)."""
        with self._lock:
            return dict(sorted(self._per_second[_kind(which)].items()))

    def max_in_any_window(self, seconds: float = 1.0, which: str = "accepted") -> int:
        """Most requests of a kind that arrived within any `seconds`-long sliding window.

        Exact over the times kept (the newest `timeline_limit`); O(n log n), about a second
        for a million requests.
        """
        with self._lock:
            times = self._times[_kind(which)].copy()
        return _max_in_window(times, seconds)

    def route_max_in_any_window(self, route: str, seconds: float = 1.0) -> int:
        """Most requests to one route (`GET /v1/customers`) within any `seconds`-long window."""
        with self._lock:
            times = self._route_times[route].copy() if route in self._route_times else []
        return _max_in_window(times, seconds)

    def route_span(self, route: str) -> tuple[float, float] | None:
        """When the first and the last request to a route arrived (`time.monotonic()`), if any did."""
        with self._lock:
            times = self._route_times[route].copy() if route in self._route_times else []
        return (min(times), max(times)) if times else None

    def reset(self) -> None:
        with self._lock:
            self.total = 0
            self._route_times.clear()
            self.by_route.clear()
            self.by_status.clear()
            self.listed.clear()
            for kind in _TIMELINES:
                self._per_second[kind].clear()
                self._times[kind] = _Times(self.timeline_limit)

    def snapshot(self) -> dict:
        with self._lock:
            return {"total": self.total, "by_route": dict(self.by_route), "by_status": {str(k): v for k, v in self.by_status.items()}}


def _kind(which: str) -> str:
    if which not in _TIMELINES:
        raise ValueError(f"which must be one of {_TIMELINES}, not {which!r}")
    return which


class StripeApi:
    """The HTTP API over one store per account: the platform's, and one per connected account
    (`Stripe-Account` header). Areas in `not_enabled` answer as Stripe does on an account
    without them (`issuing`, `treasury`, …: see catalog/declarations.py)."""

    def __init__(
        self,
        store: Store,
        api_key: str,
        limiter: RateLimiter | None = None,
        not_enabled: frozenset[str] = frozenset(),
        account_id: str = "acct_emulator",
    ):
        self.platform = store
        self.accounts: dict[str, Store] = {}
        self.api_key = api_key
        self.account_id = account_id  # the platform's own account, as GET /v1/account tells it
        self.faults = Faults()
        self.log = RequestLog()
        self.limiter = limiter or RateLimiter()
        self.not_enabled = set(not_enabled)
        # Parameters a list answers as unknown, by its path (`customers`), as an older API version
        # or a proxy may answer `created`.
        self.refused_params: dict[str, set[str]] = {}
        self._local = threading.local()

    @property
    def store(self) -> Store:
        """The store of the account the current request reads."""
        return getattr(self._local, "store", None) or self.platform

    def handle(
        self, method: str, path: str, query: str, body: str, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes, int | None]:
        """One request: route, authenticate, rate-limit, latency, faults, then the handler.
        Returns the status, headers and body, and how many bytes of the body to send before
        closing the connection (None: all of it).

        A request over the rate limit is answered at once, without the latency: Stripe's
        limiter refuses before any work. Unroutable and unauthenticated requests are not
        counted by the limiter (it counts per API key and route) and still get the latency.
        """
        route = "?"
        fault = None
        at = time.monotonic()  # arrival; the limiter's admission time replaces it
        try:
            try:
                route, handler, args = self._route(method, path)
                self._authenticate(headers.get("authorization"))
                self._local.store = self._account_store(headers.get("stripe-account"))
                self._check_enabled(args[0])
            except ApiError:
                if self.faults.latency:
                    time.sleep(self.faults.latency)
                raise
            at, limited = self.limiter.admit(self.api_key, f"{method} {route}")
            if limited:
                raise _fault_error(429, {"Stripe-Rate-Limited-Reason": limited})
            if self.faults.latency:
                time.sleep(self.faults.latency)
            fault = self.faults.take()
            if isinstance(fault, tuple):
                raise _fault_error(*fault)
            error = fault.error() if fault is not None else None
            if error is not None:
                raise error
            if fault is not None and fault.kind == "stall":
                time.sleep(self.faults.stall_seconds)
            params = decode_params(body if method == "POST" else query)
            status, payload = 200, handler(params, *args)
        except ApiError as error:
            status, extra = error.status, error.headers
            payload = error.html if error.html is not None else json.dumps(error.body)
            content_type = "text/html" if error.html is not None else "application/json"
            fault = None  # an error answer is not spoiled further
        else:
            extra, content_type = {}, "application/json"
        self.log.record(f"{method} {route}", status, at)
        response_headers = {
            "Content-Type": content_type,
            "Request-Id": "req_" + secrets.token_hex(7),
            "Stripe-Version": headers.get("stripe-version", API_VERSION),
            **extra,
        }
        answer = payload.encode()
        if isinstance(fault, Fault) and fault.kind == "truncate":
            answer = answer[: len(answer) // 2]
        # "drop": the full length is announced and half of it sent before the connection closes.
        sent = len(answer) // 2 if isinstance(fault, Fault) and fault.kind == "drop" else None
        return status, response_headers, answer, sent

    # -- routing ---------------------------------------------------------------------------

    def _route(self, method: str, path: str):
        parts = path.strip("/").split("/")
        rest = parts[1:] if parts[0] == "v1" else []
        resource = "/".join(rest)
        handlers: dict = {}
        args: tuple[str, ...]
        if resource == "account":
            handlers, route, args = {"GET": self._own_account}, "/v1/account", ("account",)
        elif resource in RESOURCES:
            writable = RESOURCES[resource].writable
            handlers = {"GET": self._list, "POST": self._create} if writable else {"GET": self._list}
            route, args = f"/v1/{resource}", (resource,)
        elif len(rest) >= 2 and "/".join(rest[:-1]) in RESOURCES:
            resource = "/".join(rest[:-1])
            handlers = {"GET": self._retrieve, "POST": self._update} if RESOURCES[resource].writable else {"GET": self._retrieve}
            if RESOURCES[resource].on_delete:
                handlers["DELETE"] = self._delete
            route, args = f"/v1/{resource}/:id", (resource, unquote_plus(rest[-1]))  # stripe-python quotes IDs with quote_plus
        elif len(rest) >= 3 and ("/".join(rest[:-2]), rest[-1]) in CHILD_ROUTES:
            resource = "/".join(rest[:-2])
            handlers = {"GET": self._list_children}
            route, args = f"/v1/{resource}/:id/{rest[-1]}", (resource, unquote_plus(rest[-2]), rest[-1])
        if method in handlers:
            return route, handlers[method], args
        raise ApiError(
            404,
            f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.",
        )

    def _account_store(self, account: str | None) -> Store:
        if not account:
            return self.platform
        store = self.accounts.get(account)
        if store is None:
            raise ApiError(
                403,
                f"The provided key '{_mask(self.api_key)}' does not have access to account '{account}' (or that account "
                "does not exist). Application access may have been revoked.",
                code="account_invalid",
            )
        return store

    def _check_enabled(self, resource: str) -> None:
        area = AREA_BY_PATH.get(resource)
        if area in self.not_enabled:
            name = area.replace("_", " ").title()
            raise ApiError(
                400,
                f"Your account is not set up to use {name}. Please visit https://dashboard.stripe.com/{area} to get started.",
            )

    def _authenticate(self, authorization: str | None) -> None:
        if authorization and authorization.startswith("Basic "):
            # Stripe takes the key as a Basic user name too (`curl -u sk_test_…:`).
            try:
                user = base64.b64decode(authorization[6:].strip()).decode().partition(":")[0]
            except (ValueError, UnicodeDecodeError):
                user = ""
            authorization = f"Bearer {user}"
        if not authorization or not authorization.startswith("Bearer ") or not authorization[7:].strip():
            raise ApiError(
                401,
                "You did not provide an API key. You need to provide your API key in the Authorization header, "
                "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication "
                "for details, or we can help at https://support.stripe.com/.",
            )
        key = authorization[7:].strip()
        if not secrets.compare_digest(key, self.api_key):
            raise ApiError(401, f"Invalid API Key provided: {_mask(key)}")

    # -- handlers --------------------------------------------------------------------------

    def _list(self, params: dict, resource: str) -> str:
        spec = RESOURCES[resource]
        self._check_params(params, spec.accepts - self.refused_params.get(resource, set()))
        for name in spec.required:
            if name not in params:
                raise ApiError(400, f"Missing required param: {name}.", code="parameter_missing", param=name)
        limit = _limit(params.get("limit", "10"))
        predicates = [spec.filters[name](value) for name, value in params.items() if name in spec.filters]
        if spec.hidden_by_default and spec.hidden_by_default[0] not in params:
            predicates.append(spec.hidden_by_default[1])
        collection = self.store.collections[resource]
        with self.store.lock:
            if resource == "events":
                self.store.expire_events()
            ids, has_more = collection.page(
                limit=limit,
                starting_after=params.get("starting_after") or None,
                ending_before=params.get("ending_before") or None,
                created=parse_created(params["created"]) if "created" in params else None,
                predicate=(lambda obj: all(p(obj) for p in predicates)) if predicates else None,
            )
            fields = _list_expansions(params)
            data = ",".join(json.dumps(self._expanded(collection.objects[i], fields)) if fields else collection.json_of(i) for i in ids)
        self.log.count_listed(resource, len(ids))
        return f'{{"object":"list","data":[{data}],"has_more":{"true" if has_more else "false"},"url":"/v1/{resource}"}}'

    def _list_children(self, params: dict, resource: str, parent_id: str, suffix: str) -> str:
        """A list under its parent's URL, in the parent's order, with Stripe's cursor paging
        where the list pages; one that does not (an account's capabilities) answers whole."""
        child = CHILD_ROUTES[(resource, suffix)]
        self._check_params(params, frozenset(child.accepts))
        self.store.collections[resource].get(parent_id)  # 404 for a parent that does not exist
        with self.store.lock:
            objects = list(self.store.child_list(child.table, parent_id))
        url = f"/v1/{resource}/{parent_id}/{suffix}"
        if not child.pages:
            return json.dumps({"object": "list", "data": objects, "has_more": False, "url": url})
        limit = _limit(params.get("limit", "10"))
        ids = [obj["id"] for obj in objects]
        start, end = 0, len(objects)
        for param in ("starting_after", "ending_before"):
            if params.get(param) and params[param] not in ids:
                raise ApiError(404, f"No such {child.child.object_name}: '{params[param]}'", code="resource_missing", param=param)
        if params.get("starting_after"):
            start = ids.index(params["starting_after"]) + 1
        if params.get("ending_before"):
            end = ids.index(params["ending_before"])
            start = max(start, end - limit)
        page = objects[start : min(end, start + limit)]
        has_more = start + limit < end if not params.get("ending_before") else start > 0
        return json.dumps({"object": "list", "data": page, "has_more": has_more, "url": url})

    def _check_params(self, params: dict, accepts: frozenset[str]) -> None:
        """Stripe refuses a parameter its list does not take, with a 400 that names it."""
        for name in params:
            if name not in accepts:
                raise unknown_parameter(name)

    def _retrieve(self, params: dict, resource: str, object_id: str) -> str:
        for name in params:
            if name != "expand":
                raise unknown_parameter(name)
        if resource == "events":
            self.store.expire_events()
        return json.dumps(self._expanded(self.store.retrieve(resource, object_id), _expand_list(params)))

    def _own_account(self, params: dict, _resource: str) -> str:
        """GET /v1/account: the account the key (or the Stripe-Account header) reads."""
        for name in params:
            if name != "expand":
                raise unknown_parameter(name)
        for account_id, store in self.accounts.items():
            if store is self.store:
                return json.dumps(self.platform.retrieve("accounts", account_id))
        return json.dumps({"id": self.account_id, "object": "account", "type": "standard", "country": "US", "default_currency": "usd"})

    def _create(self, params: dict, resource: str) -> str:
        return json.dumps(self.store.create(RESOURCES[resource].object_name, coerce=_typed_like, **params))

    def _update(self, params: dict, resource: str, object_id: str) -> str:
        current = self.store.collections[resource].get(object_id)  # 404 in the resource's own words
        return json.dumps(self.store.update(object_id, **_typed_like(current, params)))

    def _delete(self, params: dict, resource: str, object_id: str) -> str:
        self.store.collections[resource].get(object_id)
        return json.dumps(self.store.delete(object_id))

    def _expanded(self, obj: dict, paths: list[str]) -> dict:
        if not paths:
            return obj
        expanded = dict(obj)
        for path in paths:
            value = obj.get(path)
            found = self.store.find(value) if isinstance(value, str) else None
            if path not in obj or (value is not None and not isinstance(value, str)):
                raise ApiError(400, f"This property cannot be expanded ({path}).", param="expand")
            if found is not None:
                expanded[path] = found[1]
        return expanded


def _integer(param: str, value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise invalid_integer(param, value) from None


def _limit(value: object) -> int:
    limit = _integer("limit", value)
    if limit < 1:
        raise ApiError(400, "This value must be greater than or equal to 1.", code="parameter_invalid_integer", param="limit")
    if limit > 100:
        raise ApiError(400, "This value must be less than or equal to 100.", code="parameter_invalid_integer", param="limit")
    return limit


def _list_expansions(params: dict) -> list[str]:
    """Fields to expand on each listed object; a list expands `data.<field>`."""
    fields = []
    for path in _expand_list(params):
        if not path.startswith("data."):
            raise ApiError(400, f"This property cannot be expanded ({path}).", param="expand")
        fields.append(path.removeprefix("data."))
    return fields


def _expand_list(params: dict) -> list[str]:
    expand = params.get("expand", [])
    return expand if isinstance(expand, list) else [expand]


def _typed_like(shape: dict, params: dict) -> dict:
    """Form values arrive as strings; give them the type the object's field has.

    Only the object's own top-level fields can be set; anything else is Stripe's 400.
    """
    typed = {}
    for name, value in params.items():
        if name in _READ_ONLY or name not in shape:
            raise unknown_parameter(name)
        current = shape[name]
        if name == "metadata" or isinstance(current, (dict, list)) or not isinstance(value, str):
            typed[name] = value
        elif isinstance(current, bool):
            if value not in ("true", "false"):
                raise ApiError(400, f"Invalid boolean: {value}", code="parameter_invalid_boolean", param=name)
            typed[name] = value == "true"
        elif isinstance(current, int):
            typed[name] = _integer(name, value)
        else:
            typed[name] = value or None  # Stripe unsets a field given an empty string
    return typed


_READ_ONLY = {"id", "object", "created", "livemode"}


def _mask(key: str) -> str:
    # Stripe shows a key's mode prefix and last four characters, never the rest.
    prefix, _, rest = key.rpartition("_")
    return f"{prefix}_{'*' * max(0, len(rest) - 4)}{rest[-4:]}" if prefix else "*" * max(0, len(key) - 4) + key[-4:]


def _fault_error(status: int, headers: dict[str, str]) -> ApiError:
    if status == 429:
        return ApiError(
            429,
            "Request rate limit exceeded. You can learn more about rate limits here https://stripe.com/docs/rate-limits.",
            code="rate_limit",
            headers={"Stripe-Rate-Limited-Reason": "global-rate", **headers},
        )
    return ApiError(
        status,
        "Sorry! There was an error while talking to one of our backends. We have already been notified of the "
        "problem, but please contact support@stripe.com with any questions you may have.",
        type="api_error",
        headers=headers,
    )
