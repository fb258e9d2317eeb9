"""The events sensor: near-real-time tables without a webhook endpoint.

Each tick reads the events since the sensor's cursor (one request when nothing happened) and
asks for a run of only the assets whose objects changed. The assets then catch up from their
own cursors in the warehouse; the sensor's cursor only decides *whether* to run.
"""

import json

import dagster as dg

from ..actions import StripeSyncActionMixin
from ..stripe_api.events import EventCursor, EventReader
from .assets import asset_key, no_retry_on_setup_errors
from .resources import StripeResource

EVENTS_SENSOR = "stripe_events_sensor"


def build_events_sensor(
    actions: list[type[StripeSyncActionMixin]], job, interval_seconds: int
) -> dg.SensorDefinition:
    asset_by_event_type = {event_type: asset_key(action) for action in actions for event_type in action.watched_events()}

    @dg.sensor(
        name=EVENTS_SENSOR,
        job=job,
        minimum_interval_seconds=interval_seconds,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description="Polls Stripe's Events API and runs the assets whose objects changed.",
    )
    def stripe_events_sensor(context: dg.SensorEvaluationContext, stripe_api: StripeResource):
        with no_retry_on_setup_errors():
            # Unfiltered: one request per quiet tick, where `types[]` (20 at most) would need several.
            reader = EventReader(stripe_api.client(logger=context.log))
            if not context.cursor:
                newest = reader.newest() or EventCursor(reader.client.server_now())
                context.update_cursor(json.dumps(newest.__dict__))
                return dg.SkipReason(f"Watching Stripe events from {newest.id or newest.created} on.")
            newest, changed, count = None, set(), 0
            for event in reader.since(EventCursor(**json.loads(context.cursor))):
                newest = newest or event
                count += 1
                if event["type"] in asset_by_event_type:
                    changed.add(asset_by_event_type[event["type"]])
        if newest is None:
            return dg.SkipReason("No new Stripe events.")
        context.update_cursor(json.dumps(EventCursor.of(newest).__dict__))
        if not changed:
            return dg.SkipReason(f"{count} new Stripe events, none about a synced object type.")
        # The key comes from the cursor: a tick that repeats asks for the same run, and Dagster
        # launches a run key only once.
        return dg.RunRequest(run_key=f"stripe-events-{newest['id']}", asset_selection=sorted(changed, key=str))

    return stripe_events_sensor
