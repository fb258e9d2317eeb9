"""Objects a hook fails on (actions/sync/quarantine.py, buffer.py): kept in `_stripe_sync_errors`
while the run goes on, and tried again by later runs until they sync or are gone."""

from __future__ import annotations

import pytest

from stripe_pipeline.actions import StripeCustomerAction
from stripe_pipeline.actions.mixins import ObjectSyncError

from .engine import CUSTOMERS, customer, live, rows


class FlakyCustomerAction(StripeCustomerAction):
    """A hook with a bug for the IDs in `broken`."""

    broken: frozenset[str] = frozenset()

    def post_set_default(self, defaults: dict) -> dict | None:
        if defaults["id"] in self.broken:
            raise ValueError("a bug in the hook")
        return None


def sync(stripe_account, warehouse, broken=frozenset(), **options):
    action = FlakyCustomerAction(client=stripe_account, warehouse=warehouse, **options)
    action.broken = frozenset(broken)
    return action.sync_incremental()


def open_errors(warehouse) -> set[str]:
    return {object_id for object_id, _ in warehouse.open_error_objects("customers", None, 100)}


def test_an_object_whose_hook_raises_is_kept_aside_and_a_later_run_resolves_it(stripe_account, warehouse):
    for object_id in ("cus_ok", "cus_bad", "cus_gone"):
        customer(stripe_account, object_id, event=None)  # no event will bring them back

    stats = sync(stripe_account, warehouse, broken={"cus_bad", "cus_gone"})

    assert stats.failed == 2 and live(warehouse, FlakyCustomerAction) == {"cus_ok"}  # the run went on
    assert open_errors(warehouse) == {"cus_bad", "cus_gone"}

    # Still broken: no event about it, yet it is tried again, and stays open.
    stripe_account.tick(600)
    assert sync(stripe_account, warehouse, broken={"cus_bad", "cus_gone"}).failed == 2
    assert open_errors(warehouse) == {"cus_bad", "cus_gone"}

    # The hook is fixed: the next run syncs it; one Stripe no longer has is resolved as gone.
    stripe_account.tick(600)
    stripe_account.delete(CUSTOMERS, "cus_gone")
    assert sync(stripe_account, warehouse).modes == ["incremental"]
    assert open_errors(warehouse) == set()
    assert live(warehouse, FlakyCustomerAction) == {"cus_ok", "cus_bad"}
    assert rows(warehouse, FlakyCustomerAction)["cus_bad"]["email"] == "cus_bad@example.com"


def test_a_strict_run_fails_on_the_object_instead(stripe_account, warehouse):
    customer(stripe_account, "cus_bad")
    with pytest.raises(ObjectSyncError, match="customers/cus_bad"):
        sync(stripe_account, warehouse, broken={"cus_bad"}, strict=True)
    assert open_errors(warehouse) == set()
