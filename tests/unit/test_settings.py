"""The environment variables users set: defaults, and clear errors for values that cannot work."""

from __future__ import annotations

import pytest

from stripe_pipeline import settings
from stripe_pipeline.settings import ConfigurationError
from stripe_pipeline.warehouse.dialects import dialect_of


def test_defaults(monkeypatch):
    for name in (
        "STRIPE_API_BASE",
        "WAREHOUSE_URL",
        "WAREHOUSE_SCHEMA",
        "STRIPE_EVENTS_POLL_SECONDS",
        "STRIPE_TIMEOUT_SECONDS",
        "STRIPE_ACCOUNTS",
        "STRIPE_REQUESTS_PER_SECOND",
    ):
        monkeypatch.delenv(name, raising=False)
    assert settings.stripe_api_base() == "https://api.stripe.com"
    assert settings.warehouse_url() == "sqlite:///stripe_warehouse.db"
    configured = settings.warehouse_schema()
    assert dialect_of("postgresql").schema(configured) == "stripe" and dialect_of("sqlite").schema(configured) is None
    assert settings.events_poll_seconds() == 60 and settings.timeout_seconds() == 30.0
    assert settings.stripe_accounts() is None and settings.requests_per_second() is None


def test_arguments_win_over_the_environment(monkeypatch):
    monkeypatch.setenv("STRIPE_API_BASE", "http://from-env/")
    assert settings.stripe_api_base() == "http://from-env"
    assert settings.stripe_api_base("http://argument") == "http://argument"


def test_a_missing_key_says_what_to_set(monkeypatch):
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="STRIPE_API_KEY is not set. Set it"):
        settings.stripe_api_key()


@pytest.mark.parametrize(
    ("name", "value", "read", "message"),
    [
        ("STRIPE_EVENTS_POLL_SECONDS", "soon", settings.events_poll_seconds, "whole number of seconds, not 'soon'"),
        ("STRIPE_EVENTS_POLL_SECONDS", "0", settings.events_poll_seconds, "at least 1"),
        ("STRIPE_TIMEOUT_SECONDS", "-5", settings.timeout_seconds, "greater than 0"),
        ("STRIPE_REQUESTS_PER_SECOND", "fast", settings.requests_per_second, "number of requests per second"),
        ("STRIPE_ACCOUNTS", "acct_1A, cus_2", settings.stripe_accounts, r"\['cus_2'\]"),
    ],
)
def test_unusable_values_fail_naming_the_variable(monkeypatch, name, value, read, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=f"{name}.*{message}"):
        read()


def test_accounts_are_a_comma_list_or_all(monkeypatch):
    monkeypatch.setenv("STRIPE_ACCOUNTS", " acct_1A , acct_1B ")
    assert settings.stripe_accounts() == ["acct_1A", "acct_1B"]
    monkeypatch.setenv("STRIPE_ACCOUNTS", "ALL")
    assert settings.stripe_accounts() == "all"


def test_a_warehouse_url_in_logs_masks_its_password_and_secret_query_parameters():
    from stripe_pipeline.warehouse import safe_url

    url = "snowflake://me:hunter2@account/db/stripe?warehouse=w&token=t0k3n&private_key_file_pwd=p4ss&role=r"
    shown = safe_url(url)
    assert shown == "snowflake://me:***@account/db/stripe?private_key_file_pwd=***&role=r&token=***&warehouse=w"
    assert safe_url("postgresql://u@h/analytics?sslmode=require") == "postgresql://u@h/analytics?sslmode=require"


def test_a_warehouse_made_from_given_settings_reads_the_environment_no_more(tmp_path, monkeypatch):
    """A Dagster resource's settings are validated once; the engines of the warehouse and of its
    state database take them as given, and do not trip over the environment again."""
    from stripe_pipeline.warehouse import Warehouse

    config = settings.load(warehouse_url=f"sqlite:///{tmp_path / 'w.db'}", state_url=f"sqlite:///{tmp_path / 's.db'}")
    monkeypatch.setenv("STRIPE_EVENTS_POLL_SECONDS", "not a number")
    warehouse = Warehouse(config=config)
    try:
        assert warehouse.state_apart and warehouse.schema is None
    finally:
        warehouse.close()
