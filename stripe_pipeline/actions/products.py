"""Actions for Stripe's product catalog. Their declarations (ID prefixes, the `ids` filter of
products) are the catalogue's: catalog/declarations.py."""

import stripe

from ..models import StripeCoupon, StripePrice, StripeProduct
from .mixins import StripeSyncActionMixin


class StripeProductAction(StripeSyncActionMixin):
    model_class = StripeProduct
    stripe_object_class = stripe.Product


class StripePriceAction(StripeSyncActionMixin):
    model_class = StripePrice
    stripe_object_class = stripe.Price


class StripeCouponAction(StripeSyncActionMixin):
    model_class = StripeCoupon
    stripe_object_class = stripe.Coupon
