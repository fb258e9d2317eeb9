"""The API key never shows where a user can see it: reprs and strs of what they hold, log
records, exceptions and their tracebacks, Dagster's event log and metadata, and the tables."""

from __future__ import annotations

import logging
import traceback

import dagster as dg
import pytest
import sqlalchemy as sa

from stripe_pipeline import settings
from stripe_pipeline.actions import StripeCustomerAction, StripePaymentIntentAction
from stripe_pipeline.dagster_defs.factory import build_assets
from stripe_pipeline.dagster_defs.resources import StripeResource, WarehouseResource
from stripe_pipeline.models import Base
from stripe_pipeline.stripe_api import StripeApiClient

from .conftest import FAST_BACKOFF

KEY = "sk_live_51SecretKeyThatMustNeverBeSeenAnywhere0042"
# A key is recognisable from a part of it too: Stripe's own messages echo its last characters.
PARTS = (KEY, KEY[-12:], KEY[8:24])


def _leaks(texts: list[str]) -> list[str]:
    return [text for text in texts if any(part in text for part in PARTS)]


def _exception_texts(error: BaseException) -> list[str]:
    texts = ["".join(traceback.format_exception(error)), repr(error)]
    while error is not None:
        texts.extend(str(arg) for arg in error.args)
        error = error.__cause__ or error.__context__
    return texts


def _log_texts(records: list[logging.LogRecord]) -> list[str]:
    texts = []
    for record in records:
        texts.append(record.getMessage())
        if record.exc_info:
            texts.append("".join(traceback.format_exception(*record.exc_info)))
    return texts


def _table_texts(warehouse) -> list[str]:
    with warehouse.engine.connect() as connection:
        return [
            str(row)
            for table in Base.metadata.sorted_tables
            if sa.inspect(connection).has_table(table.name, schema=warehouse.schema)
            for row in connection.execute(sa.select(table))
        ]


def test_the_walk_finds_a_key_where_one_is(caplog):
    """The checks below can fail: each kind of place is caught when it does hold the key."""
    logging.getLogger("leaky").warning("authenticating with %s", KEY)
    assert _leaks(_log_texts(caplog.records))
    assert _leaks(_exception_texts(RuntimeError(f"bad key {KEY[-12:]}")))
    assert _leaks([repr({"api_key": KEY})])


def test_the_key_shows_nowhere(make_emulator, warehouse, warehouse_config, monkeypatch, caplog):
    emulator = make_emulator({"customer": 40, "payment_intent": 10}, api_key=KEY)
    monkeypatch.setenv("STRIPE_API_KEY", KEY)
    texts: list[str] = []
    caplog.set_level(logging.DEBUG)  # the stripe package's own loggers too

    # What users hold: the client, the settings, an action, the resource.
    client = StripeApiClient(KEY, emulator.base_url, backoff=FAST_BACKOFF)
    action = StripeCustomerAction(client=client, warehouse=warehouse)
    resource = StripeResource(api_key=dg.EnvVar("STRIPE_API_KEY"), api_base=emulator.base_url)
    for thing in (client, settings.load(), action, warehouse, resource, client.budget, client.stats):
        texts += [repr(thing), str(thing)]
    action.sync_incremental()
    StripePaymentIntentAction(client=client, warehouse=warehouse).sync_all()

    # Errors: a key Stripe rejects (it echoes the key's end in its message), a request that fails.
    for failing in (
        lambda: StripeApiClient(KEY[:-1] + "9", emulator.base_url, backoff=FAST_BACKOFF).get("/v1/customers"),
        lambda: client.get("/v1/customers", {"colour": "red"}),
    ):
        with pytest.raises(Exception) as raised:
            failing()
        texts += _exception_texts(raised.value)

    # Dagster: every event of a run, its metadata and its run config.
    [asset] = build_assets([StripeCustomerAction], retry_policy=None)
    resources = {
        "stripe_api": resource,
        "warehouse": WarehouseResource(url=warehouse_config["url"], schema_name=warehouse_config["schema"] or None),
    }
    with dg.instance_for_test() as instance:
        result = dg.materialize([asset], resources=resources, instance=instance)
        assert result.success
        for record in instance.all_logs(result.run_id):
            texts.append(str(record.user_message))
            if record.dagster_event is not None:
                texts.append(repr(record.dagster_event))
        texts.append(repr(instance.get_run_by_id(result.run_id).run_config))

    texts += _log_texts(caplog.records) + _table_texts(warehouse)
    assert len(texts) > 100  # the walk saw the run, not just its own setup
    assert _leaks(texts) == []
