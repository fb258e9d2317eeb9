"""Actions for Stripe's core resources. Their declarations (ID prefixes, the events that concern
them, the PaymentIntent's `client_secret` left out of `_raw`) are the catalogue's:
catalog/declarations.py."""

import stripe

from ..models import StripeCharge, StripeCustomer, StripePaymentIntent
from .mixins import StripeSyncActionMixin


class StripeCustomerAction(StripeSyncActionMixin):
    model_class = StripeCustomer
    stripe_object_class = stripe.Customer


class StripeChargeAction(StripeSyncActionMixin):
    model_class = StripeCharge
    stripe_object_class = stripe.Charge


class StripePaymentIntentAction(StripeSyncActionMixin):
    model_class = StripePaymentIntent
    stripe_object_class = stripe.PaymentIntent
