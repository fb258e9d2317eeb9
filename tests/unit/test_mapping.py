"""How one Stripe object becomes a row (the default `set_default`), without HTTP or a database."""

from __future__ import annotations

from datetime import UTC, datetime

from stripe_pipeline.actions import StripeCustomerAction, StripeInvoiceAction, StripePaymentIntentAction

CUSTOMER = {
    "id": "cus_Zoë1",
    "object": "customer",
    "created": 1_700_000_000,
    "name": "Zoë Ångström 李",
    "email": None,
    "balance": -1250,
    "metadata": {"tier": "gold", "nested": {"list": [1, None, "✓"]}},
    "address": None,
    "livemode": False,
    "a_field_of_a_newer_api_version": {"anything": True},
}


def test_fields_map_to_columns_of_the_same_name():
    row = StripeCustomerAction().set_default(CUSTOMER)
    assert row["id"] == "cus_Zoë1" and row["name"] == "Zoë Ångström 李" and row["email"] is None
    assert row["created"] == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert row["balance"] == -1250 and row["metadata"] == CUSTOMER["metadata"]
    assert row["_raw"] is CUSTOMER  # the API's object, unchanged: fields without a column live here
    assert row["_deleted_at"] is None and row["_account"] == "" and row["_observed_at"] is not None


def test_an_expanded_reference_becomes_its_id():
    invoice = {"id": "in_1", "object": "invoice", "created": 1, "customer": {"id": "cus_1", "object": "customer"}}
    assert StripeInvoiceAction().set_default(invoice)["customer"] == "cus_1"
    assert StripeInvoiceAction().set_default({**invoice, "customer": "cus_2"})["customer"] == "cus_2"


def test_a_value_that_does_not_fit_its_column_is_null_and_counted():
    action = StripeCustomerAction()
    row = action.set_default({**CUSTOMER, "balance": "twelve", "livemode": "no", "created": None})
    assert row["balance"] is None and row["livemode"] is None and row["created"] is None
    assert row["_raw"]["balance"] == "twelve"
    assert action.stats.drifted == {"balance": 1, "livemode": 1}


def test_secrets_never_reach_a_row():
    intent = {"id": "pi_1", "object": "payment_intent", "created": 1, "amount": 100, "client_secret": "pi_1_secret_abc"}
    row = StripePaymentIntentAction().set_default(intent)
    assert "client_secret" not in row and row["_raw"]["client_secret"] is None
    assert intent["client_secret"] == "pi_1_secret_abc"  # the caller's object is left alone
