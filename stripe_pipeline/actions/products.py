"""Actions for Stripe's product catalog."""

import stripe

from ..models import StripeCoupon, StripePrice, StripeProduct
from .mixins import StripeSyncActionMixin


class StripeProductAction(StripeSyncActionMixin):
    model_class = StripeProduct
    stripe_object_class = stripe.Product
    id_prefixes = ("prod_",)
    list_ids_filter = "ids"


class StripePriceAction(StripeSyncActionMixin):
    model_class = StripePrice
    stripe_object_class = stripe.Price
    id_prefixes = ("price_",)


class StripeCouponAction(StripeSyncActionMixin):
    model_class = StripeCoupon
    stripe_object_class = stripe.Coupon
    # Coupon IDs are chosen by the user, so the ID job needs an explicit type for them.
