"""The events sensor: near-real-time tables without a webhook endpoint.

Each tick reads the events since the sensor's cursor (one request when nothing happened) and
asks for a run of only the assets whose objects changed. The assets then catch up from their
own cursors in the warehouse; the sensor's cursor only decides *whether* to run.
"""

import json

import dagster as dg

from ..actions import StripeSyncActionMixin
from ..actions.sync import declarations
from ..settings import ConfigurationError
from ..stripe_api.events import EventCursor, EventReader
from .assets import asset_key, no_retry_on_setup_errors
from .resources import StripeResource
from .selection import with_children
from .translator import StripeAssetTranslator

EVENTS_SENSOR = "stripe_events_sensor"
# A tick must end well within Dagster's sensor timeout; past this many pages every asset runs.
MAX_PAGES_PER_TICK = 20
_UNFINISHED = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def assets_by_event_type(
    actions: list[type[StripeSyncActionMixin]], tables: set[str], translator: StripeAssetTranslator | None = None
) -> dict[str, set[dg.AssetKey]]:
    """Which of the chosen tables' assets each event type changes: a type's own events its
    table, the child tables it embeds (an invoice's lines come in the invoice) and those whose
    objects have no events of their own (a quote's lines change with `quote.updated`); a child
    object's events (`customer.tax_id.created`) its child table. The run syncs the parent with
    them, as each asset's op always does."""
    found: dict[str, set[dg.AssetKey]] = {}
    for action in actions:
        if action.table_name() in tables:
            with_parent = [
                child
                for child in action.child_actions
                if child.table_name() in tables and (child.child_table.embedded or not declarations.child_events(child))
            ]
            keys = {asset_key(action, translator), *(asset_key(child, translator) for child in with_parent)}
            for event_type in declarations.own_events(action):
                found.setdefault(event_type, set()).update(keys)
        for child in action.child_actions:
            if child.table_name() in tables:
                for event_type in declarations.child_events(child):
                    found.setdefault(event_type, set()).add(asset_key(child, translator))
    return found


def build_events_sensor(
    actions: list[type[StripeSyncActionMixin]],
    job,
    interval_seconds: int,
    translator: StripeAssetTranslator | None = None,
    tables: set[str] | None = None,
    problem: ConfigurationError | None = None,
) -> dg.SensorDefinition:
    """`tables`: the tables the job covers (default: the actions' own and the child tables they
    embed). `problem`: a bad setting met when the code location was built, which every tick reports."""
    if tables is None:
        tables = {a.table_name() for a in with_children(actions) if a.child_table is None or a.child_table.embedded}
    asset_by_event_type = assets_by_event_type(actions, tables, translator)
    all_assets = {asset_key(a, translator) for a in with_children(actions) if a.table_name() in tables}

    @dg.sensor(
        name=EVENTS_SENSOR,
        job=job,
        minimum_interval_seconds=interval_seconds,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description="Polls Stripe's Events API and runs the assets whose objects changed.",
    )
    def stripe_events_sensor(context: dg.SensorEvaluationContext, stripe_api: StripeResource):
        cursor = json.loads(context.cursor) if context.cursor else None
        with no_retry_on_setup_errors(problem):
            # Unfiltered: one request per quiet tick, where `types[]` (20 at most) would need several.
            reader = EventReader(stripe_api.client(logger=context.log))
            if cursor is None:
                start = reader.newest() or EventCursor(reader.client.server_now())
                context.update_cursor(json.dumps({"created": start.created, "id": start.id, "pending": []}))
                return dg.SkipReason(f"Watching Stripe events from {start.id or start.created} on.")
            newest, changed = None, {dg.AssetKey.from_user_string(key) for key in cursor["pending"]}
            for event in reader.since(cursor["created"], stop_at=cursor["id"], max_pages=MAX_PAGES_PER_TICK):
                newest = newest or event
                changed |= asset_by_event_type.get(event["type"], set())
            if reader.truncated:
                changed = set(all_assets)  # too much happened to sort through: bring everything up to date
        # An asset with a run on its way catches up in that run or the next: asking for another
        # now would only queue runs behind its sync lock. It stays pending in the cursor.
        busy = _assets_with_unfinished_runs(context.instance, job.name, all_assets) & changed
        position = EventCursor.of(newest) if newest else EventCursor(cursor["created"], cursor["id"])
        context.update_cursor(
            json.dumps({"created": position.created, "id": position.id, "pending": sorted(key.to_user_string() for key in busy)})
        )
        wanted = sorted(changed - busy, key=lambda key: key.to_user_string())
        if not wanted:
            return dg.SkipReason("No new Stripe events for assets without a run on its way." if newest or busy else "No new Stripe events.")
        # The key comes from the cursor and the assets: a tick that repeats asks for the same run,
        # and Dagster launches a run key only once.
        tables = ",".join(key.path[-1] for key in wanted)
        return dg.RunRequest(run_key=f"stripe-events-{position.id or position.created}-{tables}", asset_selection=wanted)

    return stripe_events_sensor


def _assets_with_unfinished_runs(instance: dg.DagsterInstance, job_name: str, all_assets: set[dg.AssetKey]) -> set[dg.AssetKey]:
    busy: set[dg.AssetKey] = set()
    for record in instance.get_run_records(filters=dg.RunsFilter(job_name=job_name, statuses=_UNFINISHED)):
        selection = record.dagster_run.asset_selection
        busy |= set(selection) if selection else all_assets
    return busy
