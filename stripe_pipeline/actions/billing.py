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
    event_types = (
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "customer.subscription.paused",
        "customer.subscription.resumed",
        "customer.subscription.pending_update_applied",
        "customer.subscription.pending_update_expired",
        "customer.subscription.trial_will_end",
    )
    # `customer.subscription.deleted` means canceled: the subscription still exists.
    deletion_event_types = ()


class StripeInvoiceAction(StripeSyncActionMixin):
    model_class = StripeInvoice
    stripe_object_class = stripe.Invoice
    id_prefixes = ("in_",)
    # Not `invoice.upcoming`: its object is a preview without an ID.
    event_types = (
        "invoice.created",
        "invoice.updated",
        "invoice.deleted",
        "invoice.finalized",
        "invoice.finalization_failed",
        "invoice.marked_uncollectible",
        "invoice.overdue",
        "invoice.overpaid",
        "invoice.paid",
        "invoice.payment_action_required",
        "invoice.payment_failed",
        "invoice.payment_succeeded",
        "invoice.sent",
        "invoice.voided",
        "invoice.will_be_due",
    )
