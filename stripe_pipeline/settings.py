"""The environment variables users configure (see CONTRACT.md), read in one place.

Constructor arguments win over the environment, so the same code runs from Dagster
resources, from tests and from a plain Python shell.
"""

from __future__ import annotations

import os

from . import policies

DEFAULT_API_BASE = "https://api.stripe.com"
DEFAULT_WAREHOUSE_URL = "sqlite:///stripe_warehouse.db"


class ConfigurationError(RuntimeError):
    """A setting is missing or unusable; the message says which and how to fix it."""


def stripe_api_key(override: str | None = None) -> str:
    key = override or os.environ.get("STRIPE_API_KEY")
    if not key:
        raise ConfigurationError(
            "STRIPE_API_KEY is not set. Set it, in the environment of the process that runs the sync, to a "
            "secret or restricted key of the account to sync (sk_live_…, rk_live_…, or sk_test_… for test mode). "
            "Under `dagster dev`, a .env file in the project folder holding STRIPE_API_KEY=… works; restart "
            "`dagster dev` (or reload the code location) after setting it."
        )
    return key


def stripe_api_base(override: str | None = None) -> str:
    return (override or os.environ.get("STRIPE_API_BASE") or DEFAULT_API_BASE).rstrip("/")


def warehouse_url(override: str | None = None) -> str:
    return override or os.environ.get("WAREHOUSE_URL") or DEFAULT_WAREHOUSE_URL


def warehouse_schema(dialect: str, override: str | None = None) -> str | None:
    """`stripe` on dialects with schemas, none on SQLite (it has no schemas to speak of)."""
    if dialect == "sqlite":
        return None
    return override or os.environ.get("WAREHOUSE_SCHEMA") or "stripe"


def events_poll_seconds(override: int | None = None) -> int:
    """How often the events sensor polls Stripe (STRIPE_EVENTS_POLL_SECONDS, default 60)."""
    raw = override if override is not None else os.environ.get("STRIPE_EVENTS_POLL_SECONDS", "60")
    try:
        seconds = int(raw)
    except ValueError:
        raise ConfigurationError(f"STRIPE_EVENTS_POLL_SECONDS must be a whole number of seconds, not {raw!r}.") from None
    if seconds < 1:
        raise ConfigurationError(f"STRIPE_EVENTS_POLL_SECONDS must be at least 1, not {seconds}.")
    return seconds


def timeout_seconds(override: float | None = None) -> float:
    """The read timeout per request (STRIPE_TIMEOUT_SECONDS, default 30; connecting gets at most 10)."""
    return _positive_number("STRIPE_TIMEOUT_SECONDS", override, "seconds") or policies.HTTP_READ_TIMEOUT_SECONDS


def requests_per_second(override: float | None = None) -> float | None:
    """The request budget (STRIPE_REQUESTS_PER_SECOND); None: Stripe's limit for the key's mode."""
    return _positive_number("STRIPE_REQUESTS_PER_SECOND", override)


def endpoint_requests_per_second(override: float | None = None) -> float | None:
    """A cap per endpoint (STRIPE_ENDPOINT_REQUESTS_PER_SECOND); None: no cap beyond the budget."""
    return _positive_number("STRIPE_ENDPOINT_REQUESTS_PER_SECOND", override)


def _positive_number(name: str, override: float | None, unit: str = "requests per second") -> float | None:
    raw = override if override is not None else os.environ.get(name) or None
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number of {unit}, not {raw!r}.") from None
    if value <= 0:
        raise ConfigurationError(f"{name} must be greater than 0, not {value}.")
    return value


def stripe_objects(override: str | None = None) -> str:
    """What the default full sync covers (STRIPE_OBJECTS): tables, object names or areas,
    comma-separated, or `all`; empty: the default set (see dagster_defs/selection.py)."""
    return (override if override is not None else os.environ.get("STRIPE_OBJECTS", "")).strip()


def stripe_accounts(override: str | None = None) -> list[str] | str | None:
    """Connect accounts to sync besides the platform (STRIPE_ACCOUNTS): a comma list of
    `acct_…`, or `all` for every account /v1/accounts lists; None: the platform only."""
    raw = (override if override is not None else os.environ.get("STRIPE_ACCOUNTS", "")).strip()
    if not raw:
        return None
    if raw.lower() == "all":
        return "all"
    accounts = [part.strip() for part in raw.split(",") if part.strip()]
    wrong = [account for account in accounts if not account.startswith("acct_")]
    if wrong:
        raise ConfigurationError(f"STRIPE_ACCOUNTS lists {wrong}: give connected account IDs (acct_…), comma-separated, or `all`.")
    return accounts
