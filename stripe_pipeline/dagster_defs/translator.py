"""How an action becomes an asset spec; subclass it to change keys, groups or tags.

>>> class MyTranslator(StripeAssetTranslator):
...     def get_asset_spec(self, action):
...         spec = super().get_asset_spec(action)
...         return spec.replace_attributes(key=spec.key.with_prefix("raw"))
"""

from __future__ import annotations

import dagster as dg

from ..actions import StripeSyncActionMixin
from .metadata import column_schema

KEY_PREFIX = "stripe"


class StripeAssetTranslator:
    """`warehouse_kind`: the kind tag of the warehouse (its icon in the UI). `automation_condition`:
    none by default, because the schedules and the events sensor (factory.py) keep the tables
    fresh and know which events arrived; give one (`dg.AutomationCondition.on_cron("0 */6 * * *")`)
    to let Dagster's declarative automation start the syncs instead or as well."""

    def __init__(self, warehouse_kind: str = "sqlite", automation_condition: dg.AutomationCondition | None = None):
        self.warehouse_kind = warehouse_kind
        self.automation_condition = automation_condition

    def get_asset_spec(self, action: type[StripeSyncActionMixin]) -> dg.AssetSpec:
        """The spec of a table's asset, a top-level type's or a child table's."""
        area = action.stripe_type.area if action.stripe_type is not None else "other"
        child = action.child_table
        if child is not None:
            description = (
                f"Every {child.parent}'s {child.child.object_name} objects ({child.url}), one row each, with the "
                f"{child.parent}'s ID in `{child.parent_column}`. Synced with their parent."
            )
        elif action.watched_events():
            description = (
                f"Every Stripe {action.object_name()} ({action.api_path()}), one row each, through "
                f"{action.__name__}'s hooks. Backfills on its first run, then reads only the events since the last run."
            )
        else:
            description = (
                f"Every Stripe {action.object_name()} ({action.api_path()}), one row each, through "
                f"{action.__name__}'s hooks. Stripe sends no events about {action.object_name()} objects, so every run "
                "lists them all, and flags the rows it no longer lists as deleted."
            )
        return dg.AssetSpec(
            key=dg.AssetKey([KEY_PREFIX, action.table_name()]),
            group_name=f"stripe_{area}",
            kinds={"stripe", self.warehouse_kind},
            description=description,
            metadata={"dagster/column_schema": column_schema(action.table())},
            tags={"stripe/area": area},
            skippable=True,  # an account without this part of Stripe skips it
            automation_condition=self.automation_condition,
        )
