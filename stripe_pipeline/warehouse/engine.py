"""Engines that behave the same on every supported warehouse: the dialect (dialects/) picks the
driver and sets the engine up; the models go in the configured schema."""

from __future__ import annotations

import re

import orjson
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import NoSuchModuleError

from .. import settings
from .dialects import DIALECTS


class WarehouseError(RuntimeError):
    """The warehouse cannot be used; the message names it (without its password) and why.
    `refused_row`: the database refused a value of a row (a type it does not fit), not the write."""

    def __init__(self, message: str, *, refused_row: bool = False):
        super().__init__(message)
        self.refused_row = refused_row


# Query parameters a driver may take a secret in (Snowflake's `token`, say): masked like the password.
SECRET_QUERY_WORDS = ("token", "password", "pwd", "secret", "passphrase", "private_key", "credentials")


def safe_url(url: str) -> str:
    """The URL as it may appear in logs and errors: the password, and any query parameter that
    may hold a secret, masked."""
    parsed = make_url(url)
    shown = parsed.render_as_string(hide_password=True)
    for name in parsed.query:
        if any(word in name.lower() for word in SECRET_QUERY_WORDS):
            shown = re.sub(rf"([?&]{re.escape(name)}=)[^&]*", r"\1***", shown)
    return shown


def _json_dumps(value) -> str:
    # orjson: JSON columns are most of a row's cost to write.
    return orjson.dumps(value).decode()


def create_warehouse_engine(url: str, schema: str | None = None, config: settings.Settings | None = None) -> Engine:
    """An engine for `url`, its models in `schema` (None: WAREHOUSE_SCHEMA as configured, else the
    dialect's default, `stripe` where it has schemas); the driver's secrets from `config` (None:
    the environment's)."""
    parsed = make_url(url)
    dialect = DIALECTS.get(parsed.get_backend_name())
    if dialect is None:
        names = " or ".join(DIALECTS)
        raise WarehouseError(f"Unsupported warehouse {safe_url(url)}: WAREHOUSE_URL must be a {names} URL (see the README).")
    if dialect.driver and "+" not in parsed.drivername:
        parsed = parsed.set(drivername=dialect.driver)
    config = config if config is not None else settings.load()
    schema = dialect.schema(schema if schema is not None else config.warehouse_schema)
    try:  # a dialect's connect_args may need its driver's package already (BigQuery's client)
        parsed, connect_args = dialect.connection_url(parsed)
        connect_args = {**connect_args, **dialect.credentials(config)}
        options = dialect.engine_options()
        if connect_args:
            options["connect_args"] = {**options.get("connect_args", {}), **connect_args}
        json = {"json_serializer": _json_dumps, "json_deserializer": orjson.loads} if dialect.json_codec else {}
        engine = create_engine(parsed, pool_pre_ping=True, **json, **options)
    except (ImportError, NoSuchModuleError) as error:
        install = f" (`pip install 'stripe_pipeline[{dialect.extra}]'` installs the one for {dialect.driver or dialect.name}://)"
        raise WarehouseError(
            f"The warehouse {safe_url(url)} needs a driver that is not installed: {error}{install if dialect.extra else ''}."
        ) from None
    dialect.configure(engine)
    # Models carry no schema; the engine puts them in the configured one.
    return engine.execution_options(schema_translate_map={None: schema}) if schema else engine
