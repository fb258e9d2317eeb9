"""Stripe's product catalog: products, prices and coupons."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Mapped, mapped_column

from .base import StripeModel


class StripeProduct(StripeModel):
    __tablename__ = "products"

    active: Mapped[bool | None]
    created: Mapped[datetime | None]
    default_price: Mapped[str | None]
    description: Mapped[str | None]
    images: Mapped[list | None]
    livemode: Mapped[bool | None]
    marketing_features: Mapped[list | None]
    metadata_: Mapped[dict | None] = mapped_column("metadata")  # `metadata` is taken by SQLAlchemy
    name: Mapped[str | None]
    package_dimensions: Mapped[dict | None]
    shippable: Mapped[bool | None]
    statement_descriptor: Mapped[str | None]
    tax_code: Mapped[str | None]
    type: Mapped[str | None]
    unit_label: Mapped[str | None]
    updated: Mapped[datetime | None]
    url: Mapped[str | None]


class StripePrice(StripeModel):
    __tablename__ = "prices"

    active: Mapped[bool | None]
    billing_scheme: Mapped[str | None]
    created: Mapped[datetime | None]
    currency: Mapped[str | None]
    custom_unit_amount: Mapped[dict | None]
    livemode: Mapped[bool | None]
    lookup_key: Mapped[str | None]
    metadata_: Mapped[dict | None] = mapped_column("metadata")
    nickname: Mapped[str | None]
    product: Mapped[str | None]
    recurring: Mapped[dict | None]
    tax_behavior: Mapped[str | None]
    tiers_mode: Mapped[str | None]
    transform_quantity: Mapped[dict | None]
    type: Mapped[str | None]
    unit_amount: Mapped[int | None]
    unit_amount_decimal: Mapped[str | None]  # a decimal string in the API; text keeps its precision


class StripeCoupon(StripeModel):
    __tablename__ = "coupons"

    amount_off: Mapped[int | None]
    created: Mapped[datetime | None]
    currency: Mapped[str | None]
    duration: Mapped[str | None]
    duration_in_months: Mapped[int | None]
    livemode: Mapped[bool | None]
    max_redemptions: Mapped[int | None]
    metadata_: Mapped[dict | None] = mapped_column("metadata")
    name: Mapped[str | None]
    percent_off: Mapped[float | None]
    redeem_by: Mapped[datetime | None]
    times_redeemed: Mapped[int | None]
    valid: Mapped[bool | None]
