"""The metrics' pure parts: a price as MRR, and stretches of MRR as movements."""

from datetime import UTC, date, datetime

import pandas as pd
import pytest

from stripe_pipeline.metrics import cohorts, mrr
from stripe_pipeline.metrics.normalise import interval_amount, monthly_factor


def test_intervals_become_months():
    assert monthly_factor("month") == 1
    assert monthly_factor("month", 3) == pytest.approx(1 / 3)
    assert monthly_factor("year") == pytest.approx(1 / 12)
    assert monthly_factor("week") == pytest.approx(52 / 12)
    assert monthly_factor("day", 2) == pytest.approx(15)
    with pytest.raises(ValueError, match="fortnight"):
        monthly_factor("fortnight")


def test_per_unit_and_tiered_prices_for_a_quantity():
    assert interval_amount({"billing_scheme": "per_unit", "unit_amount": 1000, "unit_amount_decimal": "1000"}, 3) == 3000
    # Sold in packs of 10, rounded up: 25 seats are 3 packs.
    packs = {"billing_scheme": "per_unit", "unit_amount_decimal": "5000", "transform_quantity": {"divide_by": 10, "round": "up"}}
    assert interval_amount(packs, 25) == 15_000
    tiers = [{"up_to": 5, "unit_amount": 1000, "flat_amount": 200}, {"up_to": None, "unit_amount_decimal": "800.5"}]
    # Graduated: 5 at 10.00 plus the tier's flat 2.00, then 3 at 8.005.
    assert interval_amount({"billing_scheme": "tiered", "tiers_mode": "graduated", "tiers": tiers}, 8) == pytest.approx(
        5000 + 200 + 3 * 800.5
    )
    # Volume: all 8 at the tier 8 falls in.
    assert interval_amount({"billing_scheme": "tiered", "tiers_mode": "volume", "tiers": tiers}, 8) == pytest.approx(8 * 800.5)
    assert interval_amount({"billing_scheme": "tiered", "tiers_mode": "volume"}, 8) is None  # tiers not expanded


def _at(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp())


def test_stretches_of_mrr_become_movements_that_add_up():
    segments = pd.DataFrame(
        [
            # subscription, item, customer, currency, start, end, mrr
            ("sub_1", "si_1", "cus_a", "eur", _at("2025-01-01"), _at("2025-02-01"), 1000),
            ("sub_1", "si_1", "cus_a", "eur", _at("2025-02-01"), _at("2025-02-10T12:00:00"), 1000),
            ("sub_1", "si_1", "cus_a", "eur", _at("2025-02-10T12:00:00"), _at("2025-04-01"), 2500),
            ("sub_2", "si_2", "cus_b", "eur", _at("2025-01-15"), _at("2025-03-01"), 400),
            ("sub_3", "si_3", "cus_b", "eur", _at("2025-03-20"), _at("2026-01-01"), 300),
        ],
        columns=["subscription", "item", "customer", "currency", "start", "end", "mrr"],
    )
    built = mrr.build(segments, datetime(2025, 4, 30, tzinfo=UTC))
    changes = built.by_customer
    assert [
        (d.isoformat(), c, m, int(v)) for d, c, m, v in zip(changes["date"], changes["customer"], changes["movement"], changes["mrr"])
    ] == [
        ("2025-01-01", "cus_a", "new", 1000),
        ("2025-02-10", "cus_a", "expansion", 2500),
        ("2025-04-01", "cus_a", "churn", 0),
        ("2025-01-15", "cus_b", "new", 400),
        ("2025-03-01", "cus_b", "churn", 0),
        ("2025-03-20", "cus_b", "reactivation", 300),
    ]
    daily = built.daily.set_index("date")
    assert daily.index[0] == date(2025, 1, 1) and daily.index[-1] == date(2025, 4, 30)
    assert daily.loc[date(2025, 3, 1), ["mrr", "churned_mrr", "subscribers", "customers"]].tolist() == [2500, 400, 1, 1]
    assert daily.loc[date(2025, 3, 20), ["mrr", "reactivation_mrr", "customers"]].tolist() == [2800, 300, 2]
    previous = daily["mrr"].shift(1, fill_value=0)
    moved = daily["new_mrr"] + daily["expansion_mrr"] + daily["reactivation_mrr"] - daily["contraction_mrr"] - daily["churned_mrr"]
    assert (daily["mrr"] == previous + moved).all()


def test_cohorts_hold_each_customers_mrr_at_every_month_end():
    rows = [
        # date, customer, currency, mrr, previous_mrr, movement
        ("2025-01-10", "cus_a", "eur", 1000, 0, "new"),
        ("2025-02-15", "cus_a", "eur", 3000, 1000, "expansion"),
        ("2025-03-05", "cus_a", "eur", 0, 3000, "churn"),
        ("2025-01-20", "cus_b", "eur", 2000, 0, "new"),
        ("2025-01-25", "cus_b", "eur", 500, 2000, "contraction"),
        ("2025-02-01", "cus_c", "eur", 4000, 0, "new"),
        ("2025-03-10", "cus_c", "eur", 0, 4000, "churn"),
        ("2025-03-20", "cus_c", "eur", 1000, 0, "reactivation"),
    ]
    changes = pd.DataFrame(rows, columns=["date", "customer", "currency", "mrr", "previous_mrr", "movement"])
    changes["date"] = [date.fromisoformat(d) for d in changes["date"]]
    table = cohorts.retention(changes, datetime(2025, 4, 10, tzinfo=UTC))
    cells = {
        (c.isoformat(), m): (n, a, v)
        for c, m, n, a, v in table[["cohort", "months_since", "customers", "active_customers", "mrr"]].itertuples(index=False)
    }
    assert cells == {
        # January: a and b; at January's end a pays 10 €, b 5 €; a churns in March.
        ("2025-01-01", 0): (2, 2, 1500),
        ("2025-01-01", 1): (2, 2, 3500),
        ("2025-01-01", 2): (2, 1, 500),
        ("2025-01-01", 3): (2, 1, 500),  # April: as of the 10th
        # February: c, churned and back by March's end at a quarter of its MRR.
        ("2025-02-01", 0): (1, 1, 4000),
        ("2025-02-01", 1): (1, 1, 1000),
        ("2025-02-01", 2): (1, 1, 1000),
    }
    january = table[table["cohort"] == date(2025, 1, 1)]
    assert january["customer_retention"].tolist() == [1.0, 1.0, 0.5, 0.5]
    assert january["mrr_retention"].tolist() == pytest.approx([1.0, 3500 / 1500, 500 / 1500, 500 / 1500])


def test_the_metrics_read_exactly_their_declared_input_tables(tmp_path, monkeypatch):
    # INPUT_TABLES makes the metrics' upstream in Dagster: a table read but not declared would
    # not trigger them, and one declared but not read triggers them for nothing.
    from stripe_pipeline.metrics import INPUT_TABLES, build_all, frames
    from stripe_pipeline.warehouse import Warehouse

    read: set[str] = set()
    table = frames._table
    monkeypatch.setattr(frames, "_table", lambda name: read.add(name) or table(name))
    build_all(Warehouse(f"sqlite:///{tmp_path / 'empty.db'}"))
    assert read == set(INPUT_TABLES)
