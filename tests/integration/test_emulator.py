"""The emulator keeps the real API's list, retrieve and error semantics (through `stripe`)."""

from __future__ import annotations

import pytest
import requests
import stripe

from stripe_emulator import Emulator


@pytest.fixture
def api(make_emulator):
    emulator = make_emulator({"customer": 250, "subscription": 30})
    return emulator, stripe.StripeClient(emulator.api_key, base_addresses={"api": emulator.base_url})


def _ids(response) -> list[str]:
    return [obj["id"] for obj in response.data["data"]]


def _newest_first(emulator: Emulator, path: str) -> list[str]:
    objects = emulator.store.collections[path].objects.values()
    return [o["id"] for o in sorted(objects, key=lambda o: (o["created"], o["id"]), reverse=True)]


def test_lists_are_newest_first_and_cursor_pages_meet_exactly(api):
    emulator, client = api
    expected = _newest_first(emulator, "customers")
    first = client.raw_request("get", "/v1/customers", limit=100)
    second = client.raw_request("get", "/v1/customers", limit=100, starting_after=_ids(first)[-1])
    third = client.raw_request("get", "/v1/customers", limit=100, starting_after=_ids(second)[-1])
    assert _ids(first) + _ids(second) + _ids(third) == expected
    assert [first.data["has_more"], second.data["has_more"], third.data["has_more"]] == [True, True, False]
    assert first.data["object"] == "list" and first.data["url"] == "/v1/customers"
    # ending_before walks back to the newer page, still newest first.
    back = client.raw_request("get", "/v1/customers", limit=100, ending_before=_ids(second)[0])
    assert _ids(back) == _ids(first) and back.data["has_more"] is False


def test_created_filters(api):
    emulator, client = api
    objects = list(emulator.store.collections["customers"].objects.values())
    pivot = sorted(o["created"] for o in objects)[len(objects) // 2]
    for operator, keep in {
        "gt": lambda c: c > pivot,
        "gte": lambda c: c >= pivot,
        "lt": lambda c: c < pivot,
        "lte": lambda c: c <= pivot,
    }.items():
        listed = [c.id for c in client.v1.customers.list({"limit": 100, "created": {operator: pivot}}).auto_paging_iter()]
        assert sorted(listed) == sorted(o["id"] for o in objects if keep(o["created"])), operator


@pytest.mark.parametrize("limit,message", [(0, "greater than or equal to 1"), (101, "less than or equal to 100")])
def test_limit_outside_1_to_100_is_a_400(api, limit, message):
    _, client = api
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.raw_request("get", "/v1/customers", limit=limit)
    assert raised.value.http_status == 400
    assert message in raised.value.user_message and raised.value.param == "limit"


def test_unknown_parameter_is_a_400(api):
    _, client = api
    with pytest.raises(stripe.InvalidRequestError, match="Received unknown parameter: colour") as raised:
        client.raw_request("get", "/v1/customers", colour="blue")
    assert raised.value.code == "parameter_unknown"


def test_retrieve_unknown_id_is_a_404_in_stripes_format(api):
    _, client = api
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.customers.retrieve("cus_nope")
    error = raised.value
    assert error.http_status == 404 and error.code == "resource_missing" and error.param == "id"
    assert error.user_message == "No such customer: 'cus_nope'"


def test_subscriptions_hide_canceled_unless_status_all(api):
    emulator, client = api
    everything = emulator.store.collections["subscriptions"].objects.values()
    listed = {s.id for s in client.v1.subscriptions.list({"limit": 100}).auto_paging_iter()}
    listed_all = {s.id for s in client.v1.subscriptions.list({"limit": 100, "status": "all"}).auto_paging_iter()}
    assert listed == {s["id"] for s in everything if s["status"] != "canceled"}
    assert listed_all == {s["id"] for s in everything}


def test_missing_and_bad_keys_are_401(api):
    emulator, _ = api
    response = requests.get(f"{emulator.base_url}/v1/customers")
    assert response.status_code == 401 and "did not provide an API key" in response.json()["error"]["message"]
    bad = stripe.StripeClient("sk_test_wrongwrongwrong1234", base_addresses={"api": emulator.base_url})
    with pytest.raises(stripe.AuthenticationError) as raised:
        bad.v1.customers.list()
    # Masked like Stripe does: mode prefix and last four characters only.
    assert raised.value.user_message == "Invalid API Key provided: sk_test_" + "*" * 15 + "1234"


def test_mutations_over_http(api):
    emulator, client = api
    created = client.v1.customers.create({"email": "new@example.com", "metadata": {"plan": "pro"}})
    assert client.v1.customers.list({"limit": 1}).data[0].id == created.id  # newest first
    updated = client.v1.customers.update(created.id, {"name": "Ada", "metadata": {"plan": ""}})
    assert updated.name == "Ada" and updated.metadata.to_dict() == {}
    deleted = client.v1.customers.delete(created.id)
    assert deleted.deleted is True
    assert client.v1.customers.retrieve(created.id).deleted is True  # customers leave a stub
    assert created.id not in {c.id for c in client.v1.customers.list({"limit": 100}).auto_paging_iter()}


def test_seeding_is_deterministic():
    first = Emulator(seed={"customer": 20, "invoice": 5})
    second = Emulator(seed={"customer": 20, "invoice": 5})
    assert first.store.collections["customers"].objects == second.store.collections["customers"].objects
    assert first.store.collections["invoices"].objects == second.store.collections["invoices"].objects
    first.stop()
    second.stop()


def test_deleting_follows_each_type(api):
    emulator, client = api
    subscription = next(s for s in emulator.store.collections["subscriptions"].objects.values() if s["status"] != "canceled")
    canceled = client.v1.subscriptions.cancel(subscription["id"])
    assert canceled.status == "canceled" and canceled.canceled_at and canceled.ended_at
    assert client.v1.subscriptions.retrieve(subscription["id"]).status == "canceled"  # still there
    price = client.v1.prices.list({"limit": 1}).data[0]
    response = requests.delete(f"{emulator.base_url}/v1/prices/{price.id}", headers={"Authorization": f"Bearer {emulator.api_key}"})
    assert response.status_code == 404 and "Unrecognized request URL" in response.json()["error"]["message"]


def test_posts_check_parameters_and_keep_types(api):
    _, client = api
    with pytest.raises(stripe.InvalidRequestError, match="Received unknown parameter: bogus"):
        client.v1.customers.create({"bogus": "1"})
    customer = client.v1.customers.create({"name": "123", "description": "true", "balance": 500})
    assert customer.name == "123" and customer.description == "true" and customer.balance == 500


def test_ids_in_paths_are_url_decoded(api):
    emulator, client = api
    coupon = emulator.store.create("coupon", id="25 OFF/x")
    assert client.v1.coupons.retrieve("25 OFF/x").id == coupon["id"]


def _events(client, **params) -> list[dict]:
    return client.raw_request("get", "/v1/events", **params).data["data"]


def test_every_mutation_records_an_event_in_stripes_shape(api):
    emulator, client = api
    customer = client.v1.customers.create(params={"name": "Ada", "metadata": {"plan": "a"}})
    client.v1.customers.update(customer.id, params={"name": "Ada L."})
    client.v1.customers.delete(customer.id)
    subscription = next(s for s, o in emulator.store.collections["subscriptions"].objects.items() if o["status"] == "active")
    client.v1.subscriptions.cancel(subscription)  # DELETE /v1/subscriptions/:id

    created, updated, deleted = reversed(_events(client, types=["customer.created", "customer.updated", "customer.deleted"]))
    # `type` takes wildcards; `customer.*` includes the subscription events.
    assert [e["type"] for e in _events(client, type="customer.*")][0] == "customer.subscription.deleted"
    assert [created["type"], updated["type"], deleted["type"]] == ["customer.created", "customer.updated", "customer.deleted"]
    assert list(created) == ["id", "object", "api_version", "created", "data", "livemode", "pending_webhooks", "request", "type"]
    assert created["id"].startswith("evt_") and created["object"] == "event" and created["api_version"]
    assert created["data"]["object"]["name"] == "Ada" and "previous_attributes" not in created["data"]
    assert updated["data"]["object"]["name"] == "Ada L." and updated["data"]["previous_attributes"] == {"name": "Ada"}
    assert deleted["data"]["object"]["id"] == customer.id
    # A canceled subscription is `customer.subscription.deleted`, and the object stays.
    [canceled] = _events(client, type="customer.subscription.deleted")
    assert canceled["data"]["object"]["id"] == subscription and canceled["data"]["object"]["status"] == "canceled"
    assert client.v1.subscriptions.retrieve(subscription).status == "canceled"


def test_events_filter_by_types_and_created_and_page_like_other_lists(api):
    emulator, client = api
    ids = list(emulator.store.collections["customers"].objects)[:150]
    for object_id in ids:
        emulator.store.update(object_id, name="x")
    emulator.clock.advance(60)
    emulator.store.create("product", name="later")
    everything = _events(client, limit=100) + _events(client, limit=100, starting_after=_events(client, limit=100)[-1]["id"])
    assert [e["type"] for e in everything] == ["product.created"] + ["customer.updated"] * 150
    assert [e["data"]["object"]["id"] for e in everything[1:]] == list(reversed(ids))  # newest first
    assert len(_events(client, types=["product.created", "price.created"])) == 1
    later = everything[0]["created"]
    assert len(_events(client, created={"gte": later})) == 1 and len(_events(client, created={"lt": later}, limit=100)) == 100
    with pytest.raises(stripe.InvalidRequestError, match="at most 20"):
        _events(client, types=[f"customer.t{i}" for i in range(21)])
    with pytest.raises(stripe.InvalidRequestError, match="Unrecognized request URL"):
        client.raw_request("post", "/v1/events")


def test_events_older_than_the_retention_window_disappear(make_emulator):
    emulator = make_emulator({"customer": 3}, event_retention=3_600)
    client = stripe.StripeClient(emulator.api_key, base_addresses={"api": emulator.base_url})
    old = emulator.store.create("customer")
    emulator.clock.advance(1_800)
    emulator.store.create("customer")
    expired = _events(client)[-1]
    assert expired["data"]["object"]["id"] == old["id"] and len(_events(client)) == 2
    assert client.v1.events.retrieve(expired["id"]).id == expired["id"]
    emulator.clock.advance(1_801)
    [remaining] = _events(client)
    assert remaining["data"]["object"]["id"] != old["id"]
    with pytest.raises(stripe.InvalidRequestError, match="No such event"):
        client.v1.events.retrieve(expired["id"])


def test_responses_tell_emulator_time_in_the_date_header(api):
    emulator, client = api
    emulator.clock.advance(40 * 86_400)
    response = client.raw_request("get", "/v1/customers", limit=1)
    from email.utils import parsedate_to_datetime

    assert abs(parsedate_to_datetime(response.headers["date"]).timestamp() - emulator.clock.now()) <= 1


# -- rate limits ----------------------------------------------------------------------------

RATE_LIMIT_MESSAGE = "Request rate limit exceeded. You can learn more about rate limits here https://stripe.com/docs/rate-limits."


def _burst(emulator: Emulator, count: int, path: str = "/v1/customers") -> list[requests.Response]:
    """`count` GETs at once, each thread on its own keep-alive session."""
    import threading

    barrier = threading.Barrier(count)
    responses: list[requests.Response] = []
    lock = threading.Lock()

    def send() -> None:
        with requests.Session() as session:
            session.headers["Authorization"] = f"Bearer {emulator.api_key}"
            barrier.wait()
            response = session.get(f"{emulator.base_url}{path}", params={"limit": 1})
        with lock:
            responses.append(response)

    threads = [threading.Thread(target=send) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return responses


def test_a_burst_over_the_rate_limit_gets_stripes_429(make_emulator):
    emulator = make_emulator({"customer": 5}, rate_limit=5)
    responses = _burst(emulator, 20)
    accepted = [r for r in responses if r.status_code == 200]
    limited = [r for r in responses if r.status_code == 429]
    assert len(accepted) + len(limited) == 20 and 5 <= len(accepted) < 20
    for response in limited:
        assert response.json() == {
            "error": {
                "message": RATE_LIMIT_MESSAGE,
                "type": "invalid_request_error",
                "code": "rate_limit",
                "doc_url": "https://stripe.com/docs/error-codes/rate-limit",
            }
        }
        assert response.headers["Stripe-Rate-Limited-Reason"] == "global-rate"
        assert "Retry-After" not in response.headers and response.headers["Request-Id"].startswith("req_")
    log = emulator.requests
    assert log.rate_limited == len(limited) and log.by_status[200] == len(accepted)
    assert log.max_in_any_window(1.0) == 5  # never more than the budget in any one-second window
    assert sum(log.per_second().values()) == len(accepted)
    assert sum(log.per_second("all").values()) == 20 and sum(log.per_second("rate_limited").values()) == len(limited)


def test_the_rate_limit_is_a_sliding_one_second_window(make_emulator):
    import time

    emulator = make_emulator({"customer": 5}, rate_limit=5)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {emulator.api_key}"
    statuses = [session.get(f"{emulator.base_url}/v1/customers").status_code]
    # From the first admission, not from before it: a slow first request must not shorten the run.
    deadline = time.monotonic() + 1.6
    while time.monotonic() < deadline:
        statuses.append(session.get(f"{emulator.base_url}/v1/customers").status_code)
        time.sleep(0.01)
    assert statuses[:5] == [200] * 5 and statuses[5] == 429
    # 1.6 s is two windows' budget (one second after the first five, five more are let in) and no more.
    assert statuses.count(200) == 10 and set(statuses) == {200, 429}
    assert emulator.requests.max_in_any_window(1.0) == 5
    assert emulator.requests.max_in_any_window(2.0) == 10
    assert emulator.requests.max_in_any_window(1.0, which="all") > 5


def test_a_rate_limited_request_is_answered_without_the_latency(make_emulator):
    import time

    emulator = make_emulator({"customer": 1}, rate_limit=1, latency=0.5)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {emulator.api_key}"
    started = time.monotonic()
    assert session.get(f"{emulator.base_url}/v1/customers").status_code == 200
    assert time.monotonic() - started >= 0.5
    started = time.monotonic()
    assert session.get(f"{emulator.base_url}/v1/customers").status_code == 429
    assert time.monotonic() - started < 0.5  # the latency, had it been added, alone takes 0.5 s


def test_stripe_surfaces_the_429_as_a_rate_limit_error_and_does_not_retry_it(make_emulator):
    emulator = make_emulator({"customer": 3}, rate_limit=1)
    client = stripe.StripeClient(emulator.api_key, base_addresses={"api": emulator.base_url}, max_network_retries=2)
    client.v1.customers.list()
    with pytest.raises(stripe.RateLimitError) as raised:
        client.v1.customers.list()
    error = raised.value
    # stripe-python raises every 429 as RateLimitError and leaves `code` unset; the body has it.
    assert error.http_status == 429 and error.json_body["error"]["code"] == "rate_limit" and error.user_message == RATE_LIMIT_MESSAGE
    assert error.headers["stripe-rate-limited-reason"] == "global-rate"
    assert emulator.requests.rate_limited == 1  # no Stripe-Should-Retry: stripe-python leaves the retry to us


def test_the_endpoint_limit_counts_per_route(make_emulator):
    emulator = make_emulator({"customer": 5}, rate_limit=100, endpoint_rate_limit=2)
    client = stripe.StripeClient(emulator.api_key, base_addresses={"api": emulator.base_url})
    ids = [c.id for c in client.v1.customers.list({"limit": 3}).data]
    client.v1.customers.list()
    with pytest.raises(stripe.RateLimitError) as raised:
        client.v1.customers.list()
    assert raised.value.headers["stripe-rate-limited-reason"] == "endpoint-rate"
    # Another route has its own budget; different IDs share `GET /v1/customers/:id`'s.
    client.v1.customers.retrieve(ids[0])
    client.v1.customers.retrieve(ids[1])
    with pytest.raises(stripe.RateLimitError):
        client.v1.customers.retrieve(ids[2])
    client.v1.customers.create({"name": "Ada"})
    assert emulator.requests.by_route["GET /v1/customers"] == 3 and emulator.requests.rate_limited == 2
    # Limits change on a live emulator.
    emulator.rate_limiter.endpoint_rate = None
    emulator.rate_limiter.rate = 3
    assert [r.status_code for r in _burst(emulator, 5)].count(200) <= 3


def test_stripes_limits_are_the_default(make_emulator):
    sandbox, live = make_emulator({"customer": 5}), make_emulator({"customer": 5}, api_key="sk_live_emulator")
    assert (sandbox.rate_limiter.rate, sandbox.rate_limiter.endpoint_rate) == (25, 25)
    assert (live.rate_limiter.rate, live.rate_limiter.endpoint_rate) == (100, 25)
    responses = _burst(live, 40)  # one endpoint, at once: its 25 pass, the rest are the endpoint's 429s
    assert sum(r.status_code == 200 for r in responses) == 25
    assert {r.headers["Stripe-Rate-Limited-Reason"] for r in responses if r.status_code == 429} == {"endpoint-rate"}


def test_without_a_limit_nothing_is_rate_limited(make_emulator):
    emulator = make_emulator({"customer": 5}, rate_limit=None, endpoint_rate_limit=None)
    assert not emulator.rate_limiter.enabled
    responses = _burst(emulator, 40)
    assert {r.status_code for r in responses} == {200} and emulator.requests.rate_limited == 0
    assert sum(emulator.requests.per_second().values()) == 40


def test_request_log_windows_are_exact():
    from stripe_emulator.api import RequestLog

    log = RequestLog()
    # Five just before a second's boundary and five just after: ten within 0.1 s, which
    # second-aligned (or 100 ms) buckets would not show.
    for at in [100.95] * 5 + [101.05] * 5 + [102.2]:
        log.record("GET /v1/customers", 200, at)
    log.record("GET /v1/customers", 429, 101.0)
    assert log.max_in_any_window(1.0) == 10 and log.max_in_any_window(0.05) == 5
    assert log.max_in_any_window(1.0, which="all") == 11 and log.max_in_any_window(which="rate_limited") == 1
    # A window is one second long: requests exactly one second apart are in different windows.
    log.reset()
    for at in (10.0, 11.0, 12.0):
        log.record("GET /v1/customers", 200, at)
    assert log.max_in_any_window(1.0) == 1 and log.max_in_any_window(1.5) == 2
    assert sum(log.per_second().values()) == 3 and log.total == 3
    with pytest.raises(ValueError):
        log.per_second("ok")


_DAY, _YEAR = 86_400, 365 * 86_400


@pytest.mark.parametrize(
    ("timeline", "holds"),
    [
        ("even", lambda ago: ago.min() >= 0 and ago.max() <= _YEAR),
        ("burst-past", lambda ago: ago.min() >= 6 * _YEAR - 5 * _DAY and ago.max() <= 6 * _YEAR),
        ("bursts", lambda ago: len({int(a // _DAY) for a in ago}) <= 10 and ago.max() <= 4 * _YEAR and ago.min() < _YEAR),
        ("dormant", lambda ago: ago.min() >= 2 * _YEAR and ago.max() <= 5 * _YEAR),
        ("ties", lambda ago: ago.value_counts().head(5).sum() >= 0.28 * len(ago)),
        ("recent-burst", lambda ago: (ago <= 3_600).mean() >= 0.88),
        ("weekly-bursts", lambda ago: ((ago % (7 * _DAY)) <= 3_700).all() and ago.max() <= _YEAR + 7 * _DAY),
    ],
)
def test_seeded_objects_are_created_as_the_timeline_says(make_emulator, timeline, holds):
    """Through the API, as a backfill sees them: `created` of every seeded customer."""
    import pandas as pd

    # Without rate limits: the retrieves below go one after another, as fast as they can.
    emulator = make_emulator(
        {"customer": 2_000, "subscription": 100, "invoice": 100}, timeline=timeline, rate_limit=None, endpoint_rate_limit=None
    )
    client = stripe.StripeClient(emulator.api_key, base_addresses={"api": emulator.base_url})
    created = [customer.created for customer in client.v1.customers.list(params={"limit": 100}).auto_paging_iter()]
    now = emulator.clock.now()
    ago = pd.Series([now - c for c in created])
    assert len(created) == 2_000 and holds(ago), ago.describe()
    # Children come after their parents, whatever the shape.
    for subscription in client.v1.subscriptions.list(params={"limit": 100, "status": "all"}).auto_paging_iter():
        assert subscription.created >= client.v1.customers.retrieve(subscription.customer).created


def test_an_unknown_timeline_is_refused():
    with pytest.raises(ValueError, match="unknown timeline 'weekly'; known: even, burst-past"):
        Emulator(seed={"customer": 1}, timeline="weekly")


def test_the_key_works_as_a_basic_auth_user_as_on_stripe(make_emulator):
    import base64
    import urllib.request

    emulator = make_emulator({"customer": 2})
    token = base64.b64encode(f"{emulator.api_key}:".encode()).decode()
    request = urllib.request.Request(f"{emulator.base_url}/v1/customers", headers={"Authorization": f"Basic {token}"})
    with urllib.request.urlopen(request) as response:
        assert response.status == 200
    wrong = base64.b64encode(b"sk_test_wrong:").decode()
    request = urllib.request.Request(f"{emulator.base_url}/v1/customers", headers={"Authorization": f"Basic {wrong}"})
    try:
        urllib.request.urlopen(request)
        raise AssertionError("a wrong key must be refused")
    except urllib.error.HTTPError as error:
        assert error.code == 401
