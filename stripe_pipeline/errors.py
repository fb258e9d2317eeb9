"""Which errors end a run at once, for the CLI and the Dagster assets alike.

- SETUP_ERRORS: what a user fixes by changing a setting (a wrong key, a key without the
  permission, a bad setting, an unusable warehouse). Every table would meet it: the CLI stops the
  whole run in one line.
- PERMANENT_ERRORS: what a retry minutes later meets again: the setup errors and Stripe's other
  4xx (an unknown parameter, a URL the API does not know). A Dagster step fails once, without
  its RetryPolicy; the CLI reports the table and goes on with the others. Transient errors (429,
  409, 5xx, the network, a lost database connection) are retried where they happen first
  (stripe_api/retry.py, warehouse/transient.py).
"""

from __future__ import annotations

import stripe

from .settings import ConfigurationError
from .stripe_api import StripeAccessError
from .warehouse import WarehouseError

SETUP_ERRORS: tuple[type[Exception], ...] = (
    ConfigurationError,
    StripeAccessError,
    WarehouseError,
    stripe.AuthenticationError,
    stripe.PermissionError,
)
PERMANENT_ERRORS: tuple[type[Exception], ...] = (*SETUP_ERRORS, stripe.InvalidRequestError)
