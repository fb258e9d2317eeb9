"""Every event type reaches every table it changes, child tables included: in the events sensor
(which assets a run is asked for) and in the events run (which rows it writes), one test per
child table. A child object's own events (`customer.tax_id.created`) or, where it has none, its
parent's (`invoice.updated` for a new line) bring the child's row."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from stripe_pipeline.actions import ALL_ACTIONS
from stripe_pipeline.actions.sync.declarations import child_events, own_events
from stripe_pipeline.catalog import CHILD_TABLES
from stripe_pipeline.dagster_defs.assets import asset_key
from stripe_pipeline.dagster_defs.events_sensor import assets_by_event_type

PARENTS = {child.table_name(): action for action in ALL_ACTIONS for child in action.child_actions}


def _child_action(table: str):
    return next(child for child in PARENTS[table].child_actions if child.table_name() == table)


def _event_for(table: str) -> str | None:
    """The event Stripe sends when a child object appears: its own (`…created`), else one of
    its parent's (`…updated`, `checkout.session.completed`); None where neither type has events."""
    child, parent = _child_action(table), PARENTS[table]
    for candidates in (child_events(child), own_events(parent)):
        changes = [name for name in candidates if not name.endswith(".deleted")]
        for suffix in (".created", ".updated", ".attached", ""):
            found = [name for name in changes if name.endswith(suffix)]
            if found:
                return found[0]
    return None


@pytest.mark.parametrize("table", sorted(CHILD_TABLES))
def test_the_sensor_asks_for_the_child_table_an_event_changes(table):
    event_type = _event_for(table)
    if event_type is None:
        pytest.skip(f"neither {table} nor its parent has events: its parent is listed whole on every run")
    parent = PARENTS[table]
    chosen = {parent.table_name(), table}
    assert asset_key(_child_action(table)) in assets_by_event_type(ALL_ACTIONS, chosen).get(event_type, set())


@pytest.mark.parametrize("table", sorted(CHILD_TABLES))
def test_an_events_run_writes_the_child_row_an_event_announces(table, make_emulator, client_for, warehouse):
    child_table, parent, child = CHILD_TABLES[table], PARENTS[table], _child_action(table)
    emulator = make_emulator({parent.object_name(): 3, table: 6})
    store = emulator.store

    def sync():
        return parent(client=client_for(emulator), warehouse=warehouse, children=[table]).sync_incremental()

    sync()
    with_children = [p for p in store.collection_for(parent.object_name()).objects if _children(store, child_table, p)]
    assert with_children, f"the emulator seeded no {table}"
    parent_id = with_children[0]
    template = _children(store, child_table, parent_id)[0]
    new = {**template, "id": template["id"] + "New"}
    store.add_children(table, parent_id, [new])
    event_type = _event_for(table)
    if event_type is not None and event_type in child_events(child):
        store.emit_event(event_type, {**new, child_table.parent_field: parent_id})
    elif event_type is not None:
        store.emit_event(event_type, store.collection_for(parent.object_name()).objects[parent_id])
    stats = sync()
    assert stats.modes == (["incremental"] if parent.watched_events() else ["backfill"])
    expected = f"{parent_id}/{new['id']}" if child_table.keyed_by_parent else new["id"]
    with warehouse.engine.connect() as connection:
        rows = {row.id: row for row in connection.execute(sa.select(child.table()))}
    assert expected in rows and rows[expected]._deleted_at is None
    assert getattr(rows[expected], child_table.parent_column) == parent_id


def _children(store, child_table, parent_id: str) -> list[dict]:
    if child_table.parent_param:
        collection = store.collection_for(child_table.child.object_name)
        return [obj for obj in collection.objects.values() if obj.get(child_table.parent_param) == parent_id]
    return store.child_list(child_table.table, parent_id)
