"""Errors the sync raises about Stripe, worded for the user and never carrying the API key."""

from __future__ import annotations

from ..settings import ConfigurationError


class StripeAccessError(RuntimeError):
    """Stripe refused the key or its permissions. The message never contains the key.
    `http_status`: 401 for a key Stripe does not accept, 403 for one that may not read this."""

    def __init__(self, message: str, http_status: int | None = None):
        super().__init__(message)
        self.http_status = http_status


class StripeNotEnabled(RuntimeError):
    """The account does not have this part of Stripe (Issuing, Treasury, Climate, …), or its API
    does not know the endpoint. Not a failure: there is nothing to sync."""


class StripeUnreachable(ConfigurationError):
    """The first request of a client found no Stripe at STRIPE_API_BASE: the connection was
    refused or the host name does not resolve. Retrying would wait minutes for a setting to fix,
    so it fails at once, naming the setting."""
