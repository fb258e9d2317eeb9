"""Cohort retention: customers by the month they first paid (per currency), and how many of
them still pay, and how much MRR they hold, at the end of each month after (as_of's day for
its own month).

Each customer's MRR at a month's end is that of its last change up to then, and it holds
until the month of its next change: so each change adds its MRR to its cohort's cell from its
month on and takes it away from the next change's month. A running sum over the months gives
the cells from the changes alone, not from a row per customer and month (70,000 customers
over three years would be 2.5 million rows).
"""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd

COLUMNS = ["cohort", "currency", "months_since", "customers", "active_customers", "mrr", "customer_retention", "mrr_retention"]
KEYS = ["customer", "currency"]


def retention(by_customer: pd.DataFrame, as_of: datetime) -> pd.DataFrame:
    if by_customer.empty:
        return pd.DataFrame(columns=COLUMNS)
    moments = pd.to_datetime(by_customer["date"])
    changes = by_customer[[*KEYS, "mrr", "movement"]].assign(month=moments.dt.year * 12 + moments.dt.month - 1)
    changes = changes.sort_values([*KEYS, "month"], kind="stable")  # stable: a month's changes stay in day order
    cohort = changes[changes["movement"] == "new"].groupby(KEYS)["month"].min().rename("cohort")
    last_month = as_of.year * 12 + as_of.month - 1
    # The MRR at each month's end where it changed, and the month it changes again.
    ends = changes.groupby([*KEYS, "month"], as_index=False).last().join(cohort, on=KEYS, how="inner")
    ends["until"] = ends.groupby(KEYS)["month"].shift(-1).fillna(last_month + 1).astype("int64")
    ends["active"] = (ends["mrr"] > 0).astype("int64")
    ends["mrr"] = ends["mrr"].astype("int64")
    starts = ends.assign(months_since=ends["month"] - ends["cohort"])
    stops = ends[ends["until"] <= last_month].assign(
        months_since=lambda e: e["until"] - e["cohort"], mrr=lambda e: -e["mrr"], active=lambda e: -e["active"]
    )
    steps = pd.concat([starts, stops]).groupby(["cohort", "currency", "months_since"])[["mrr", "active"]].sum()

    members = cohort.reset_index().groupby(["cohort", "currency"]).size().rename("customers")
    cells = pd.MultiIndex.from_tuples(
        [(c, currency, offset) for (c, currency) in members.index for offset in range(last_month - c + 1)],
        names=["cohort", "currency", "months_since"],
    )
    table = steps.reindex(cells, fill_value=0).groupby(level=["cohort", "currency"]).cumsum().reset_index()
    table = table.join(members, on=["cohort", "currency"]).rename(columns={"active": "active_customers"})
    start = table[table["months_since"] == 0].set_index(["cohort", "currency"])["mrr"]
    table["customer_retention"] = table["active_customers"] / table["customers"]
    base = table.join(start.rename("base"), on=["cohort", "currency"])["base"]
    table["mrr_retention"] = table["mrr"] / base.where(base != 0)
    table["cohort"] = [date(c // 12, c % 12 + 1, 1) for c in table["cohort"]]
    return table[COLUMNS].reset_index(drop=True)
