"""Actions for Stripe's core resources."""

import stripe

from ..models import StripeCharge, StripeCustomer, StripePaymentIntent
from .mixins import StripeSyncActionMixin


class StripeCustomerAction(StripeSyncActionMixin):
    model_class = StripeCustomer
    stripe_object_class = stripe.Customer
    id_prefixes = ("cus_",)


class StripeChargeAction(StripeSyncActionMixin):
    model_class = StripeCharge
    stripe_object_class = stripe.Charge
    id_prefixes = ("ch_", "py_")


class StripePaymentIntentAction(StripeSyncActionMixin):
    model_class = StripePaymentIntent
    stripe_object_class = stripe.PaymentIntent
    id_prefixes = ("pi_",)
    # Lets anyone who holds it confirm the payment; Stripe says never to store it.
    redacted_fields = ("client_secret",)
