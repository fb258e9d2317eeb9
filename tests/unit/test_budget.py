"""The request budget's arithmetic: endpoints as Stripe counts them, the default limits, and the
rate that adapts to 429s. No HTTP, no waiting. (The order of the endpoint's line and the global
slot, measured in real time with threads, is tested in tests/integration/test_budget_timing.py.)"""

from __future__ import annotations

import pytest

from stripe_pipeline import policies
from stripe_pipeline.catalog import CHILD_TABLES, TYPES
from stripe_pipeline.stripe_api import StripeApiClient
from stripe_pipeline.stripe_api.budget import AdaptiveRate, LocalSlotStore, RateBudget, default_rate
from stripe_pipeline.stripe_api.endpoints import endpoint, endpoint_limit


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.stripe.com/v1/customers?limit=100", "GET /v1/customers"),
        ("https://api.stripe.com/v1/customers/cus_123", "GET /v1/customers/{id}"),
        ("https://api.stripe.com/v1/coupons/summer_sale", "GET /v1/coupons/{id}"),  # an ID that reads like a resource
        ("https://api.stripe.com/v1/invoices/in_1/lines?limit=100", "GET /v1/invoices/{id}/lines"),
        ("https://api.stripe.com/v1/customers/search?query=x", "GET /v1/customers/search"),
        ("https://api.stripe.com/v1/issuing/cards/ic_1", "GET /v1/issuing/cards/{id}"),
        ("https://api.stripe.com/v1/treasury/financial_accounts/fa_1/features", "GET /v1/treasury/financial_accounts/{id}/features"),
        ("https://api.stripe.com/v1/account", "GET /v1/account"),
    ],
)
def test_an_endpoint_is_one_named_operation(url, expected):
    assert endpoint("get", url) == expected


def test_every_catalogued_list_and_retrieve_is_its_own_endpoint():
    lists = [t.path for t in TYPES.values() if t.path] + [c.url.replace("{parent}", "x_1") for c in CHILD_TABLES.values()]
    names = [endpoint("GET", path) for path in lists] + [endpoint("GET", f"{t.path}/x_1") for t in TYPES.values() if t.path]
    assert len(set(names)) == len(names)
    assert all("x_1" not in name for name in names)


def test_search_and_files_have_stripes_stricter_limits():
    search = endpoint_limit(endpoint("GET", "/v1/customers/search"), 25)
    assert search == endpoint_limit(endpoint("GET", "/v1/charges/search"), 25) == ("GET search API", 20)
    assert endpoint_limit("GET /v1/files/{id}", 25) == ("GET files API", 20)
    assert endpoint_limit("GET /v1/files", 10) == ("GET files API", 10)  # a lower setting still wins
    assert endpoint_limit("GET /v1/customers", 25) == ("GET /v1/customers", 25)


def test_the_default_budget_leaves_the_application_headroom(monkeypatch):
    for name in ("STRIPE_REQUESTS_PER_SECOND", "STRIPE_ENDPOINT_REQUESTS_PER_SECOND"):
        monkeypatch.delenv(name, raising=False)
    assert default_rate("sk_test_1") == default_rate("rk_test_1") == policies.DEFAULT_BUDGET_SHARE * 25 < 25
    assert default_rate("sk_live_1") == default_rate("rk_live_1") == policies.DEFAULT_BUDGET_SHARE * 100 < 100
    client = StripeApiClient("sk_live_1", "http://127.0.0.1:9")
    assert (client.budget.requests_per_second, client.budget.endpoint_requests_per_second) == (60, 25)
    monkeypatch.setenv("STRIPE_REQUESTS_PER_SECOND", "100")
    monkeypatch.setenv("STRIPE_ENDPOINT_REQUESTS_PER_SECOND", "10")
    client = StripeApiClient("sk_live_1", "http://127.0.0.1:9")
    assert (client.budget.requests_per_second, client.budget.endpoint_requests_per_second) == (100, 10)


def test_a_429_slows_its_limit_down_for_a_while():
    now = [1000.0]
    rate = AdaptiveRate(lambda: now[0])
    assert rate.factor() == 1.0
    assert rate.cut(sent_at=999.9) and rate.factor() == pytest.approx(policies.ADAPTIVE_CUT)
    assert not rate.cut(sent_at=999.95)  # sent before the cut, at the old rate: no second cut
    now[0] += 0.2
    assert rate.cut(sent_at=1000.1) and rate.factor() == pytest.approx(policies.ADAPTIVE_CUT**2, abs=0.01)  # at the new one
    now[0] += 0.2
    assert not rate.cut()  # no send time: 429s soon after a cut count as sent before it
    rate = AdaptiveRate(lambda: now[0])
    assert rate.cut()
    now[0] += 5
    assert rate.factor() == pytest.approx(policies.ADAPTIVE_CUT + 5 * policies.ADAPTIVE_RECOVERY_PER_SECOND)
    assert rate.cut() and rate.factor() < policies.ADAPTIVE_CUT
    now[0] += 60
    assert rate.factor() == 1.0


def test_the_429s_reason_says_which_limit_slows_down():
    budget = RateBudget("k", 50, 25, store=LocalSlotStore())
    assert budget.rate_limited("GET /v1/customers", "endpoint-rate")
    factors = budget.factors()
    assert factors["global"] == 1.0 and factors["GET /v1/customers"] < 1.0
    assert budget.rate_limited("GET /v1/customers", None)  # no reason (a proxy): the whole budget
    assert budget.factors()["global"] < 1.0
