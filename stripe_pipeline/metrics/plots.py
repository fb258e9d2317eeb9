"""The charts people would rather look at than read, as PNG bytes (matplotlib, headless Agg)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no display: the charts go into Dagster's metadata
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

_MOVEMENT_COLOURS = {
    "new_mrr": "#2e7d32",
    "expansion_mrr": "#81c784",
    "reactivation_mrr": "#4fc3f7",
    "contraction_mrr": "#ffb74d",
    "churned_mrr": "#e53935",
}


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def mrr_movements(daily: pd.DataFrame) -> bytes:
    """Per currency: MRR at each month's end (line) over the month's movements (stacked bars,
    contraction and churn below zero)."""
    currencies = sorted(daily["currency"].unique()) or ["none"]
    figure, axes = plt.subplots(len(currencies), 1, figsize=(9, 3.2 * len(currencies)), squeeze=False, layout="constrained")
    for ax, currency in zip(axes[:, 0], currencies):
        part = daily[daily["currency"] == currency].assign(month=lambda d: pd.to_datetime(d["date"]).dt.to_period("M"))
        if part.empty:
            continue
        months = part.groupby("month").agg({"mrr": "last", **{name: "sum" for name in _MOVEMENT_COLOURS}})
        x = months.index.to_timestamp()
        up = 0
        for name in ("new_mrr", "expansion_mrr", "reactivation_mrr"):
            ax.bar(x, months[name] / 100, bottom=up, width=20, color=_MOVEMENT_COLOURS[name], label=name.removesuffix("_mrr"))
            up = up + months[name] / 100
        down = 0
        for name in ("contraction_mrr", "churned_mrr"):
            ax.bar(x, -months[name] / 100, bottom=down, width=20, color=_MOVEMENT_COLOURS[name], label=name.removesuffix("_mrr"))
            down = down - months[name] / 100
        ax.plot(x, months["mrr"] / 100, color="black", marker=".", label="MRR")
        ax.set_title(f"MRR and its movements ({currency.upper()}, major units)")
        ax.legend(loc="upper left", fontsize=7, ncol=6)
    return _png(figure)


def churn_rates(churn: pd.DataFrame) -> bytes:
    figure, ax = plt.subplots(figsize=(9, 3.2))
    for currency, part in churn.groupby("currency"):
        ax.plot(pd.to_datetime(part["month"]), part["logo_churn_rate"] * 100, marker=".", label=f"logo churn {currency.upper()}")
        ax.plot(
            pd.to_datetime(part["month"]),
            part["gross_revenue_churn_rate"] * 100,
            linestyle="--",
            label=f"gross revenue churn {currency.upper()}",
        )
    ax.set_ylabel("% per month")
    ax.set_title("Churn by month")
    ax.legend(fontsize=7)
    return _png(figure)


def cohort_heatmap(cohorts: pd.DataFrame) -> bytes:
    figure, ax = plt.subplots(figsize=(9, 4))
    if not cohorts.empty:
        grid = cohorts.groupby(["cohort", "months_since"])[["active_customers", "customers"]].sum()
        share = (grid["active_customers"] / grid["customers"]).unstack("months_since")
        image = ax.imshow(share.values * 100, aspect="auto", cmap="viridis", vmin=0, vmax=100)
        ax.set_yticks(range(len(share.index)), [str(c)[:7] for c in share.index], fontsize=6)
        ax.set_xlabel("months since first payment")
        figure.colorbar(image, ax=ax, label="% of the cohort still paying")
    ax.set_title("Cohort retention (customers, all currencies)")
    return _png(figure)
