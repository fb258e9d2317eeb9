"""What was billed and what was collected, per month and currency:

- invoiced: the totals of invoices that bill (paid, open, uncollectible), in the month they
  were finalized; `metered` is the part of it from metered prices (left out of MRR);
- collected: charges that succeeded; refunded: refunds that succeeded; disputed: disputes
  opened; each in the month it was created;
- fees and net: the balance transactions of the month (every type), in the currency they
  settled in.
"""

from __future__ import annotations

import pandas as pd

COLUMNS = ["month", "currency", "invoiced", "metered", "collected", "refunded", "disputed", "fees", "net"]


def monthly(
    invoices: pd.DataFrame,
    metered_lines: pd.DataFrame,
    charges: pd.DataFrame,
    refunds: pd.DataFrame,
    disputes: pd.DataFrame,
    balance_transactions: pd.DataFrame,
) -> pd.DataFrame:
    billed = invoices[invoices["status"].isin(("paid", "open", "uncollectible"))]
    parts = [
        _by_month(billed, "finalized", {"total": "invoiced"}),
        _by_month(metered_lines, "start", {"amount": "metered"}),
        _by_month(charges, "created", {"amount": "collected"}),
        _by_month(refunds, "created", {"amount": "refunded"}),
        _by_month(disputes, "created", {"amount": "disputed"}),
        _by_month(balance_transactions, "created", {"fee": "fees", "net": "net"}),
    ]
    table = pd.concat(parts, axis=1).fillna(0).astype("int64").reset_index()
    if table.empty:
        return pd.DataFrame(columns=COLUMNS)
    table = table.sort_values(["currency", "month"])
    table["month"] = table["month"].dt.start_time.dt.date
    for name in COLUMNS[2:]:
        if name not in table:
            table[name] = 0
    return table[COLUMNS].reset_index(drop=True)


def _by_month(frame: pd.DataFrame, time: str, sums: dict[str, str]) -> pd.DataFrame:
    index = pd.MultiIndex.from_arrays([[], pd.PeriodIndex([], freq="M")], names=["currency", "month"])
    if frame.empty:
        return pd.DataFrame(columns=list(sums.values()), index=index)
    month = pd.to_datetime(frame[time], unit="s", utc=True).dt.tz_localize(None).dt.to_period("M").rename("month")
    grouped = frame.groupby([frame["currency"].rename("currency"), month])[list(sums)].sum()
    return grouped.rename(columns=sums)
