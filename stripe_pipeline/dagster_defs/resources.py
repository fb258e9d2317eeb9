"""Dagster resources that hand the core its Stripe client and its warehouse.

Each resource composes the core's settings (settings.py): its fields, where set, over the
environment's variables, validated together when a run asks for a client or a warehouse.
"""

from __future__ import annotations

from typing import Optional

import dagster as dg
from pydantic import Field, PrivateAttr

from ..settings import Settings, load, parse_accounts
from ..stripe_api import BackoffPolicy, StripeApiClient
from ..stripe_api.budget import SlotStore
from ..warehouse import Warehouse


class StripeResource(dg.ConfigurableResource):
    """Stripe API access. Bind `api_key` with `dg.EnvVar("STRIPE_API_KEY")` so the key stays
    out of run config, logs and the UI."""

    api_key: Optional[str] = Field(
        default=None, description="Secret or restricted key; bind it with dg.EnvVar. Unbound: STRIPE_API_KEY, read when a run starts."
    )
    api_base: Optional[str] = Field(default=None, description="Defaults to STRIPE_API_BASE, then https://api.stripe.com.")
    stripe_account: Optional[str] = Field(default=None, description="A Connect account to read through the platform key.")
    max_retries: int = Field(default=8, description="Retries per request on 429, 409, 5xx and network errors.")
    requests_per_second: Optional[float] = Field(
        default=None,
        description="The request budget shared by every run; defaults to STRIPE_REQUESTS_PER_SECOND, "
        "then Stripe's limit for the key's mode (100 live, 25 test).",
    )
    timeout_seconds: Optional[float] = Field(
        default=None, description="Read timeout per request; defaults to STRIPE_TIMEOUT_SECONDS, then 30 (connect: 10)."
    )
    endpoint_requests_per_second: Optional[float] = Field(
        default=None, description="A cap per endpoint; defaults to STRIPE_ENDPOINT_REQUESTS_PER_SECOND, then none."
    )
    accounts: Optional[str] = Field(
        default=None,
        description="Connect accounts to sync besides the platform: acct_… IDs, comma-separated, or `all`; "
        "defaults to STRIPE_ACCOUNTS, then none.",
    )

    def settings(self) -> Settings:
        return load(
            stripe_api_key=self.api_key,
            stripe_api_base=self.api_base,
            stripe_timeout_seconds=self.timeout_seconds,
            stripe_requests_per_second=self.requests_per_second,
            stripe_endpoint_requests_per_second=self.endpoint_requests_per_second,
            stripe_accounts=self.accounts,
        )

    def connected_accounts(self) -> list[str] | str | None:
        """The Connect accounts to sync besides the platform: IDs, `all`, or None."""
        return parse_accounts(self.settings().stripe_accounts)

    def client(self, logger=None, slot_store: Optional[SlotStore] = None, stripe_account: Optional[str] = None) -> StripeApiClient:
        """A client whose requests spend the budget kept in `slot_store` (the warehouse's, so
        that every process shares it); `stripe_account` reads a connected account instead."""
        return StripeApiClient(
            config=self.settings(),
            stripe_account=stripe_account or self.stripe_account,
            backoff=BackoffPolicy(max_retries=self.max_retries),
            logger=logger,
            slot_store=slot_store,
        )


class WarehouseResource(dg.ConfigurableResource):
    """The SQL warehouse the tables live in."""

    url: Optional[str] = Field(default=None, description="SQLAlchemy URL; defaults to WAREHOUSE_URL, then a local SQLite file.")
    schema_name: Optional[str] = Field(default=None, description="Defaults to WAREHOUSE_SCHEMA, then `stripe` on PostgreSQL.")
    state_url: Optional[str] = Field(
        default=None,
        description="SQLAlchemy URL of the database the sync keeps its own state in (sync state, locks, the request "
        "budget, staged events); defaults to STATE_URL, then the warehouse's own database.",
    )

    # Snowflake's key pair or token: give them as dg.EnvVar("…"), which Dagster never shows.
    snowflake_private_key: Optional[str] = Field(default=None, description="PEM text; defaults to SNOWFLAKE_PRIVATE_KEY.")
    snowflake_private_key_file: Optional[str] = Field(default=None, description="Defaults to SNOWFLAKE_PRIVATE_KEY_FILE.")
    snowflake_private_key_passphrase: Optional[str] = Field(default=None, description="Defaults to SNOWFLAKE_PRIVATE_KEY_PASSPHRASE.")
    snowflake_token: Optional[str] = Field(default=None, description="OAuth or programmatic access token; defaults to SNOWFLAKE_TOKEN.")

    _opened: list[Warehouse] = PrivateAttr(default_factory=list)

    def settings(self) -> Settings:
        return load(
            warehouse_url=self.url,
            warehouse_schema=self.schema_name,
            state_url=self.state_url,
            snowflake_private_key=self.snowflake_private_key,
            snowflake_private_key_file=self.snowflake_private_key_file,
            snowflake_private_key_passphrase=self.snowflake_private_key_passphrase,
            snowflake_token=self.snowflake_token,
        )

    def warehouse(self) -> Warehouse:
        warehouse = Warehouse(config=self.settings())
        self._opened.append(warehouse)
        return warehouse

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        # A Celery worker (and the in-process executor) runs step after step in one process: each
        # step's connections must close when the step ends, or a worker's idle connections pile
        # up until the server refuses more.
        for warehouse in self._opened:
            warehouse.close()
        self._opened.clear()
