"""MRR from the invoices' subscription lines, with its movements.

Each subscription line of a billing invoice is a segment of MRR: its subscription item, from
its period's start to its end, worth its amount after discounts and without tax, normalised
to a month (normalise.py). Invoices, not the subscriptions' current state, are the source,
because they keep the history (an upgrade on Mar 15 leaves a proration line from Mar 15) and
they say what each period cost after the coupons that applied then (a `repeating` coupon
simply stops appearing). The subscriptions' current state adds what invoices cannot say:
when one ended (`ended_at`: canceled at once, or at the period end it was set to cancel at),
and which never became paying (`incomplete`, `incomplete_expired`: zero).

- A trial's line costs 0, so a trial counts zero until its first paid period.
- A proration line (a change mid-period) starts a new segment for its item at its own start,
  worth the new price's full interval (not the prorated amount); an item's segment ends where
  the next one of that item starts, or where a credit (negative proration) for it starts.
- Metered prices (`usage_type: metered`) are not MRR; prices that do not recur are not either.

MRR on a day is the MRR at that day's end (UTC): an upgrade counts on its day, a cancellation
at the period end churns on the day the period ends. Segments are rounded to whole minor
units, so every day's MRR is the day before's plus its movements, exactly.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from .normalise import interval_amount, monthly_factor

DAY = 86_400
EPOCH_DAY = date(1970, 1, 1)
NOT_PAYING = ("incomplete", "incomplete_expired")
MOVEMENTS = ("new", "expansion", "contraction", "churn", "reactivation")
# Approximate interval lengths, only to unprorate a line whose price cannot be priced here.
_INTERVAL_SECONDS = {"day": DAY, "week": 7 * DAY, "month": 30.436875 * DAY, "year": 365.2425 * DAY}


@dataclass
class Mrr:
    by_customer: pd.DataFrame  # the mrr_by_customer table
    daily: pd.DataFrame  # the mrr_daily table


def segments(lines: pd.DataFrame, prices: pd.DataFrame) -> pd.DataFrame:
    """One row per stretch of an item's MRR: subscription, item, customer, currency,
    start, end (epoch seconds) and mrr (minor units per month), from subscription lines
    (frames.subscription_line_chunks: each with its subscription's status and end)."""
    lines = lines[~lines["status"].isin(NOT_PAYING)]
    lines = lines.merge(
        prices.drop(columns=["currency"]), left_on=["account", "price"], right_on=["account", "id"], how="inner", suffixes=("", "_price")
    )
    lines = lines[lines["interval"].notna() & (lines["usage_type"] == "licensed")]
    if lines.empty:
        return pd.DataFrame(columns=["subscription", "item", "customer", "currency", "start", "end", "mrr"])
    lines = lines.copy()
    lines["value"] = lines["amount"].astype(float)
    prorated = lines["proration"]
    lines.loc[prorated, "value"] = [_interval_value(row) for row in lines[prorated].itertuples(index=False)]
    factors = {pair: monthly_factor(*pair) for pair in set(zip(lines["interval"], lines["interval_count"]))}
    lines["factor"] = [factors[pair] for pair in zip(lines["interval"], lines["interval_count"])]

    # Where each item's segment ends: the next start of a line of that item (a change, or a
    # credit), the line's own end, or the subscription's end.
    starts = lines[["item", "start"]].drop_duplicates().sort_values(["item", "start"])
    starts["next_start"] = starts.groupby("item")["start"].shift(-1)
    lines = lines.merge(starts, on=["item", "start"], how="left")
    lines["end"] = np.fmin(np.fmin(lines["end"].astype(float), lines["next_start"].astype(float)), lines["ended"].astype(float))
    lines = lines[lines["value"].notna() & (lines["end"] > lines["start"])]
    # One segment per item and start: the later invoice's line, if two bill the same stretch.
    lines = lines.drop_duplicates(["item", "start"], keep="last")
    lines["mrr"] = np.rint(lines["value"] * lines["factor"]).astype("int64")
    return lines[["subscription", "item", "customer", "currency", "start", "end", "mrr"]].reset_index(drop=True)


def _interval_value(line) -> float:
    """What a proration line's item is worth per whole interval, after discounts (positive ones
    only: a credit only ends a segment). A full period's line is worth its amount."""
    if line.gross <= 0:
        return float("nan")
    full = interval_amount(line._asdict(), int(line.quantity))
    if full is None:  # unpriceable here: scale the prorated amount up to a whole interval
        return float(line.amount) * _INTERVAL_SECONDS[line.interval] * (line.interval_count or 1) / max(line.end - line.start, 1)
    return full * line.amount / line.gross


def build(segments: pd.DataFrame | Iterable[pd.DataFrame], as_of: datetime) -> Mrr:
    """The mrr_by_customer and mrr_daily tables up to `as_of`'s day, inclusive, from segments
    given whole or in chunks that each hold all the segments of their customers: a chunk's
    changes are final when it is done, and only their daily sums are kept for the series."""
    last_day = int(as_of.timestamp() // DAY)
    changes, sums = [], []
    for chunk in [segments] if isinstance(segments, pd.DataFrame) else segments:
        by_customer, by_subscription = _chunk_changes(chunk, last_day)
        changes.append(by_customer)
        sums.append(_daily_sums(by_customer, by_subscription))
    by_customer = pd.concat(changes, ignore_index=True) if changes else pd.DataFrame(columns=[*_CHANGE_COLUMNS, "movement"])
    table = by_customer.assign(date=_dates(by_customer["day"]))[["date", "customer", "currency", "mrr", "previous_mrr", "movement"]]
    return Mrr(by_customer=table, daily=_daily(pd.concat(sums, ignore_index=True) if sums else None, last_day))


def _chunk_changes(segments: pd.DataFrame, last_day: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    seg = segments.assign(start_day=(segments["start"] // DAY).astype("int64"), end_day=(segments["end"] // DAY).astype("int64"))
    seg = seg[(seg["start_day"] < seg["end_day"]) & (seg["start_day"] <= last_day)]
    deltas = pd.concat(
        [
            seg.assign(day=seg["start_day"], change=seg["mrr"]),
            seg[seg["end_day"] <= last_day].assign(day=lambda s: s["end_day"], change=lambda s: -s["mrr"]),
        ]
    )[["subscription", "customer", "currency", "day", "change"]]
    by_customer = _changes(deltas, ["customer", "currency"])
    by_customer["movement"] = _classify(by_customer, ["customer", "currency"])
    return by_customer, _changes(deltas, ["subscription", "currency"])


def _changes(deltas: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per key and day on which its MRR changed: the MRR after the day and before it."""
    per_day = deltas.groupby([*keys, "day"], as_index=False)["change"].sum()
    per_day = per_day[per_day["change"] != 0].sort_values([*keys, "day"])
    per_day["mrr"] = per_day.groupby(keys)["change"].cumsum()
    per_day["previous_mrr"] = per_day["mrr"] - per_day["change"]
    return per_day.reset_index(drop=True)


def _classify(changes: pd.DataFrame, keys: list[str]) -> pd.Series:
    starts = (changes["previous_mrr"] == 0) & (changes["mrr"] > 0)
    first = starts & (starts.astype(int).groupby([changes[k] for k in keys]).cumsum() == 1)
    movement = np.select(
        [first, starts, changes["mrr"] == 0, changes["change"] > 0],
        ["new", "reactivation", "churn", "expansion"],
        default="contraction",
    )
    return pd.Series(movement, index=changes.index)


DAILY_COLUMNS = [
    "date",
    "currency",
    "mrr",
    "new_mrr",
    "expansion_mrr",
    "contraction_mrr",
    "churned_mrr",
    "reactivation_mrr",
    "subscribers",
    "customers",
]
_CHANGE_COLUMNS = ["customer", "currency", "day", "change", "mrr", "previous_mrr"]


def _daily_sums(by_customer: pd.DataFrame, by_subscription: pd.DataFrame) -> pd.DataFrame:
    """Per currency and day: the net change, each movement, and the change in the number of
    paying customers and subscriptions."""
    c, s = by_customer, by_subscription
    amounts = pd.DataFrame(
        {
            "currency": c["currency"],
            "day": c["day"],
            "net": c["change"],
            "new_mrr": np.where(c["movement"] == "new", c["change"], 0),
            "expansion_mrr": np.where(c["movement"] == "expansion", c["change"], 0),
            "contraction_mrr": np.where(c["movement"] == "contraction", -c["change"], 0),
            "churned_mrr": np.where(c["movement"] == "churn", c["previous_mrr"], 0),
            "reactivation_mrr": np.where(c["movement"] == "reactivation", c["change"], 0),
            "customers": (c["mrr"] > 0).astype(int) - (c["previous_mrr"] > 0).astype(int),
            "subscribers": 0,
        }
    )
    subscribers = pd.DataFrame(
        {"currency": s["currency"], "day": s["day"], "subscribers": (s["mrr"] > 0).astype(int) - (s["previous_mrr"] > 0).astype(int)}
    )
    return pd.concat([amounts, subscribers]).fillna(0).groupby(["currency", "day"], as_index=False).sum()


def _daily(sums: pd.DataFrame | None, last_day: int) -> pd.DataFrame:
    """The mrr_daily table: every day from a currency's first change to `last_day`."""
    if sums is None or sums.empty:
        return pd.DataFrame(columns=DAILY_COLUMNS)
    frames = []
    for currency, part in sums.groupby("currency"):
        days = pd.RangeIndex(int(part["day"].min()), last_day + 1, name="day")
        totals = part.groupby("day").sum(numeric_only=True).reindex(days, fill_value=0).astype("int64")
        frames.append(
            pd.DataFrame(
                {
                    "date": _dates(days.to_series()).values,
                    "currency": currency,
                    "mrr": totals["net"].cumsum().values,
                    **{name: totals[name].values for name in DAILY_COLUMNS[3:8]},
                    "subscribers": totals["subscribers"].cumsum().values,
                    "customers": totals["customers"].cumsum().values,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)[DAILY_COLUMNS]


def _dates(days: pd.Series) -> pd.Series:
    return days.map(lambda day: EPOCH_DAY + timedelta(days=int(day)))


def converted(daily: pd.DataFrame, rates: pd.DataFrame) -> pd.DataFrame:
    """`mrr_converted`: each day's MRR times its currency's latest rate on or before that day
    (the user's fx_rates: units of the reporting currency per unit of this one). Days before a
    currency's first rate stay NULL: no rate is made up."""
    if daily.empty:
        return daily.assign(mrr_converted=pd.Series(dtype=float))
    left = daily.assign(_day=pd.to_datetime(daily["date"])).sort_values("_day")
    right = rates.assign(_day=pd.to_datetime(rates["date"]))[["_day", "currency", "rate"]].sort_values("_day")
    joined = pd.merge_asof(left, right, on="_day", by="currency", direction="backward")
    joined["mrr_converted"] = joined["mrr"] * joined["rate"]
    return joined.drop(columns=["_day", "rate"]).sort_values(["currency", "date"]).reset_index(drop=True)
