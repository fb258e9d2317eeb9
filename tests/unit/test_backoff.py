"""When a Stripe request is retried, and how long it waits (stripe_api/retry.py)."""

from __future__ import annotations

import pytest
import stripe

from stripe_pipeline.stripe_api import BackoffPolicy


def _error(status: int, headers: dict | None = None) -> stripe.StripeError:
    return stripe.APIError("boom", None, status, None, headers or {})


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (_error(429), True),
        (_error(409), True),
        (_error(500), True),
        (_error(503), True),
        (_error(400), False),
        (_error(404), False),
        (_error(429, {"Stripe-Should-Retry": "false"}), False),  # Stripe's advice wins
        (_error(400, {"stripe-should-retry": "true"}), True),
        (stripe.APIConnectionError("reset", should_retry=True), True),
        (stripe.APIConnectionError("certificate does not verify", should_retry=False), False),
    ],
)
def test_what_is_retried(error, retried):
    assert BackoffPolicy().should_retry(error, attempt=0) is retried


def test_retries_are_bounded():
    policy = BackoffPolicy(max_retries=3)
    assert policy.should_retry(_error(500), 2) and not policy.should_retry(_error(500), 3)


def test_the_delay_doubles_with_jitter_up_to_its_ceiling():
    policy = BackoffPolicy(base_delay=0.5, max_delay=30.0)
    for attempt in range(12):
        ceiling = min(30.0, 0.5 * 2**attempt)
        delays = [policy.delay(_error(500), attempt) for _ in range(50)]
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays)


def test_retry_after_is_honoured_up_to_its_bound():
    policy = BackoffPolicy(base_delay=0.01, max_delay=0.02, max_retry_after=60.0)
    assert policy.delay(_error(429, {"Retry-After": "7"}), 0) == 7.0
    assert policy.delay(_error(429, {"Retry-After": "3600"}), 0) == 60.0
    assert policy.delay(_error(429, {"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}), 0) <= 0.02  # a date: our own backoff
