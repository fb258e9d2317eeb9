"""Every metric table from the synced tables, and writing them back beside those.

Each table is rebuilt whole on every run (`replace`): they are small next to their inputs,
and a rebuild cannot drift from the data as an incremental update could.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from ..warehouse import Warehouse
from . import churn, cohorts, frames, mrr, revenue

TABLES = ("mrr_daily", "mrr_by_customer", "churn_monthly", "revenue_monthly", "cohort_retention")


@dataclass
class Inputs:
    lines: pd.DataFrame
    prices: pd.DataFrame
    subscriptions: pd.DataFrame
    as_of: datetime


def read_inputs(warehouse: Warehouse) -> Inputs:
    return Inputs(frames.subscription_lines(warehouse), frames.prices(warehouse), frames.subscriptions(warehouse), frames.as_of(warehouse))


def mrr_tables(inputs: Inputs) -> mrr.Mrr:
    return mrr.build(mrr.segments(inputs.lines, inputs.prices, inputs.subscriptions), inputs.as_of)


def revenue_table(warehouse: Warehouse, inputs: Inputs) -> pd.DataFrame:
    metered = inputs.lines.merge(inputs.prices[["id", "usage_type"]], left_on="price", right_on="id")
    return revenue.monthly(
        frames.invoices(warehouse),
        metered[metered["usage_type"] == "metered"],
        frames.amounts(warehouse, "charges", ["amount"], ("succeeded",)),
        frames.amounts(warehouse, "refunds", ["amount"], ("succeeded",)),
        frames.amounts(warehouse, "disputes", ["amount"]),
        frames.amounts(warehouse, "balance_transactions", ["fee", "net"]),
    )


def build_all(warehouse: Warehouse) -> dict[str, pd.DataFrame]:
    inputs = read_inputs(warehouse)
    built = mrr_tables(inputs)
    daily = built.daily
    rates = frames.fx_rates(warehouse)
    if rates is not None:
        daily = mrr.converted(daily, rates)
    return {
        "mrr_daily": daily,
        "mrr_by_customer": built.by_customer,
        "churn_monthly": churn.monthly(built.daily, built.by_customer),
        "revenue_monthly": revenue_table(warehouse, inputs),
        "cohort_retention": cohorts.retention(built.by_customer, inputs.as_of),
    }


def write(warehouse: Warehouse, name: str, frame: pd.DataFrame) -> None:
    """Replace the metric table `name` (in the warehouse's schema) with `frame`."""
    with warehouse.engine.begin() as connection:
        frame.to_sql(name, connection, schema=warehouse.schema, if_exists="replace", index=False, chunksize=10_000)
