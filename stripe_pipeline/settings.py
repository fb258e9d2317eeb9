"""The environment variables users configure, in one pydantic-settings class.

`Settings()` reads the environment when it is made, never at import. Constructor arguments
win over the environment (`Settings(stripe_api_key=…)`), so the same code runs from Dagster
resources (which compose it, see dagster_defs/resources.py), from tests and from a shell. The
key is a `SecretStr`: its repr, str and any error show `**********`, never the key.

The functions below read one setting each, an explicit argument first; code takes its settings
through them. A value that cannot work fails with ConfigurationError naming the variable.
"""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from . import policies

DEFAULT_API_BASE = "https://api.stripe.com"
DEFAULT_WAREHOUSE_URL = "sqlite:///stripe_warehouse.db"


class ConfigurationError(RuntimeError):
    """A setting is missing or unusable; the message says which and how to fix it."""


class Settings(BaseSettings):
    """Every variable of the README's table; field names are the variables, lower-cased."""

    model_config = SettingsConfigDict(extra="ignore", env_ignore_empty=True, validate_default=False)

    stripe_api_key: SecretStr | None = None
    stripe_api_base: str = DEFAULT_API_BASE
    warehouse_url: str = DEFAULT_WAREHOUSE_URL
    warehouse_schema: str | None = None
    # Where the sync keeps its own state (sync state, locks, the request budget, staged events);
    # None: in the warehouse, beside the tables (warehouse/state_store.py).
    state_url: str | None = None
    # Snowflake's key-pair and OAuth (or programmatic access token) sign-in: secrets, so not in
    # WAREHOUSE_URL (dialects/snowflake.py passes them to the connector).
    snowflake_private_key: SecretStr | None = None  # the PEM text
    snowflake_private_key_file: str | None = None
    snowflake_private_key_passphrase: SecretStr | None = None
    snowflake_token: SecretStr | None = None
    stripe_events_poll_seconds: int = policies.EVENTS_POLL_SECONDS
    stripe_timeout_seconds: float = policies.HTTP_READ_TIMEOUT_SECONDS
    stripe_requests_per_second: float | None = None
    stripe_endpoint_requests_per_second: float | None = None
    stripe_objects: str = ""
    stripe_accounts: str = ""  # a comma list of acct_…, or `all` (parsed by stripe_accounts() below)
    stripe_freshness_hours: float = policies.FRESHNESS_HOURS
    stripe_schedules: str = "stopped"  # the schedules' default status when deployed: stopped or running

    @field_validator("stripe_events_poll_seconds", mode="before")
    @classmethod
    def _whole_seconds(cls, raw: Any) -> int:
        try:
            seconds = int(raw)
        except (TypeError, ValueError):
            raise ValueError(f"STRIPE_EVENTS_POLL_SECONDS must be a whole number of seconds, not {raw!r}.") from None
        if seconds < 1:
            raise ValueError(f"STRIPE_EVENTS_POLL_SECONDS must be at least 1, not {seconds}.")
        return seconds

    @field_validator(
        "stripe_timeout_seconds",
        "stripe_requests_per_second",
        "stripe_endpoint_requests_per_second",
        "stripe_freshness_hours",
        mode="before",
    )
    @classmethod
    def _positive(cls, raw: Any, info) -> float | None:
        if raw is None:
            return None
        name = info.field_name.upper()
        unit = {"STRIPE_TIMEOUT_SECONDS": "seconds", "STRIPE_FRESHNESS_HOURS": "hours"}.get(name, "requests per second")
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a number of {unit}, not {raw!r}.") from None
        if value <= 0:
            raise ValueError(f"{name} must be greater than 0, not {value}.")
        return value

    @field_validator("warehouse_url", "state_url", mode="after")
    @classmethod
    def _database_url(cls, value: str | None, info) -> str | None:
        if value is None:
            return None
        try:
            make_url(value)
        except ArgumentError:
            # Not echoed: a URL that does not parse may still hold a password.
            raise ValueError(
                f"{info.field_name.upper()} is not a database URL. Give a SQLAlchemy URL such as sqlite:///stripe_warehouse.db, "
                "postgresql://user:password@host:5432/analytics or duckdb:///stripe.duckdb (see the README)."
            ) from None
        return value

    @field_validator("stripe_api_base", mode="after")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("stripe_objects", mode="after")
    @classmethod
    def _stripped(cls, value: str) -> str:
        return value.strip()

    @field_validator("stripe_schedules", mode="after")
    @classmethod
    def _schedule_status(cls, value: str) -> str:
        status = value.strip().lower()
        if status not in ("stopped", "running"):
            raise ValueError(f"STRIPE_SCHEDULES must be stopped or running, not {value!r}.")
        return status

    @field_validator("stripe_accounts", mode="after")
    @classmethod
    def _accounts(cls, value: str) -> str:
        parse_accounts(value)  # fails on a wrong entry
        return value.strip()


def load(base: Settings | None = None, **overrides: Any) -> Settings:
    """The settings from the environment (or those of `base`, a resource's), with the given
    values (None: not given) over them, all validated."""
    given = {name: value for name, value in overrides.items() if value is not None}
    try:
        return Settings(**({**base.model_dump(), **given} if base is not None else given))
    except ValidationError as error:
        problems = [
            str(problem["ctx"]["error"])
            if "error" in problem.get("ctx", {})
            else f"{'.'.join(map(str, problem['loc'])).upper()}: {problem['msg']}"
            for problem in error.errors(include_input=False)
        ]
        raise ConfigurationError(" ".join(problems)) from None


def _one(name: str, override: Any) -> Any:
    """One setting: the argument when given, else the environment's value, else the default.
    Every variable is validated on each read, so a bad one fails early, by its name."""
    return getattr(load(**{name: override}), name)


def stripe_api_key(override: str | None = None) -> str:
    return required_key(load(stripe_api_key=override))


def required_key(config: Settings) -> str:
    """The key, or a ConfigurationError that says what to set and where."""
    key = config.stripe_api_key
    if key is None or not key.get_secret_value().strip():
        raise ConfigurationError(
            "STRIPE_API_KEY is not set. Set it, in the environment of the process that runs the sync, to a "
            "secret or restricted key of the account to sync (sk_live_…, rk_live_…, or sk_test_… for test mode). "
            "Under `dagster dev`, a .env file in the project folder holding STRIPE_API_KEY=… works; restart "
            "`dagster dev` (or reload the code location) after setting it."
        )
    return key.get_secret_value()


def stripe_freshness_hours(override: float | None = None) -> float:
    return _one("stripe_freshness_hours", override)


def stripe_schedules(override: str | None = None) -> str:
    return _one("stripe_schedules", override)


def stripe_api_base(override: str | None = None) -> str:
    return _one("stripe_api_base", override)


def warehouse_url(override: str | None = None) -> str:
    return _one("warehouse_url", override)


def warehouse_schema(override: str | None = None) -> str | None:
    """WAREHOUSE_SCHEMA as configured; None: the dialect's default (Dialect.schema: `stripe`
    where it has schemas, none on SQLite)."""
    return _one("warehouse_schema", override)


def events_poll_seconds(override: int | None = None) -> int:
    """How often the events sensor polls Stripe (STRIPE_EVENTS_POLL_SECONDS, default 60)."""
    return _one("stripe_events_poll_seconds", override)


def timeout_seconds(override: float | None = None) -> float:
    """The read timeout per request (STRIPE_TIMEOUT_SECONDS, default 30; connecting gets at most 10)."""
    return _one("stripe_timeout_seconds", override)


def requests_per_second(override: float | None = None) -> float | None:
    """The request budget (STRIPE_REQUESTS_PER_SECOND); None: Stripe's limit for the key's mode."""
    return _one("stripe_requests_per_second", override)


def endpoint_requests_per_second(override: float | None = None) -> float | None:
    """A cap per endpoint (STRIPE_ENDPOINT_REQUESTS_PER_SECOND); None: no cap beyond the budget."""
    return _one("stripe_endpoint_requests_per_second", override)


def stripe_objects(override: str | None = None) -> str:
    """What the default full sync covers (STRIPE_OBJECTS): tables, object names or areas,
    comma-separated, or `all`; empty: the default set (see dagster_defs/selection.py)."""
    return _one("stripe_objects", override)


def stripe_accounts(override: str | None = None) -> list[str] | str | None:
    """Connect accounts to sync besides the platform (STRIPE_ACCOUNTS): a comma list of
    `acct_…`, or `all` for every account /v1/accounts lists; None: the platform only."""
    return parse_accounts(_one("stripe_accounts", override))


def parse_accounts(raw: str) -> list[str] | str | None:
    raw = raw.strip()
    if not raw:
        return None
    if raw.lower() == "all":
        return "all"
    accounts = [part.strip() for part in raw.split(",") if part.strip()]
    wrong = [account for account in accounts if not account.startswith("acct_")]
    if wrong:
        raise ValueError(f"STRIPE_ACCOUNTS lists {wrong}: give connected account IDs (acct_…), comma-separated, or `all`.")
    return accounts
