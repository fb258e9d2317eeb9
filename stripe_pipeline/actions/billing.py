"""Actions for Stripe Billing."""

import stripe

from ..models import StripeInvoice, StripeSubscription
from .mixins import StripeSyncActionMixin


class StripeSubscriptionAction(StripeSyncActionMixin):
    model_class = StripeSubscription
    stripe_object_class = stripe.Subscription
    id_prefixes = ("sub_",)
    # Without it Stripe leaves canceled subscriptions out of the list.
    list_params = {"status": "all"}


class StripeInvoiceAction(StripeSyncActionMixin):
    model_class = StripeInvoice
    stripe_object_class = stripe.Invoice
    id_prefixes = ("in_",)
