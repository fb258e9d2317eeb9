"""What was billed and what was collected, per month and currency:

- invoiced: the totals of invoices that bill (paid, open, uncollectible), in the month they
  were finalized; `metered` is the part of it from metered prices (left out of MRR);
- collected: charges that succeeded; refunded: refunds that succeeded; disputed: disputes
  opened; each in the month it was created;
- fees and net: the balance transactions of the month (every type), in the currency they
  settled in.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

COLUMNS = ["month", "currency", "invoiced", "metered", "collected", "refunded", "disputed", "fees", "net"]


def monthly(
    invoiced: pd.DataFrame,
    metered: pd.DataFrame,
    collected: pd.DataFrame,
    refunded: pd.DataFrame,
    disputed: pd.DataFrame,
    fees: pd.DataFrame,
) -> pd.DataFrame:
    """The revenue_monthly table from each source's sums by currency and month (`by_month`)."""
    table = pd.concat([invoiced, metered, collected, refunded, disputed, fees], axis=1).fillna(0).astype("int64").reset_index()
    if table.empty:
        return pd.DataFrame(columns=COLUMNS)
    table = table.sort_values(["currency", "month"])
    table["month"] = table["month"].dt.start_time.dt.date
    for name in COLUMNS[2:]:
        if name not in table:
            table[name] = 0
    return table[COLUMNS].reset_index(drop=True)


def by_month(chunks: Iterable[pd.DataFrame], time: str, sums: dict[str, str]) -> pd.DataFrame:
    """The columns `sums` names (renamed as it says) summed per currency and month of `time`
    (epoch seconds), reduced a chunk at a time."""
    return combine((_by_month(chunk, time, sums) for chunk in chunks), list(sums.values()))


def combine(parts: Iterable[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    """Sums by currency and month (of `columns`) added up."""
    found = [part for part in parts if not part.empty]
    if not found:
        index = pd.MultiIndex.from_arrays([[], pd.PeriodIndex([], freq="M")], names=["currency", "month"])
        return pd.DataFrame(columns=columns, index=index)
    return pd.concat(found).groupby(level=["currency", "month"]).sum()


def _by_month(frame: pd.DataFrame, time: str, sums: dict[str, str]) -> pd.DataFrame:
    month = pd.to_datetime(frame[time], unit="s", utc=True).dt.tz_localize(None).dt.to_period("M").rename("month")
    grouped = frame.groupby([frame["currency"].rename("currency"), month])[list(sums)].sum()
    return grouped.rename(columns=sums)
