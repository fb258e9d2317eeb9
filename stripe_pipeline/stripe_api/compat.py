"""The `stripe` package's private calls that the client uses, in one place, with a fallback.

`StripeClient.raw_request` parses every body with the standard library's json into
OrderedDicts, five times orjson's time for every object of every page. So the client asks the
package's requestor for the body unparsed (`request_raw`, the call `raw_request` makes first)
and has the package interpret only error responses (`_interpret_response`, which raises its
StripeError). Both are private. This module checks at import that they exist; when a future
`stripe` release renames them, it falls back to the public `raw_request` (slower, same
results) instead of breaking. pyproject bounds the stripe version; the tests cover both paths.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import stripe


def _private_calls_exist() -> bool:
    try:
        from stripe._api_requestor import _APIRequestor
    except ImportError:
        return False
    return callable(getattr(_APIRequestor, "request_raw", None)) and callable(getattr(_APIRequestor, "_interpret_response", None))


PRIVATE_CALLS = _private_calls_exist()


class RawRequester:
    """Sends one request through a StripeClient and returns the body unparsed, with its status
    and headers. A non-2xx answer raises the package's StripeError, as `raw_request` does."""

    def __init__(self, client: stripe.StripeClient, *, use_private_calls: bool | None = None):
        self._client = client
        self.uses_private_calls = PRIVATE_CALLS if use_private_calls is None else use_private_calls

    def request(self, method: str, path: str, params: dict[str, Any]) -> tuple[bytes, int, Mapping[str, str]]:
        if self.uses_private_calls:
            requestor = self._client._requestor
            body, status, headers = requestor.request_raw(
                method, path, params=params, options={}, base_address="api", api_mode="V1", usage=["raw_request"]
            )
            if not 200 <= status < 300:
                requestor._interpret_response(body, status, headers, "V1")  # raises the package's StripeError
            return body, status, headers  # type: ignore[return-value]  # the package types the body `object`: it is bytes
        try:
            response = self._client.raw_request(method, path, **params)
        except stripe.APIError as error:
            # A 2xx body that is not JSON: hand it back, so the caller treats it as it treats any.
            status = error.http_status or 0
            if 200 <= status < 300 and "Invalid response body" in (error.user_message or ""):
                raw = error.http_body or b""
                return raw.encode() if isinstance(raw, str) else raw, status, error.headers or {}
            raise
        return response.body.encode(), response.code, response.headers
