"""One action per Stripe object type, grouped as in Stripe's API reference.

`ALL_ACTIONS` is what the Dagster layer builds its assets from: add an action here and it
gets an asset, a place in the full sync and in the ID job.
"""

from .billing import StripeInvoiceAction, StripeSubscriptionAction
from .core_resources import StripeChargeAction, StripeCustomerAction, StripePaymentIntentAction
from .mixins import StripeSyncActionMixin, SyncStats
from .products import StripeCouponAction, StripePriceAction, StripeProductAction

ALL_ACTIONS: list[type[StripeSyncActionMixin]] = [
    StripeCustomerAction,
    StripeProductAction,
    StripePriceAction,
    StripeCouponAction,
    StripeSubscriptionAction,
    StripeInvoiceAction,
    StripeChargeAction,
    StripePaymentIntentAction,
]

__all__ = [
    "ALL_ACTIONS",
    "StripeChargeAction",
    "StripeCouponAction",
    "StripeCustomerAction",
    "StripeInvoiceAction",
    "StripePaymentIntentAction",
    "StripePriceAction",
    "StripeProductAction",
    "StripeSubscriptionAction",
    "StripeSyncActionMixin",
    "SyncStats",
]
