"""Every catalogued type, through the emulator over HTTP: a backfill, an ID sync, an incremental
run with a create, an update and a delete, and a run that changes nothing."""

from __future__ import annotations

import pytest
import stripe

from stripe_emulator.resources import RESOURCE_BY_OBJECT
from stripe_pipeline.actions import ALL_ACTIONS

from .conftest import table_rows

SEEDED = 12


def _api_object(api: stripe.StripeClient, action, object_id: str) -> dict:
    obj = api.raw_request("get", f"{action.api_path()}/{object_id}").data
    return {**obj, **{name: None for name in action.redacted_fields if name in obj}}


def _sees(action, change: str) -> bool:
    """Whether an incremental run can see this change: by the type's own events, or by listing
    it all again (a type Stripe sends no events about)."""
    own = action.event_types if action.event_types is not None else action.stripe_type.events
    return not action.watched_events() or any(name.endswith(f".{change}") for name in own)


@pytest.mark.parametrize("action", ALL_ACTIONS, ids=lambda action: action.table_name())
def test_every_type_backfills_syncs_ids_and_follows_changes(action, make_emulator, client_for, warehouse):
    name = action.object_name()
    emulator = make_emulator({name: SEEDED} if name not in ("subscription", "invoice", "price") else {name: SEEDED, "customer": 3})
    store, api = emulator.store, stripe.StripeClient(emulator.api_key, base_addresses={"api": emulator.base_url})
    collection = store.collection_for(name)
    sync = lambda: action(client=client_for(emulator), warehouse=warehouse).sync_incremental()  # noqa: E731

    backfill = sync()
    rows = table_rows(warehouse, action.table())
    assert set(rows) == set(collection.objects) and len(rows) == len(collection) >= SEEDED
    some_id = next(iter(collection.objects))
    assert rows[some_id]["_raw"] == _api_object(api, action, some_id)
    assert backfill.modes == ["backfill"]

    by_ids = action(client=client_for(emulator), warehouse=warehouse).sync_by_ids(list(collection.objects)[:3])
    assert by_ids.fetched == 3 and by_ids.written.unchanged == 3 and not by_ids.missing_ids

    created = store.create(name)
    changed = next(object_id for object_id in collection.objects if object_id != created["id"])
    field = "metadata" if "metadata" in collection.objects[changed] else None
    if field:
        store.update(changed, metadata={"checked_by": "stripe_pipeline"})
    resource = RESOURCE_BY_OBJECT[name]
    deleted = next(object_id for object_id in collection.objects if object_id not in (created["id"], changed))
    if resource.on_delete:
        store.delete(deleted)

    incremental = sync()
    rows = table_rows(warehouse, action.table())
    if _sees(action, "created") or name == "charge":  # charges announce creation as `charge.succeeded`
        assert created["id"] in rows
    if field and _sees(action, "updated"):
        assert rows[changed]["_raw"]["metadata"]["checked_by"] == "stripe_pipeline"
    if resource.on_delete in ("stub", "gone") and _sees(action, "deleted"):
        assert rows[deleted]["_deleted_at"] is not None
    assert incremental.modes == (["backfill"] if not action.watched_events() else ["incremental"])

    again = sync()
    assert again.written.inserted == again.written.updated == again.deleted == 0
