"""The catalogue against the installed `stripe` package: nothing listable is forgotten, and
nothing users' SQL reads today disappears. (Regeneration: test_catalogue_drift.py; the tables
in a warehouse: integration/test_catalogue.py.)"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import sqlalchemy as sa
from stripe._listable_api_resource import ListableAPIResource
from stripe._object_classes import OBJECT_CLASSES

import stripe_pipeline.actions as actions
from stripe_pipeline.catalog import CHILD_TABLES, LEFT_OUT, TYPES
from stripe_pipeline.models import MODELS

# Every column the hand-written models of 0.2 had: users' SQL reads them, so none may go.
COLUMNS_BEFORE_THE_CATALOGUE = {
    "products": (
        "active",
        "created",
        "default_price",
        "description",
        "images",
        "livemode",
        "marketing_features",
        "metadata",
        "name",
        "package_dimensions",
        "shippable",
        "statement_descriptor",
        "tax_code",
        "type",
        "unit_label",
        "updated",
        "url",
    ),
    "prices": (
        "active",
        "billing_scheme",
        "created",
        "currency",
        "custom_unit_amount",
        "livemode",
        "lookup_key",
        "metadata",
        "nickname",
        "product",
        "recurring",
        "tax_behavior",
        "tiers_mode",
        "transform_quantity",
        "type",
        "unit_amount",
        "unit_amount_decimal",
    ),
    "coupons": (
        "amount_off",
        "created",
        "currency",
        "duration",
        "duration_in_months",
        "livemode",
        "max_redemptions",
        "metadata",
        "name",
        "percent_off",
        "redeem_by",
        "times_redeemed",
        "valid",
    ),
    "subscriptions": (
        "application",
        "application_fee_percent",
        "automatic_tax",
        "billing_cycle_anchor",
        "billing_cycle_anchor_config",
        "billing_mode",
        "billing_thresholds",
        "cancel_at",
        "cancel_at_period_end",
        "canceled_at",
        "cancellation_details",
        "collection_method",
        "created",
        "currency",
        "customer",
        "customer_account",
        "days_until_due",
        "default_payment_method",
        "default_source",
        "default_tax_rates",
        "description",
        "discounts",
        "ended_at",
        "invoice_settings",
        "items",
        "latest_invoice",
        "livemode",
        "metadata",
        "next_pending_invoice_item_invoice",
        "on_behalf_of",
        "pause_collection",
        "payment_settings",
        "pending_invoice_item_interval",
        "pending_setup_intent",
        "pending_update",
        "schedule",
        "start_date",
        "status",
        "test_clock",
        "transfer_data",
        "trial_end",
        "trial_settings",
        "trial_start",
    ),
    "invoices": (
        "account_country",
        "account_name",
        "account_tax_ids",
        "amount_due",
        "amount_overpaid",
        "amount_paid",
        "amount_remaining",
        "amount_shipping",
        "application",
        "attempt_count",
        "attempted",
        "auto_advance",
        "automatic_tax",
        "automatically_finalizes_at",
        "billing_reason",
        "collection_method",
        "created",
        "currency",
        "custom_fields",
        "customer",
        "customer_account",
        "customer_address",
        "customer_email",
        "customer_name",
        "customer_phone",
        "customer_shipping",
        "customer_tax_exempt",
        "customer_tax_ids",
        "default_payment_method",
        "default_source",
        "default_tax_rates",
        "description",
        "discounts",
        "due_date",
        "effective_at",
        "ending_balance",
        "footer",
        "from_invoice",
        "hosted_invoice_url",
        "invoice_pdf",
        "issuer",
        "last_finalization_error",
        "latest_revision",
        "lines",
        "livemode",
        "metadata",
        "next_payment_attempt",
        "number",
        "on_behalf_of",
        "parent",
        "payment_settings",
        "period_end",
        "period_start",
        "post_payment_credit_notes_amount",
        "pre_payment_credit_notes_amount",
        "receipt_number",
        "rendering",
        "shipping_cost",
        "shipping_details",
        "starting_balance",
        "statement_descriptor",
        "status",
        "status_transitions",
        "subscription",
        "subtotal",
        "subtotal_excluding_tax",
        "test_clock",
        "total",
        "total_discount_amounts",
        "total_excluding_tax",
        "total_pretax_credit_amounts",
        "total_taxes",
        "webhooks_delivered_at",
    ),
    "customers": (
        "address",
        "balance",
        "created",
        "currency",
        "default_source",
        "delinquent",
        "description",
        "discount",
        "email",
        "invoice_prefix",
        "invoice_settings",
        "livemode",
        "metadata",
        "name",
        "next_invoice_sequence",
        "phone",
        "preferred_locales",
        "shipping",
        "tax_exempt",
        "test_clock",
    ),
    "charges": (
        "amount",
        "amount_captured",
        "amount_refunded",
        "application",
        "application_fee",
        "application_fee_amount",
        "balance_transaction",
        "billing_details",
        "calculated_statement_descriptor",
        "captured",
        "created",
        "currency",
        "customer",
        "description",
        "disputed",
        "failure_balance_transaction",
        "failure_code",
        "failure_message",
        "fraud_details",
        "livemode",
        "metadata",
        "on_behalf_of",
        "outcome",
        "paid",
        "payment_intent",
        "payment_method",
        "payment_method_details",
        "receipt_email",
        "receipt_number",
        "receipt_url",
        "refunded",
        "refunds",
        "review",
        "shipping",
        "source",
        "source_transfer",
        "statement_descriptor",
        "statement_descriptor_suffix",
        "status",
        "transfer_data",
        "transfer_group",
    ),
    "payment_intents": (
        "amount",
        "amount_capturable",
        "amount_details",
        "amount_received",
        "application",
        "application_fee_amount",
        "automatic_payment_methods",
        "canceled_at",
        "cancellation_reason",
        "capture_method",
        "confirmation_method",
        "created",
        "currency",
        "customer",
        "customer_account",
        "description",
        "excluded_payment_method_types",
        "last_payment_error",
        "latest_charge",
        "livemode",
        "metadata",
        "next_action",
        "on_behalf_of",
        "payment_method",
        "payment_method_configuration_details",
        "payment_method_options",
        "payment_method_types",
        "processing",
        "receipt_email",
        "review",
        "setup_future_usage",
        "shipping",
        "statement_descriptor",
        "statement_descriptor_suffix",
        "status",
        "transfer_data",
        "transfer_group",
    ),
}


def test_every_listable_class_is_catalogued_or_left_out_with_a_reason():
    listable = set()
    for name, (module, attribute) in OBJECT_CLASSES.items():
        cls = getattr(importlib.import_module(module), attribute)
        if isinstance(cls, type) and issubclass(cls, ListableAPIResource) and cls.OBJECT_NAME == name:
            listable.add(name)
    covered = set(TYPES) | {child.child.object_name for child in CHILD_TABLES.values() if child.parent_param}
    assert listable - covered - set(LEFT_OUT) == set()
    assert all(reason for reason in LEFT_OUT.values())
    assert len(MODELS) >= 80


def test_every_type_has_an_action_named_after_it():
    assert actions.StripeRefundAction.table_name() == "refunds"
    assert actions.StripeBalanceTransactionAction.object_name() == "balance_transaction"
    assert actions.StripeIssuingCardAction.api_path() == "/v1/issuing/cards"
    assert actions.StripeInvoiceLineItemAction.child_table.parent == "invoice"
    names = {action.__name__ for action in actions.ALL_ACTIONS + actions.CHILD_ACTIONS}
    assert len(names) == len(actions.ALL_ACTIONS) + len(actions.CHILD_ACTIONS) == len(MODELS)
    assert all(hasattr(actions, name) for name in names)


@pytest.mark.parametrize("table", sorted(COLUMNS_BEFORE_THE_CATALOGUE))
def test_no_column_of_the_hand_written_models_disappears(table):
    assert set(COLUMNS_BEFORE_THE_CATALOGUE[table]) <= set(MODELS[table].__table__.columns.keys())


def test_column_types_follow_the_package_annotations():
    refunds = MODELS["refunds"].__table__.c
    assert isinstance(refunds.amount.type, sa.BigInteger) and isinstance(refunds.created.type, sa.DateTime)
    assert isinstance(refunds.charge.type, sa.Text)  # an expandable reference: the ID
    assert "Amount, in cents" in refunds.amount.comment
    # Child rows are read by their parent's ID and account.
    assert [[c.name for c in index.columns] for index in MODELS["invoice_line_items"].__table__.indexes] == [["invoice", "_account"]]
    assert isinstance(MODELS["subscriptions"].__table__.c.trial_end.type, sa.DateTime)  # its doc does not say so
    assert "client_secret" not in MODELS["payment_intents"].__table__.c  # a secret gets no column
    # A terminal reader's `last_seen_at` counts milliseconds: a number, not a timestamp in the year 57,000.
    assert isinstance(MODELS["terminal_readers"].__table__.c.last_seen_at.type, sa.BigInteger)


def test_timestamp_columns_say_what_they_hold_not_what_the_api_sends():
    said = [
        f"{name}.{column.name}"
        for name, model in MODELS.items()
        for column in model.__table__.columns
        if isinstance(column.type, sa.DateTime) and "seconds since" in (column.comment or "")
    ]
    assert said == []
    assert MODELS["customers"].__table__.c.created.comment == "Time at which the object was created. A UTC timestamp."


def test_the_tables_page_lists_every_table_and_what_was_left_out():
    tables = (Path(__file__).resolve().parents[2] / "docs" / "tables.md").read_text()  # the README's list until 0.9
    assert all(table in tables for table in MODELS)
    assert all(f"`{name}`" in tables for name in LEFT_OUT)


def test_the_named_actions_declare_nothing_the_catalogue_says():
    # Each fact about a type is written once, in catalog/declarations.py: a named action (the
    # seed's StripeCustomerAction and friends) that declared its own ID prefixes or events would
    # drift from the catalogue's, as the invoices' and subscriptions' event lists once did.
    # The action's name of each fact, and the catalogue's.
    facts = {
        "id_prefixes": "id_prefixes",
        "list_params": "list_params",
        "redacted_fields": "redacted_fields",
        "list_ids_filter": "list_ids_filter",
        "event_types": "events",
        "deletion_event_types": "deletion_events",
    }
    for action in actions.HAND_WRITTEN:
        declared_here = {name for name, fact in facts.items() if getattr(action, name) != getattr(action.stripe_type, fact)}
        assert not declared_here, (action.__name__, declared_here)
        assert action.watched_events()[: len(action.stripe_type.events)] == action.stripe_type.events
