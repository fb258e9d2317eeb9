"""Bounded exponential backoff for Stripe requests.

stripe-python retries nothing unless asked, never retries a 429 without
`Stripe-Should-Retry: true`, and ignores `Retry-After`. Rate limits are the normal state of a
fast backfill, so the decision and the wait live here instead.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

import stripe

from .. import policies

RETRIED_STATUSES = frozenset({409, 429})  # 409: Stripe's lock timeouts; plus every 5xx


@dataclass(frozen=True)
class BackoffPolicy:
    max_retries: int = policies.HTTP_MAX_RETRIES
    base_delay: float = policies.HTTP_BASE_DELAY_SECONDS
    max_delay: float = policies.HTTP_MAX_DELAY_SECONDS
    max_retry_after: float = policies.HTTP_MAX_RETRY_AFTER_SECONDS

    def should_retry(self, error: stripe.StripeError, attempt: int) -> bool:
        if attempt >= self.max_retries:
            return False
        advice = header(error.headers, "stripe-should-retry")
        if advice in ("true", "false"):
            return advice == "true"
        if isinstance(error, stripe.APIConnectionError):
            return error.should_retry  # a network blip yes, a certificate that does not verify no
        status = error.http_status or 0
        return status in RETRIED_STATUSES or status >= 500

    def delay(self, error: stripe.StripeError, attempt: int) -> float:
        """Exponential with equal jitter, never shorter than the server's Retry-After (up to a bound)."""
        ceiling = min(self.max_delay, self.base_delay * 2**attempt)
        wait = ceiling / 2 + random.uniform(0, ceiling / 2)
        retry_after = _retry_after_seconds(error.headers)
        return max(wait, min(retry_after, self.max_retry_after)) if retry_after is not None else wait


def header(headers: Mapping[str, str] | None, name: str) -> str | None:
    """A response header's value, whatever its case, stripped and lowercased."""
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return str(value).strip().lower()
    return None


def _retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    value = header(headers, "retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date; Stripe sends seconds, so fall back to our own backoff
