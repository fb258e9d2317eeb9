"""Logo and revenue churn per month and currency, from the MRR movements (mrr.py).

- logo churn: customers whose MRR fell to zero in the month, over the paying customers at its
  start (the end of the month before);
- gross revenue churn: churned plus contraction MRR, over the MRR at the start;
- net revenue churn: the same less expansion and reactivation (negative: the base grew).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

COLUMNS = [
    "month",
    "currency",
    "customers_at_start",
    "mrr_at_start",
    "churned_customers",
    "churned_mrr",
    "contraction_mrr",
    "expansion_mrr",
    "reactivation_mrr",
    "logo_churn_rate",
    "gross_revenue_churn_rate",
    "net_revenue_churn_rate",
]


def monthly(daily: pd.DataFrame, by_customer: pd.DataFrame) -> pd.DataFrame:
    if daily.empty:
        return pd.DataFrame(columns=COLUMNS)
    daily = daily.assign(month=pd.to_datetime(daily["date"]).dt.to_period("M"))
    months = daily.groupby(["currency", "month"], as_index=False).agg(
        churned_mrr=("churned_mrr", "sum"),
        contraction_mrr=("contraction_mrr", "sum"),
        expansion_mrr=("expansion_mrr", "sum"),
        reactivation_mrr=("reactivation_mrr", "sum"),
    )
    # At the start: the last day of the month before; for the first month, nothing yet.
    ends = daily.groupby(["currency", "month"]).agg(mrr=("mrr", "last"), customers=("customers", "last"))
    ends = ends.groupby(level="currency").shift(1)
    months = months.join(ends, on=["currency", "month"])
    months["mrr_at_start"] = months["mrr"].fillna(0).astype("int64")
    months["customers_at_start"] = months["customers"].fillna(0).astype("int64")
    churned = by_customer[by_customer["movement"] == "churn"]
    counts = churned.groupby([churned["currency"], pd.to_datetime(churned["date"]).dt.to_period("M").rename("month")]).size()
    months["churned_customers"] = [int(counts.get((c, m), 0)) for c, m in zip(months["currency"], months["month"])]
    start_mrr = months["mrr_at_start"].replace(0, np.nan)
    months["logo_churn_rate"] = months["churned_customers"] / months["customers_at_start"].replace(0, np.nan)
    months["gross_revenue_churn_rate"] = (months["churned_mrr"] + months["contraction_mrr"]) / start_mrr
    months["net_revenue_churn_rate"] = (
        months["churned_mrr"] + months["contraction_mrr"] - months["expansion_mrr"] - months["reactivation_mrr"]
    ) / start_mrr
    months["month"] = months["month"].dt.start_time.dt.date
    return months[COLUMNS].reset_index(drop=True)
