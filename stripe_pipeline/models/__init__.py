"""SQLAlchemy models, one per warehouse table (the table contract is in CONTRACT.md)."""

from .base import META_COLUMNS, Base, StripeModel
from .billing import StripeInvoice, StripeSubscription
from .core_resources import StripeCharge, StripeCustomer, StripePaymentIntent
from .products import StripeCoupon, StripePrice, StripeProduct

__all__ = [
    "META_COLUMNS",
    "Base",
    "StripeModel",
    "StripeCharge",
    "StripeCoupon",
    "StripeCustomer",
    "StripeInvoice",
    "StripePaymentIntent",
    "StripePrice",
    "StripeProduct",
    "StripeSubscription",
]
