"""STRIPE_OBJECTS' syntax (dagster_defs/selection.py): an unknown name says where it came from
and suggests the closest table, object type or area."""

from __future__ import annotations

import re

import pytest

from stripe_pipeline.actions import ALL_ACTIONS
from stripe_pipeline.dagster_defs.selection import chosen_tables
from stripe_pipeline.settings import ConfigurationError


@pytest.mark.parametrize(
    ("typo", "meant"),
    [("custmers", "customers"), ("biling", "billing"), ("issuing.crd", "issuing.card"), ("subscription_itms", "subscription_items")],
)
def test_an_unknown_name_suggests_the_closest(typo, meant):
    with pytest.raises(
        ConfigurationError,
        match=rf"^STRIPE_OBJECTS names '{re.escape(typo)}', which is no table, object type or area; did you mean {re.escape(meant)}\? Areas: ",
    ):
        chosen_tables(ALL_ACTIONS, f"customers,{typo}")


def test_the_error_names_where_the_names_came_from_and_suggests_nothing_far_off():
    with pytest.raises(ConfigurationError) as raised:
        chosen_tables(ALL_ACTIONS, "zzzzzz", source="The command line")
    assert str(raised.value).startswith("The command line names 'zzzzzz', which is no table, object type or area. Areas: billing, ")
    assert "did you mean" not in str(raised.value)


def test_known_names_still_choose_their_tables():
    assert chosen_tables(ALL_ACTIONS, "customer,invoices", source="The command line") == {"customers", "invoices"}
