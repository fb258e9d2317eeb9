"""The revenue metrics, from stories told to the emulator, synced over HTTP, computed from the
warehouse. Every expectation is worked out by hand in the test from the story, never taken
from the code under test."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pandas as pd
import pytest
import sqlalchemy as sa

from stripe_emulator.scenarios import Scenario
from stripe_pipeline.actions import StripeInvoiceAction, StripePriceAction, StripeSubscriptionAction
from stripe_pipeline.metrics import TABLES, build_all, frames, write
from stripe_pipeline.warehouse import Warehouse

SYNCED = (StripePriceAction, StripeSubscriptionAction, StripeInvoiceAction)


@pytest.fixture
def emulator(make_emulator):
    """An empty account: each test tells its own story into it."""
    return make_emulator()


@pytest.fixture
def story(emulator):
    return Scenario(emulator.store)


@pytest.fixture
def sqlite_warehouse(tmp_path):
    warehouse = Warehouse(f"sqlite:///{tmp_path / 'metrics.db'}")
    yield warehouse
    warehouse.engine.dispose()


def sync_and_build(emulator, warehouse: Warehouse, client_for) -> dict[str, pd.DataFrame]:
    client = client_for(emulator)
    for action in SYNCED:
        action(client=client, warehouse=warehouse).sync_incremental()
    return build_all(warehouse)


def mrr_on(tables, day: str, currency: str = "eur") -> int:
    daily = tables["mrr_daily"]
    row = daily[(daily["date"] == date.fromisoformat(day)) & (daily["currency"] == currency)]
    return int(row["mrr"].iloc[0]) if len(row) else 0


def movements(tables) -> list[tuple[str, str, int, int]]:
    """(date, movement, previous MRR, MRR) of every customer change, in order."""
    changes = tables["mrr_by_customer"].sort_values("date")
    return [
        (d.isoformat(), m, int(p), int(v))
        for d, m, p, v in zip(changes["date"], changes["movement"], changes["previous_mrr"], changes["mrr"])
    ]


def test_an_upgrade_mid_period_and_a_cancellation_at_period_end(emulator, story, sqlite_warehouse, client_for):
    basic, pro = story.price(1000, "eur"), story.price(3000, "eur")
    story.subscribe(story.customer("A"), basic, on="2025-01-01").change("2025-03-15", price=pro).cancel("2025-06-10", at_period_end=True)
    story.build()
    tables = sync_and_build(emulator, sqlite_warehouse, client_for)
    # 10 € from Jan 1; 30 € from the upgrade's day; the cancellation asked on Jun 10 takes
    # effect when the June period ends, Jul 1, not on Jun 10.
    assert movements(tables) == [
        ("2025-01-01", "new", 0, 1000),
        ("2025-03-15", "expansion", 1000, 3000),
        ("2025-07-01", "churn", 3000, 0),
    ]
    assert [mrr_on(tables, d) for d in ("2024-12-31", "2025-03-14", "2025-03-15", "2025-06-10", "2025-06-30", "2025-07-01")] == [
        0,
        1000,
        3000,
        3000,
        3000,
        0,
    ]
    # The April invoice: 30 € for April, plus 17 of March's 31 days at 30 € less the same at 10 €.
    revenue = tables["revenue_monthly"].set_index("month")
    assert revenue.loc[date(2025, 4, 1), "invoiced"] == 3000 + round(3000 * 17 / 31) - round(1000 * 17 / 31)
    churn = tables["churn_monthly"].set_index("month")
    assert churn.loc[date(2025, 7, 1), ["customers_at_start", "churned_customers", "logo_churn_rate"]].tolist() == [1, 1, 1.0]
    assert churn.loc[date(2025, 3, 1), "net_revenue_churn_rate"] == pytest.approx(-2.0)  # 20 € of expansion on 10 €


def test_coupons_count_for_the_invoices_their_duration_covers(emulator, story, sqlite_warehouse, client_for):
    plan = story.price(5000, "eur")
    three_months = story.coupon(percent_off=20, duration="repeating", months=3)
    once = story.coupon(amount_off=1500, currency="eur", duration="once")
    forever = story.coupon(percent_off=10, duration="forever")
    story.subscribe(story.customer(), plan, on="2025-01-01", coupon=three_months)
    story.subscribe(story.customer(), plan, on="2025-01-01", coupon=once)
    story.subscribe(story.customer(), plan, on="2025-01-01", coupon=forever)
    story.build()
    tables = sync_and_build(emulator, sqlite_warehouse, client_for)
    # Jan: 4,000 + 3,500 + 4,500. Feb: the one-off coupon is gone. Apr: so is the 3-month one.
    assert mrr_on(tables, "2025-01-15") == 4000 + 3500 + 4500
    assert mrr_on(tables, "2025-02-01") == 4000 + 5000 + 4500
    assert mrr_on(tables, "2025-04-01") == 5000 + 5000 + 4500
    assert [m for m in movements(tables) if m[1] == "expansion"] == [
        ("2025-02-01", "expansion", 3500, 5000),
        ("2025-04-01", "expansion", 4000, 5000),
    ]


def test_trials_count_zero_until_they_convert_and_a_lapsed_trial_never_counts(emulator, story, sqlite_warehouse, client_for):
    plan = story.price(2000, "eur")
    story.subscribe(story.customer(), plan, on="2025-01-01", trial_days=14)
    story.subscribe(story.customer(), plan, on="2025-01-01", trial_days=14).lapse_trial()
    story.subscribe(story.customer(), plan, on="2025-01-01").leave_incomplete()
    story.build()
    tables = sync_and_build(emulator, sqlite_warehouse, client_for)
    assert mrr_on(tables, "2025-01-14") == 0
    assert movements(tables) == [("2025-01-15", "new", 0, 2000)]


def test_annual_and_weekly_plans_are_normalised_to_a_month(emulator, story, sqlite_warehouse, client_for):
    story.subscribe(story.customer(), story.price(120_000, "eur", "year"), on="2025-01-01")
    story.subscribe(story.customer(), story.price(1000, "eur", "week"), on="2025-01-01")
    story.subscribe(story.customer(), story.price(9000, "eur", "month", 3), on="2025-01-01", quantity=2)
    story.build()
    tables = sync_and_build(emulator, sqlite_warehouse, client_for)
    assert mrr_on(tables, "2025-02-10") == 10_000 + round(1000 * 52 / 12) + 2 * 9000 // 3


def test_currencies_are_never_summed(emulator, story, sqlite_warehouse, client_for):
    story.subscribe(story.customer(), story.price(1000, "eur"), on="2025-01-01")
    story.subscribe(story.customer(), story.price(1200, "usd"), on="2025-01-10")
    story.subscribe(story.customer(), story.price(800, "usd"), on="2025-01-20")
    story.build()
    tables = sync_and_build(emulator, sqlite_warehouse, client_for)
    assert (mrr_on(tables, "2025-01-31", "eur"), mrr_on(tables, "2025-01-31", "usd")) == (1000, 2000)
    assert set(tables["mrr_daily"]["currency"]) == {"eur", "usd"}
    assert "mrr_converted" not in tables["mrr_daily"]
    # With the user's rates to EUR: a USD rate from Jan 15 on, none before.
    rates = pd.DataFrame({"date": [date(2025, 1, 1), date(2025, 1, 15)], "currency": ["EUR", "USD"], "rate": [1.0, 0.9]})
    with sqlite_warehouse.engine.begin() as connection:
        rates.to_sql("fx_rates", connection, index=False)
    daily = build_all(sqlite_warehouse)["mrr_daily"].set_index(["currency", "date"])
    assert daily.loc[("usd", date(2025, 1, 31)), "mrr_converted"] == pytest.approx(2000 * 0.9)
    assert daily.loc[("eur", date(2025, 1, 31)), "mrr_converted"] == pytest.approx(1000)
    assert pd.isna(daily.loc[("usd", date(2025, 1, 12)), "mrr_converted"])


def test_quantity_changes_pauses_past_due_and_reactivation(emulator, story, sqlite_warehouse, client_for):
    seat = story.price(1000, "eur")
    seats = story.customer("seats")
    story.subscribe(seats, seat, on="2025-01-01").change("2025-02-10", quantity=3).change("2025-04-20", quantity=2)
    paused = story.customer("paused")
    story.subscribe(paused, seat, on="2025-01-01").pause("2025-03-01", until="2025-05-01")
    late = story.customer("late")
    story.subscribe(late, seat, on="2025-01-01").fail_payments("2025-03-01").cancel("2025-04-15")
    back = story.customer("back")
    story.subscribe(back, seat, on="2025-01-01").cancel("2025-02-10")
    story.subscribe(back, seat, on="2025-05-01", quantity=2)
    story.build()
    tables = sync_and_build(emulator, sqlite_warehouse, client_for)
    by_customer = tables["mrr_by_customer"]

    def story_of(customer):
        rows = by_customer[by_customer["customer"] == customer].sort_values("date")
        return [(d.isoformat(), m, int(v)) for d, m, v in zip(rows["date"], rows["movement"], rows["mrr"])]

    assert story_of(seats) == [("2025-01-01", "new", 1000), ("2025-02-10", "expansion", 3000), ("2025-04-20", "contraction", 2000)]
    # Paused collection voids March and April's invoices: churn, then back when it resumes.
    assert story_of(paused) == [("2025-01-01", "new", 1000), ("2025-03-01", "churn", 0), ("2025-05-01", "reactivation", 1000)]
    # past_due from March 1 still counts, until the subscription is canceled on Apr 15.
    assert story_of(late) == [("2025-01-01", "new", 1000), ("2025-04-15", "churn", 0)]
    assert story_of(back) == [("2025-01-01", "new", 1000), ("2025-02-10", "churn", 0), ("2025-05-01", "reactivation", 2000)]
    daily = tables["mrr_daily"].set_index("date")
    assert daily.loc[date(2025, 4, 20), ["contraction_mrr", "subscribers", "customers"]].tolist() == [1000, 1, 1]


def as_2024_line(line: dict) -> dict:
    """An invoice line as API version 2024-06-20 renders it (as in a webhook of an account on
    that version): item, price and proration at the top level, taxes as `tax_amounts`."""
    old = {k: v for k, v in line.items() if k not in ("parent", "pricing", "taxes", "pretax_credit_amounts")}
    details = (line.get("parent") or {}).get("subscription_item_details") or (line.get("parent") or {}).get("invoice_item_details") or {}
    price = ((line.get("pricing") or {}).get("price_details") or {}).get("price")
    taxes = [{"amount": t["amount"], "inclusive": t.get("tax_behavior") == "inclusive"} for t in line.get("taxes") or []]
    old.update(
        type="subscription" if details.get("subscription_item") else "invoiceitem",
        subscription_item=details.get("subscription_item"),
        proration=bool(details.get("proration")),
        price={"id": price, "object": "price"} if price else None,
        tax_amounts=taxes,
    )
    return old


def test_lines_in_the_2024_shape_count_as_the_current_ones(emulator, story, tmp_path, client_for):
    basic, pro = story.price(1000, "eur"), story.price(3000, "usd")
    story.subscribe(story.customer(), basic, on="2025-01-01").change("2025-03-15", price=story.price(2500, "eur"), quantity=3)
    story.subscribe(story.customer(), pro, on="2025-02-10", coupon=story.coupon(percent_off=50, duration="repeating", months=2))
    story.subscribe(story.customer(), basic, on="2025-01-20").cancel("2025-04-02")
    story.build()
    current = Warehouse(f"sqlite:///{tmp_path / 'current.db'}")
    expected = sync_and_build(emulator, current, client_for)
    assert len(expected["mrr_by_customer"]) >= 6

    older = Warehouse(f"sqlite:///{tmp_path / '2024.db'}")
    client, store = client_for(emulator), emulator.store
    for action_class, collection in zip(SYNCED, ("prices", "subscriptions", "invoices")):
        action = action_class(client=client, warehouse=older)
        action.observed_at = datetime.fromtimestamp(store.clock.now(), UTC)  # as an event's `created` says
        with action.batched():
            for obj in store.collections[collection].objects.values():
                if collection == "invoices":
                    obj = {**obj, "lines": {**obj["lines"], "data": [as_2024_line(line) for line in obj["lines"]["data"]]}}
                action.sync(obj)
    with older.engine.connect() as connection:
        stored = [json.loads(raw) for raw in connection.scalars(sa.text("SELECT _raw FROM invoice_line_items"))]
    assert len(stored) > 10 and not any("parent" in line or "pricing" in line for line in stored)  # only the old shape
    for name, table in build_all(older).items():
        pd.testing.assert_frame_equal(table, expected[name], check_dtype=False, obj=name)
    current.engine.dispose()
    older.engine.dispose()


def test_the_movements_add_up_every_day_for_2000_subscriptions(make_emulator, warehouse_config, client_for, monkeypatch):
    """mrr[d] = mrr[d-1] + new + expansion + reactivation - contraction - churned, each day,
    and MRR equals the sum over customers of their latest MRR; and the tables do not depend on
    how the lines were cut into chunks."""
    # Each of the syncs' statements is a job on the BigQuery emulator, and fakesnow runs the rows of
    # an array binding one by one: 2,000 stories would take minutes there. A smaller account, cut
    # into as many chunks, keeps every check.
    stories, chunk_rows = {"bigquery": (300, 149), "snowflake": (60, 37)}.get(warehouse_config["url"].split(":", 1)[0], (2000, 997))
    emulator = make_emulator(stories=stories, random_seed=11)
    warehouse = Warehouse(warehouse_config["url"], warehouse_config["schema"] or None)
    client = client_for(emulator)
    for action in SYNCED:
        action(client=client, warehouse=warehouse).sync_incremental()
    tables = build_all(warehouse)
    daily = tables["mrr_daily"]
    assert len(daily) > 600 and set(daily["currency"]) == {"eur", "usd"}
    for _currency, series in daily.groupby("currency"):
        series = series.sort_values("date")
        expected = series["mrr"].shift(1, fill_value=0) + series["new_mrr"] + series["expansion_mrr"] + series["reactivation_mrr"]
        expected -= series["contraction_mrr"] + series["churned_mrr"]
        assert (series["mrr"] == expected).all()
        assert (series[["new_mrr", "expansion_mrr", "contraction_mrr", "churned_mrr", "reactivation_mrr"]] >= 0).all().all()
        assert (series["mrr"] >= 0).all() and series["mrr"].max() > 0
    changes = tables["mrr_by_customer"]
    last = changes.sort_values("date").groupby(["customer", "currency"]).last()
    assert last.groupby("currency")["mrr"].sum().to_dict() == daily.sort_values("date").groupby("currency")["mrr"].last().to_dict()
    lines = sum(len(invoice["lines"]["data"]) for invoice in emulator.store.collections["invoices"].objects.values())
    monkeypatch.setattr(frames, "CHUNK_ROWS", chunk_rows)  # dozens of chunks, cut mid-customer
    assert lines > 20 * chunk_rows
    for name, chunked in build_all(warehouse).items():
        pd.testing.assert_frame_equal(chunked, tables[name], check_dtype=False, obj=name)
    for name, frame in tables.items():
        write(warehouse, name, frame)
    with warehouse.engine.connect() as connection:
        for name in TABLES:
            table = sa.table(name, schema=warehouse.schema)
            assert connection.scalar(sa.select(sa.func.count()).select_from(table)) == len(tables[name])
    warehouse.engine.dispose()


def test_the_metrics_follow_an_incremental_sync_that_cancels(emulator, story, sqlite_warehouse, client_for):
    plan = story.price(4000, "eur")
    story.subscribe(story.customer(), plan, on="2025-10-01")
    story.build()
    tables = sync_and_build(emulator, sqlite_warehouse, client_for)
    today = emulator.store.clock.now() // 86_400
    today_iso = date.fromordinal(date(1970, 1, 1).toordinal() + today).isoformat()
    assert mrr_on(tables, today_iso) == 4000
    subscription = story.subscriptions[0].id
    story.store.delete(subscription)  # DELETE /v1/subscriptions/…: canceled now
    stats = StripeSubscriptionAction(client=client_for(emulator), warehouse=sqlite_warehouse).sync_incremental()
    assert stats.modes == ["incremental"]
    tables = build_all(sqlite_warehouse)
    assert movements(tables)[-1] == (today_iso, "churn", 4000, 0)


def test_the_metric_assets_materialize_after_the_syncs_with_charts(emulator, story, tmp_path):
    import base64

    import dagster as dg

    from stripe_pipeline.actions import ALL_ACTIONS
    from stripe_pipeline.dagster_defs.factory import build_assets
    from stripe_pipeline.dagster_defs.metrics import build_metric_assets, metric_key
    from stripe_pipeline.dagster_defs.resources import StripeResource, WarehouseResource
    from stripe_pipeline.dagster_defs.translator import StripeAssetTranslator

    story.subscribe(story.customer(), story.price(2500, "eur"), on="2025-02-01")
    story.subscribe(story.customer(), story.price(9900, "usd", "year"), on="2025-03-01")
    story.build()
    inputs = [a for a in ALL_ACTIONS if a.table_name() in ("prices", "subscriptions", "invoices")]
    translator = StripeAssetTranslator("sqlite")
    metrics = build_metric_assets(inputs, translator)
    url = f"sqlite:///{tmp_path / 'w.db'}"
    result = dg.materialize(
        [*build_assets(inputs, translator, retry_policy=None), metrics],
        resources={
            "stripe_api": StripeResource(api_key=emulator.api_key, api_base=emulator.base_url),
            "warehouse": WarehouseResource(url=url),
        },
    )
    assert result.success
    spec = next(s for s in metrics.specs if s.key == metric_key("mrr_daily"))
    assert {d.asset_key.to_user_string() for d in spec.deps} >= {"stripe/subscriptions", "stripe/invoices", "stripe/invoice_line_items"}
    materializations = [event.step_materialization_data.materialization for event in result.get_asset_materialization_events()]
    events = {m.asset_key: m.metadata for m in materializations}
    daily = events[metric_key("mrr_daily")]
    assert daily["latest_mrr"].value == {
        "eur": {"date": daily["latest_mrr"].value["eur"]["date"], "mrr": 2500},
        "usd": {"date": daily["latest_mrr"].value["usd"]["date"], "mrr": 825},  # 9,900 a year / 12, rounded
    }
    assert daily["dagster/table_name"].value == "mrr_daily" and daily["dagster/row_count"].value > 300
    chart = daily["chart"].value
    png = base64.b64decode(chart.split("base64,")[1].rstrip(")"))
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5_000
    assert "chart" in events[metric_key("cohort_retention")] and "chart" in events[metric_key("churn_monthly")]
    warehouse = Warehouse(url)
    with warehouse.engine.connect() as connection:
        assert connection.scalar(sa.text("SELECT mrr FROM mrr_daily WHERE currency = 'usd' ORDER BY date DESC LIMIT 1")) == 825

    # One metric alone, as `dagster asset materialize --select stripe_metrics/churn_monthly` does.
    with warehouse.engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM churn_monthly"))
        connection.execute(sa.text("DELETE FROM mrr_daily"))
    alone = dg.materialize([metrics], resources={"warehouse": WarehouseResource(url=url)}, selection=[metric_key("churn_monthly")])
    assert {event.asset_key for event in alone.get_asset_materialization_events()} == {metric_key("churn_monthly")}
    with warehouse.engine.connect() as connection:
        assert connection.scalar(sa.text("SELECT count(*) FROM churn_monthly")) > 0
        assert connection.scalar(sa.text("SELECT count(*) FROM mrr_daily")) == 0  # not chosen: not written
    warehouse.engine.dispose()
