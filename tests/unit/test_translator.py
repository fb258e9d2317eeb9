"""Asset specs from actions (dagster_defs/translator.py), and a subclass that changes them."""

from __future__ import annotations

import dagster as dg

from stripe_pipeline.actions import (
    ALL_ACTIONS,
    StripeBalanceTransactionAction,
    StripeCustomerAction,
    StripeInvoiceLineItemAction,
    StripeIssuingCardAction,
)
from stripe_pipeline.dagster_defs.translator import StripeAssetTranslator


def test_the_spec_of_a_table():
    spec = StripeAssetTranslator("postgres").get_asset_spec(StripeCustomerAction)
    assert spec.key == dg.AssetKey(["stripe", "customers"])
    assert spec.group_name == "stripe_payments" and spec.kinds == {"stripe", "postgres"}  # customers: Stripe's payments area
    assert spec.tags["stripe/area"] == "payments"
    columns = {column.name for column in spec.metadata["dagster/column_schema"].columns}
    assert {"id", "email", "_raw", "_observed_at"} <= columns
    assert "StripeCustomerAction" in spec.description


def test_child_tables_and_other_areas():
    lines = StripeAssetTranslator().get_asset_spec(StripeInvoiceLineItemAction)
    assert lines.key == dg.AssetKey(["stripe", "invoice_line_items"]) and "`invoice`" in lines.description
    assert StripeAssetTranslator().get_asset_spec(StripeIssuingCardAction).group_name == "stripe_issuing"


def test_every_child_table_is_in_its_parents_group():
    translator = StripeAssetTranslator()
    moved = {
        child.table_name(): (translator.get_asset_spec(child).group_name, translator.get_asset_spec(parent).group_name)
        for parent in ALL_ACTIONS
        for child in parent.child_actions
        if translator.get_asset_spec(child).group_name != translator.get_asset_spec(parent).group_name
    }
    assert moved == {}
    assert translator.get_asset_spec(StripeInvoiceLineItemAction).group_name == "stripe_billing"


def test_a_table_without_events_is_not_described_as_events_driven():
    balance = StripeAssetTranslator().get_asset_spec(StripeBalanceTransactionAction).description
    assert "no events" in balance and "every run lists them all" in balance and "reads only the events" not in balance
    assert "reads only the events" in StripeAssetTranslator().get_asset_spec(StripeCustomerAction).description


def test_a_subclass_changes_keys_and_groups():
    class RawKeys(StripeAssetTranslator):
        def get_asset_spec(self, action):
            spec = super().get_asset_spec(action)
            return spec.replace_attributes(key=spec.key.with_prefix("raw"), group_name="raw_stripe")

    spec = RawKeys().get_asset_spec(StripeCustomerAction)
    assert spec.key == dg.AssetKey(["raw", "stripe", "customers"]) and spec.group_name == "raw_stripe"


def test_no_automation_condition_unless_given():
    assert StripeAssetTranslator().get_asset_spec(StripeCustomerAction).automation_condition is None
    every_six_hours = dg.AutomationCondition.on_cron("0 */6 * * *")
    spec = StripeAssetTranslator(automation_condition=every_six_hours).get_asset_spec(StripeInvoiceLineItemAction)
    assert spec.automation_condition == every_six_hours


def test_each_warehouse_shows_its_own_kind_icon():
    from stripe_pipeline.dagster_defs.factory import warehouse_kind

    urls = ("sqlite:///w.db", "postgresql://u@h/d", "duckdb:///w.duckdb", "mariadb+pymysql://u@h/d")
    urls += ("snowflake://u@account/analytics/stripe?warehouse=w", "bigquery://project/dataset")
    assert [warehouse_kind(url) for url in urls] == ["sqlite", "postgres", "duckdb", "mariadb", "snowflake", "bigquery"]
