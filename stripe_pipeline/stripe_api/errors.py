"""Errors the sync raises about Stripe, worded for the user and never carrying the API key."""

from __future__ import annotations


class StripeAccessError(RuntimeError):
    """Stripe refused the key or its permissions. The message never contains the key."""
