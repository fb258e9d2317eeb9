"""Which action an ID goes to, from its prefix (catalog/declarations.py ID_PREFIXES)."""

from __future__ import annotations

from stripe_pipeline.actions import ALL_ACTIONS, StripeCouponAction, StripeCustomerAction, StripeInvoiceAction, StripeRefundAction
from stripe_pipeline.actions.registry import action_for_id
from stripe_pipeline.actions.runs import plan_id_sync


def test_ids_are_grouped_by_their_prefix_and_unknown_ones_say_why():
    groups, problems = plan_id_sync(ALL_ACTIONS, ["cus_A", " in_B ", "re_C", "cus_D", "", "zzz_E"], None)
    assert groups[StripeCustomerAction] == ["cus_A", "cus_D"]
    assert groups[StripeInvoiceAction] == ["in_B"]  # whitespace from the launchpad is dropped
    assert groups[StripeRefundAction] == ["re_C"]
    assert set(problems) == {"zzz_E"} and "zzz_E" in problems["zzz_E"]


def test_an_explicit_type_applies_to_every_id():
    groups, problems = plan_id_sync(ALL_ACTIONS, ["SPRING", "25OFF"], "coupon")
    assert groups == {StripeCouponAction: ["SPRING", "25OFF"]} and problems == {}


def test_every_prefix_belongs_to_one_action():
    owners: dict[str, str] = {}
    for action in ALL_ACTIONS:
        for prefix in action.id_prefixes:
            assert prefix not in owners, f"{prefix} is claimed by {owners[prefix]} and {action.__name__}"
            owners[prefix] = action.__name__
    assert len(owners) > 50


def test_every_prefix_routes_to_its_own_action_the_longest_prefix_first():
    """`sub_sched_…` is a subscription schedule, though it starts with a subscription's `sub_`."""
    wrong = [
        f"{prefix}123 -> {action_for_id(ALL_ACTIONS, prefix + '123').__name__}, not {action.__name__}"
        for action in ALL_ACTIONS
        for prefix in action.id_prefixes
        if action_for_id(ALL_ACTIONS, prefix + "123") is not action
    ]
    assert wrong == []
    assert action_for_id(ALL_ACTIONS, "sub_sched_1MowQV").table_name() == "subscription_schedules"
