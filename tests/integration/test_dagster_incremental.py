"""The Dagster layer over incremental sync: run modes in metadata, the reconcile job, the events sensor."""

from __future__ import annotations

import time
import uuid

import dagster as dg

from stripe_pipeline.actions import ALL_ACTIONS, HAND_WRITTEN, StripeCustomerAction
from stripe_pipeline.dagster_defs.events_sensor import EVENTS_SENSOR, build_events_sensor
from stripe_pipeline.dagster_defs.factory import FULL_SYNC_JOB, RECONCILE_JOB, build_assets, build_definitions
from stripe_pipeline.dagster_defs.resources import StripeResource, WarehouseResource


def _resources(emulator, warehouse_config) -> dict:
    return {
        "stripe_api": StripeResource(api_key=emulator.api_key, api_base=emulator.base_url),
        "warehouse": WarehouseResource(url=warehouse_config["url"], schema_name=warehouse_config["schema"] or None),
    }


def _metadata(result, asset) -> dict:
    [materialization] = [m for m in result.asset_materializations_for_node(asset.op.name) if m.asset_key.path[-1] == asset.op.name]
    return {key: value.value for key, value in materialization.metadata.items()}


def test_the_asset_backfills_then_reads_events_and_says_which_mode_ran(emulator, warehouse_config):
    [asset] = build_assets([StripeCustomerAction], retry_policy=None)
    resources = _resources(emulator, warehouse_config)
    first = _metadata(dg.materialize([asset], resources=resources, selection=[f"stripe/{asset.op.name}"]), asset)
    assert first["mode"] == "backfill" and first["inserted"] == first["dagster/row_count"] == 30

    emulator.store.create("customer", name="New")
    emulator.store.delete(next(iter(emulator.store.collections["customers"].objects)))
    second = _metadata(dg.materialize([asset], resources=resources, selection=[f"stripe/{asset.op.name}"]), asset)
    assert second["mode"] == "incremental"
    # Two requests: the events, the new customer. The key was seen reading this account in the
    # first run: it is not asked again (the state keeps the key's hash).
    assert (second["events"], second["inserted"], second["deleted"], second["api_requests"]) == (2, 1, 1, 2)
    assert second["dagster/row_count"] == 31

    emulator.store.collections["customers"].remove(next(iter(emulator.store.collections["customers"].objects)))
    reconciled = dg.materialize(
        [asset],
        resources=resources,
        selection=[f"stripe/{asset.op.name}"],
        run_config={"ops": {asset.op.name: {"config": {"reconcile": True}}}},
    )
    third = _metadata(reconciled, asset)
    assert third["mode"] == "incremental, reconcile" and third["deleted"] == 1


def test_the_weekly_reconcile_job_reconciles_every_asset(stripe_env, monkeypatch):
    monkeypatch.setenv("STRIPE_EVENTS_POLL_SECONDS", "15")
    defs = build_definitions(ALL_ACTIONS, retry_policy=None)
    assert defs.resolve_schedule_def("stripe_weekly_reconcile").cron_schedule == "0 4 * * 0"
    sensor = defs.resolve_sensor_def(EVENTS_SENSOR)
    assert sensor.minimum_interval_seconds == 15 and sensor.default_status == dg.DefaultSensorStatus.STOPPED

    result = defs.resolve_job_def(RECONCILE_JOB).execute_in_process()
    modes = {
        event.asset_key.to_user_string(): event.step_materialization_data.materialization.metadata["mode"].value
        for event in result.all_events
        if event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION
    }
    chosen = {key.to_user_string() for key in defs.resolve_job_def(RECONCILE_JOB).asset_layer.selected_asset_keys}
    assert chosen >= {f"stripe/{action.table_name()}" for action in HAND_WRITTEN} | {"stripe/invoice_line_items", "stripe/refunds"}
    assert modes == dict.fromkeys(chosen, "backfill, reconcile")


def _tick(sensor, emulator, cursor, instance=None):
    context = dg.build_sensor_context(
        cursor=cursor,
        instance=instance or dg.DagsterInstance.ephemeral(),
        resources={"stripe_api": StripeResource(api_key=emulator.api_key, api_base=emulator.base_url)},
    )
    return sensor.evaluate_tick(context)


def _selection(result) -> set[str]:
    [request] = result.run_requests
    return {key.to_user_string() for key in request.asset_selection}


def _sensor():
    job = dg.define_asset_job(FULL_SYNC_JOB, selection=dg.AssetSelection.all())
    return build_events_sensor(HAND_WRITTEN, job, interval_seconds=30)


def test_the_events_sensor_runs_only_the_changed_assets_and_never_the_same_run_twice(emulator):
    sensor = _sensor()
    started = _tick(sensor, emulator, None)
    assert not started.run_requests and started.cursor

    emulator.store.update(next(iter(emulator.store.collections["customers"].objects)), name="Changed")
    emulator.store.create("product", name="New product")
    emulator.store.create("product", name="Another")
    changed = _tick(sensor, emulator, started.cursor)
    assert _selection(changed) == {"stripe/customers", "stripe/products"}

    emulator.requests.reset()
    quiet = _tick(sensor, emulator, changed.cursor)
    assert not quiet.run_requests and quiet.cursor == changed.cursor
    assert emulator.requests.total == 1  # a quiet tick is one request

    # A tick that repeats (its cursor update lost) asks for the very same run key: Dagster launches it once.
    [repeated] = _tick(sensor, emulator, started.cursor).run_requests
    assert repeated.run_key == changed.run_requests[0].run_key


def test_the_sensor_holds_back_assets_with_a_run_on_its_way_until_it_is_done(emulator):
    sensor = _sensor()
    instance = dg.DagsterInstance.ephemeral()
    started = _tick(sensor, emulator, None, instance)
    # A run of customers that is under way, as the daemon would have started it.
    run = instance.add_run(
        dg.DagsterRun(
            job_name=FULL_SYNC_JOB,
            run_id=str(uuid.uuid4()),
            status=dg.DagsterRunStatus.STARTED,
            asset_selection=frozenset({dg.AssetKey(["stripe", "customers"])}),
        )
    )
    emulator.store.update(next(iter(emulator.store.collections["customers"].objects)), name="Changed")
    emulator.store.create("product", name="New product")

    held = _tick(sensor, emulator, started.cursor, instance)
    assert _selection(held) == {"stripe/products"}  # customers has a run on its way
    instance.report_run_failed(instance.get_run_by_id(run.run_id))
    released = _tick(sensor, emulator, held.cursor, instance)
    assert _selection(released) == {"stripe/customers"}  # pending in the cursor, now asked for


def test_a_tick_with_too_many_events_runs_every_asset(emulator, monkeypatch):
    from stripe_pipeline.dagster_defs import events_sensor

    monkeypatch.setattr(events_sensor, "MAX_PAGES_PER_TICK", 1)
    sensor = _sensor()
    started = _tick(sensor, emulator, None)
    for customer in list(emulator.store.collections["customers"].objects) * 4:
        emulator.store.update(customer, metadata={"n": str(time.monotonic_ns())})
    # Every table, and the child tables they embed (an invoice's lines move with its cursor).
    every = {f"stripe/{a.table_name()}" for a in HAND_WRITTEN} | {"stripe/invoice_line_items", "stripe/subscription_items"}
    assert _selection(_tick(sensor, emulator, started.cursor)) == every
