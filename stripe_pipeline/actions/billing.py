"""Actions for Stripe Billing. Their declarations (ID prefixes, the `status=all` a listing of
subscriptions needs, the events that concern them and which of them delete) are the catalogue's:
catalog/declarations.py."""

import stripe

from ..models import StripeInvoice, StripeSubscription
from .mixins import StripeSyncActionMixin


class StripeSubscriptionAction(StripeSyncActionMixin):
    model_class = StripeSubscription
    stripe_object_class = stripe.Subscription


class StripeInvoiceAction(StripeSyncActionMixin):
    model_class = StripeInvoice
    stripe_object_class = stripe.Invoice
