"""Stripe API access: JSON pages through the `stripe` package, with our own backoff."""

from .client import RequestStats, StripeApiClient
from .errors import StripeAccessError, StripeNotEnabled, StripeUnreachable
from .retry import BackoffPolicy

__all__ = ["BackoffPolicy", "RequestStats", "StripeAccessError", "StripeNotEnabled", "StripeApiClient", "StripeUnreachable"]
