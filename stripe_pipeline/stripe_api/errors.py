"""Errors the sync raises about Stripe, worded for the user and never carrying the API key."""

from __future__ import annotations


class StripeAccessError(RuntimeError):
    """Stripe refused the key or its permissions. The message never contains the key."""


class StripeNotEnabled(RuntimeError):
    """The account does not have this part of Stripe (Issuing, Treasury, Climate, …), or its API
    does not know the endpoint. Not a failure: there is nothing to sync."""
