"""Stripe's unit of rate limiting: the endpoint, one named API operation.

`GET /v1/customers` is one endpoint, `GET /v1/customers/{id}` another, whichever customer it
reads, and `GET /v1/invoices/{id}/lines` a third. Each has a limit of its own (25 requests per
second unless Stripe documents a stricter one) on top of the account's global limit.

A path names its endpoint structurally: after `/v1`, a namespace (`issuing`, `treasury`, …),
then resource and ID segments in turn. Object IDs cannot tell themselves apart from resource
names (a coupon may be called `summer_sale`), so the position decides, not the spelling. The
namespaces are the first segments of the catalogue's list paths that have one.
"""

from __future__ import annotations

import functools
from urllib.parse import urlsplit

from .. import policies

SEARCH = "search"


def endpoint(method: str, url: str) -> str:
    """`GET …/v1/customers/cus_1?…` -> `GET /v1/customers/{id}`."""
    version, *segments = urlsplit(url).path.strip("/").split("/")
    named = [version]
    if segments and segments[0] in _namespaces() and len(segments) > 1:
        named.append(segments.pop(0))
    for position, segment in enumerate(segments):
        is_action = position == 1 and segment == SEARCH  # `GET /v1/customers/search`
        named.append(segment if position % 2 == 0 or is_action else ID)
    return f"{method.upper()} /" + "/".join(named)


ID = "{id}"  # how an endpoint's name stands for any object's ID


def is_child_list(name: str) -> bool:
    """A list under one object (`GET /v1/invoices/{id}/lines`): read page after page per parent."""
    return f"/{ID}/" in name


def endpoint_limit(name: str, default: float | None) -> tuple[str, float | None]:
    """(the bucket the endpoint's requests count in, its requests per second). Stripe documents
    stricter limits for a few APIs, each shared by all of that API's endpoints: Search (all
    `…/search` reads together) and Files. `default` is the limit of every other endpoint
    (None: no cap); a stricter limit still applies under a higher default."""
    method, _, path = name.partition(" ")
    if path.endswith(f"/{SEARCH}"):
        api = "search"
    elif path == "/v1/files" or path.startswith("/v1/files/"):
        api = "files"
    else:
        return name, default
    stricter = policies.STRICTER_ENDPOINT_LIMITS[api]
    return f"{method} {api} API", stricter if default is None else min(default, stricter)


@functools.cache
def _namespaces() -> frozenset[str]:
    from ..catalog import CHILD_TABLES, TYPES  # data only; late, so that the client loads without it

    paths = [t.path for t in TYPES.values() if t.path] + [c.url for c in CHILD_TABLES.values()]
    return frozenset(parts[1] for parts in (p.strip("/").split("/") for p in paths) if len(parts) >= 3 and "{" not in parts[2])
