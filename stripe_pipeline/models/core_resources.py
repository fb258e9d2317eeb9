"""Stripe's core resources: customers, charges and payment intents."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Mapped, mapped_column

from .base import StripeModel


class StripeCustomer(StripeModel):
    __tablename__ = "customers"

    address: Mapped[dict | None]
    balance: Mapped[int | None]
    created: Mapped[datetime | None]
    currency: Mapped[str | None]
    default_source: Mapped[str | None]
    delinquent: Mapped[bool | None]
    description: Mapped[str | None]
    discount: Mapped[dict | None]
    email: Mapped[str | None]
    invoice_prefix: Mapped[str | None]
    invoice_settings: Mapped[dict | None]
    livemode: Mapped[bool | None]
    metadata_: Mapped[dict | None] = mapped_column("metadata")  # `metadata` is taken by SQLAlchemy
    name: Mapped[str | None]
    next_invoice_sequence: Mapped[int | None]
    phone: Mapped[str | None]
    preferred_locales: Mapped[list | None]
    shipping: Mapped[dict | None]
    tax_exempt: Mapped[str | None]
    test_clock: Mapped[str | None]


class StripeCharge(StripeModel):
    __tablename__ = "charges"

    amount: Mapped[int | None]
    amount_captured: Mapped[int | None]
    amount_refunded: Mapped[int | None]
    application: Mapped[str | None]
    application_fee: Mapped[str | None]
    application_fee_amount: Mapped[int | None]
    balance_transaction: Mapped[str | None]
    billing_details: Mapped[dict | None]
    calculated_statement_descriptor: Mapped[str | None]
    captured: Mapped[bool | None]
    created: Mapped[datetime | None]
    currency: Mapped[str | None]
    customer: Mapped[str | None]
    description: Mapped[str | None]
    disputed: Mapped[bool | None]
    failure_balance_transaction: Mapped[str | None]
    failure_code: Mapped[str | None]
    failure_message: Mapped[str | None]
    fraud_details: Mapped[dict | None]
    livemode: Mapped[bool | None]
    metadata_: Mapped[dict | None] = mapped_column("metadata")  # `metadata` is taken by SQLAlchemy
    on_behalf_of: Mapped[str | None]
    outcome: Mapped[dict | None]
    paid: Mapped[bool | None]
    payment_intent: Mapped[str | None]
    payment_method: Mapped[str | None]
    payment_method_details: Mapped[dict | None]
    receipt_email: Mapped[str | None]
    receipt_number: Mapped[str | None]
    receipt_url: Mapped[str | None]
    refunded: Mapped[bool | None]
    refunds: Mapped[dict | None]
    review: Mapped[str | None]
    shipping: Mapped[dict | None]
    source: Mapped[dict | None]
    source_transfer: Mapped[str | None]
    statement_descriptor: Mapped[str | None]
    statement_descriptor_suffix: Mapped[str | None]
    status: Mapped[str | None]
    transfer_data: Mapped[dict | None]
    transfer_group: Mapped[str | None]


class StripePaymentIntent(StripeModel):
    __tablename__ = "payment_intents"

    amount: Mapped[int | None]
    amount_capturable: Mapped[int | None]
    amount_details: Mapped[dict | None]
    amount_received: Mapped[int | None]
    application: Mapped[str | None]
    application_fee_amount: Mapped[int | None]
    automatic_payment_methods: Mapped[dict | None]
    canceled_at: Mapped[datetime | None]
    cancellation_reason: Mapped[str | None]
    capture_method: Mapped[str | None]
    confirmation_method: Mapped[str | None]
    created: Mapped[datetime | None]
    currency: Mapped[str | None]
    customer: Mapped[str | None]
    customer_account: Mapped[str | None]
    description: Mapped[str | None]
    excluded_payment_method_types: Mapped[list | None]
    last_payment_error: Mapped[dict | None]
    latest_charge: Mapped[str | None]
    livemode: Mapped[bool | None]
    metadata_: Mapped[dict | None] = mapped_column("metadata")  # `metadata` is taken by SQLAlchemy
    next_action: Mapped[dict | None]
    on_behalf_of: Mapped[str | None]
    payment_method: Mapped[str | None]
    payment_method_configuration_details: Mapped[dict | None]
    payment_method_options: Mapped[dict | None]
    payment_method_types: Mapped[list | None]
    processing: Mapped[dict | None]
    receipt_email: Mapped[str | None]
    review: Mapped[str | None]
    setup_future_usage: Mapped[str | None]
    shipping: Mapped[dict | None]
    statement_descriptor: Mapped[str | None]
    statement_descriptor_suffix: Mapped[str | None]
    status: Mapped[str | None]
    transfer_data: Mapped[dict | None]
    transfer_group: Mapped[str | None]
