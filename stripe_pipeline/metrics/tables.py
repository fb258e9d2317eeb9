"""Every metric table from the synced tables, and writing them back beside those.

Each table is rebuilt whole on every run (`replace`): they are small next to their inputs,
and a rebuild cannot drift from the data as an incremental update could.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd

from ..warehouse import Warehouse
from . import churn, cohorts, frames, mrr, revenue

TABLES = ("mrr_daily", "mrr_by_customer", "churn_monthly", "revenue_monthly", "cohort_retention")
# The synced tables `build_all` reads (a unit test checks it against what it does read): their
# assets are the metrics' upstream in Dagster. Subscription items are not among them: a
# subscription's MRR comes from its invoice lines.
INPUT_TABLES = (
    "prices",
    "subscriptions",
    "invoices",
    "invoice_line_items",
    "charges",
    "refunds",
    "disputes",
    "balance_transactions",
)


def build_all(warehouse: Warehouse) -> dict[str, pd.DataFrame]:
    """Every metric table. The invoice lines, the bulk of the input, are read once, a chunk of
    whole customers at a time: each chunk becomes MRR changes and metered sums, and is dropped."""
    prices, as_of = frames.prices(warehouse), frames.as_of(warehouse)
    usage = prices.set_index("id")["usage_type"]
    metered: list[pd.DataFrame] = []

    def segment_chunks() -> Iterator[pd.DataFrame]:
        for lines in frames.subscription_line_chunks(warehouse):
            on_meter = lines[lines["price"].map(usage).eq("metered")]
            metered.append(revenue.by_month([on_meter], "start", {"amount": "metered"}))
            yield mrr.segments(lines, prices)

    built = mrr.build(segment_chunks(), as_of)
    daily = built.daily
    rates = frames.fx_rates(warehouse)
    if rates is not None:
        daily = mrr.converted(daily, rates)
    revenue_monthly = revenue.monthly(
        revenue.by_month(frames.invoice_chunks(warehouse), "finalized", {"total": "invoiced"}),
        revenue.combine(metered, ["metered"]),
        revenue.by_month(frames.amount_chunks(warehouse, "charges", ["amount"], ("succeeded",)), "created", {"amount": "collected"}),
        revenue.by_month(frames.amount_chunks(warehouse, "refunds", ["amount"], ("succeeded",)), "created", {"amount": "refunded"}),
        revenue.by_month(frames.amount_chunks(warehouse, "disputes", ["amount"]), "created", {"amount": "disputed"}),
        revenue.by_month(frames.amount_chunks(warehouse, "balance_transactions", ["fee", "net"]), "created", {"fee": "fees", "net": "net"}),
    )
    return {
        "mrr_daily": daily,
        "mrr_by_customer": built.by_customer,
        "churn_monthly": churn.monthly(built.daily, built.by_customer),
        "revenue_monthly": revenue_monthly,
        "cohort_retention": cohorts.retention(built.by_customer, as_of),
    }


def write(warehouse: Warehouse, name: str, frame: pd.DataFrame) -> None:
    """Replace the metric table `name` (in the warehouse's schema) with `frame`."""
    with warehouse.engine.begin() as connection:
        warehouse.database.dialect.replace_table(connection, name, warehouse.schema, frame)
