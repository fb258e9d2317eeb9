"""The revenue metrics as assets in group `stripe_metrics`: one multi-asset, because every
table comes from the same MRR history, computed once per run (metrics/)."""

import base64
from collections.abc import Iterator

import dagster as dg
import pandas as pd

from ..actions import StripeSyncActionMixin
from ..metrics import INPUT_TABLES, TABLES, build_all, plots, write
from ..settings import ConfigurationError
from .assets import no_retry_on_setup_errors
from .resources import WarehouseResource
from .selection import with_children
from .translator import StripeAssetTranslator

GROUP = "stripe_metrics"
# Daily at 05:00 UTC, once every input has synced since the tick: after the 03:00 full sync,
# not after each of its eight tables as `eager()` would.
DEFAULT_AUTOMATION = dg.AutomationCondition.on_cron("0 5 * * *")
DESCRIPTIONS = {
    "mrr_daily": "Per day and currency: MRR and its movements (new, expansion, contraction, churned, reactivation), subscribers and customers.",
    "mrr_by_customer": "Per customer and currency, each day its MRR changed: the MRR before and after, and the movement.",
    "churn_monthly": "Per month and currency: logo churn and revenue churn (gross and net).",
    "revenue_monthly": "Per month and currency: invoiced (and its metered part), collected, refunded, disputed, fees and net.",
    "cohort_retention": "Customers by first paid month, and how many still pay, with how much MRR, N months later.",
}
CHARTS = {
    "mrr_daily": ("mrr_daily", plots.mrr_movements),
    "churn_monthly": ("churn_monthly", plots.churn_rates),
    "cohort_retention": ("cohort_retention", plots.cohort_heatmap),
}


def metric_key(table: str) -> dg.AssetKey:
    return dg.AssetKey([GROUP, table])


def build_metric_assets(
    actions: list[type[StripeSyncActionMixin]],
    translator: StripeAssetTranslator,
    automation_condition: dg.AutomationCondition | None = DEFAULT_AUTOMATION,
    problem: ConfigurationError | None = None,
) -> dg.AssetsDefinition:
    upstream = [translator.get_asset_spec(a).key for a in with_children(actions) if a.table_name() in INPUT_TABLES]
    specs = [
        dg.AssetSpec(
            metric_key(name),
            group_name=GROUP,
            deps=upstream,
            kinds={"pandas", translator.warehouse_kind},
            description=DESCRIPTIONS[name],
            automation_condition=automation_condition,
            tags={"stripe/area": "metrics"},  # as every asset's: its group without `stripe_`
        )
        for name in TABLES
    ]

    # can_subset: one table can be materialized alone (`--select stripe_metrics/mrr_daily`); the
    # MRR history they share is computed whole either way, and only the chosen tables written.
    @dg.multi_asset(specs=specs, name=GROUP, can_subset=True)
    def stripe_metrics(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> Iterator[dg.MaterializeResult]:
        with no_retry_on_setup_errors(problem):
            target = warehouse.warehouse()
            tables = build_all(target)
        for name in TABLES:
            if metric_key(name) not in context.selected_asset_keys:
                continue
            frame = tables[name]
            write(target, name, frame)
            context.log.info(f"{GROUP}: {name} has {len(frame):,} rows")
            yield dg.MaterializeResult(
                asset_key=metric_key(name), metadata=_metadata(name, frame, tables, f"{target.schema}.{name}" if target.schema else name)
            )

    return stripe_metrics


METRICS_AUTOMATION = "stripe_metrics_automation"


def build_metrics_automation(metrics: dg.AssetsDefinition) -> dg.AutomationConditionSensorDefinition:
    """The sensor that evaluates the metric assets' AutomationCondition, running from the first
    deploy. Dagster's own automation sensor starts stopped on a fresh instance, and the metrics
    would then never refresh. Running it is safe where starting the schedules is not: it only
    reads the synced tables and writes the metric tables, never calling Stripe."""
    return dg.AutomationConditionSensorDefinition(
        METRICS_AUTOMATION,
        target=dg.AssetSelection.assets(metrics),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Refreshes the revenue metrics daily at 05:00 UTC, once every table they read has synced since.",
    )


def _metadata(name: str, frame: pd.DataFrame, tables: dict[str, pd.DataFrame], table_name: str) -> dict:
    metadata: dict = {
        "dagster/row_count": len(frame),
        "dagster/table_name": table_name,
        "dagster/column_schema": dg.TableSchema(columns=[dg.TableColumn(str(c), str(t)) for c, t in frame.dtypes.items()]),
        "preview": dg.MetadataValue.md(frame.tail(10).to_markdown(index=False) if len(frame) else "(no rows)"),
    }
    if name == "mrr_daily" and len(frame):
        latest = frame.sort_values("date").groupby("currency").last()
        metadata["latest_mrr"] = dg.MetadataValue.json({c: {"date": str(r["date"]), "mrr": int(r["mrr"])} for c, r in latest.iterrows()})
    if name in CHARTS:
        source, chart = CHARTS[name]
        png = base64.b64encode(chart(tables[source])).decode()
        metadata["chart"] = dg.MetadataValue.md(f"![{name}](data:image/png;base64,{png})")
    return metadata
