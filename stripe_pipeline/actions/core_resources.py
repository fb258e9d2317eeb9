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
    # Stripe announces a charge by its outcome; there is no `charge.created`. Not `charge.dispute.*`
    # or `charge.refund.*`: their objects are disputes and refunds.
    event_types = (
        "charge.succeeded",
        "charge.failed",
        "charge.pending",
        "charge.captured",
        "charge.expired",
        "charge.refunded",
        "charge.updated",
    )


class StripePaymentIntentAction(StripeSyncActionMixin):
    model_class = StripePaymentIntent
    stripe_object_class = stripe.PaymentIntent
    id_prefixes = ("pi_",)
    # Lets anyone who holds it confirm the payment; Stripe says never to store it.
    redacted_fields = ("client_secret",)
    # Stripe has no `payment_intent.updated`: a PaymentIntent announces its status changes only.
    event_types = (
        "payment_intent.created",
        "payment_intent.processing",
        "payment_intent.requires_action",
        "payment_intent.amount_capturable_updated",
        "payment_intent.partially_funded",
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "payment_intent.canceled",
    )
