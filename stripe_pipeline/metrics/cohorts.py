"""Cohort retention: customers by the month they first paid (per currency), and how many of
them still pay, and how much MRR they hold, at the end of each month after."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from .mrr import EPOCH_DAY

COLUMNS = ["cohort", "currency", "months_since", "customers", "active_customers", "mrr", "customer_retention", "mrr_retention"]


def retention(by_customer: pd.DataFrame, as_of: datetime) -> pd.DataFrame:
    if by_customer.empty:
        return pd.DataFrame(columns=COLUMNS)
    changes = by_customer.assign(day=[(d - EPOCH_DAY).days for d in by_customer["date"]])
    first = changes[changes["movement"] == "new"][["customer", "currency", "date"]]
    first = first.assign(cohort=pd.to_datetime(first["date"]).dt.to_period("M")).drop(columns="date")
    last_month = pd.Period(as_of.date(), "M")
    # Each customer at the end of each month from its cohort's to as_of's (as_of itself for the last).
    grid = []
    for cohort, members in first.groupby("cohort"):
        for offset, month in enumerate(pd.period_range(cohort, last_month, freq="M")):
            end = min(month.end_time.date(), as_of.date())
            grid.append(members.assign(months_since=offset, day=(end - EPOCH_DAY).days))
    cells = pd.concat(grid, ignore_index=True).sort_values("day")
    history = changes[["customer", "currency", "day", "mrr"]].sort_values("day")
    cells = pd.merge_asof(cells, history, on="day", by=["customer", "currency"], direction="backward")
    cells["active"] = cells["mrr"].fillna(0) > 0
    table = cells.groupby(["cohort", "currency", "months_since"], as_index=False).agg(
        customers=("customer", "size"), active_customers=("active", "sum"), mrr=("mrr", lambda m: int(m.fillna(0).sum()))
    )
    start = table[table["months_since"] == 0].set_index(["cohort", "currency"])["mrr"]
    table["customer_retention"] = table["active_customers"] / table["customers"]
    base = [start.get((c, cur)) for c, cur in zip(table["cohort"], table["currency"])]
    table["mrr_retention"] = [m / b if b else float("nan") for m, b in zip(table["mrr"], base)]
    table["cohort"] = table["cohort"].dt.start_time.dt.date
    return table[COLUMNS]
