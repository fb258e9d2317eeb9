"""The columns every Stripe table shares, and how Python types map to SQL types.

Models declare Stripe's top-level fields with plain annotations; the type map below turns
them into portable SQL types, with a variant where a database needs its own: JSONB on
PostgreSQL (rows can be compared for changes), timestamps written in UTC where the database
keeps no zone. What else a dialect needs of a table (keys of bounded length, a collation) its
module says (warehouse/dialects/).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, BigInteger, Column, DateTime, Dialect, Double, Table, Text, TypeDecorator
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

JSONType = JSON().with_variant(JSONB(), "postgresql")
# The databases whose timestamps keep no time zone (SQLAlchemy's backend names): theirs are
# written in UTC by UTCDateTime. The one place the models name a dialect: SQLAlchemy's variants
# are fixed when a model is declared, before any dialect module could register one.
ZONELESS_TIMESTAMPS = ("sqlite", "mysql", "mariadb")


class ZonelessDateTime(DateTime):
    """How UTCDateTime stores a timestamp: DATETIME, at the precision the dialect gives it (MySQL:
    microseconds, warehouse/dialects/mysql.py)."""


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp column of a database that keeps no time zone (SQLite, MySQL):
    written in UTC, read back as UTC. The drivers would write an aware time's wall clock as it
    is, whatever its zone."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        return dialect.type_descriptor(ZonelessDateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


TimestampType = DateTime(timezone=True).with_variant(UTCDateTime(), *ZONELESS_TIMESTAMPS)


class KeyText(Text):
    """Keys and indexed text: TEXT, which a dialect whose indexes need a bounded length compiles
    its own way (MySQL: dialects/mysql.py)."""


KeyType = KeyText()
# Table options of every model; a dialect sets its own when it creates a table (MySQL: its charset).
TABLE_OPTIONS: dict[str, Any] = {}


class Base(DeclarativeBase):
    __table__: ClassVar[Table]  # a Table, not just any FromClause: every model here maps one
    type_annotation_map = {
        dict: JSONType,
        list: JSONType,
        datetime: TimestampType,
        int: BigInteger,  # Stripe amounts in minor units overflow INTEGER for some currencies
        float: Double,
        str: Text,  # also expandable references: the referenced object's ID
    }


# The `_account` of the platform's own rows. A row's key is (id, _account), and a key column
# cannot be NULL on PostgreSQL; the platform's own account ID (GET /v1/account) would change
# with what a restricted key may read, an empty string never does. Up to 0.6 it was NULL.
PLATFORM_ACCOUNT = ""


def account_key(stripe_account: str | None) -> str:
    """The `_account` of a Connect account's rows (its `acct_…` ID), or of the platform's ('')."""
    return stripe_account or PLATFORM_ACCOUNT


class StripeModel(Base):
    """One row per Stripe object and account. The underscore columns are ours, not Stripe's."""

    __abstract__ = True

    id: Mapped[str] = mapped_column(KeyType, primary_key=True)
    _raw: Mapped[dict] = mapped_column("_raw", nullable=False)
    _synced_at: Mapped[datetime] = mapped_column("_synced_at", nullable=False)
    _deleted_at: Mapped[datetime | None] = mapped_column("_deleted_at")
    _account: Mapped[str] = mapped_column("_account", KeyType, primary_key=True, server_default=PLATFORM_ACCOUNT)
    _observed_at: Mapped[datetime | None] = mapped_column("_observed_at")


META_COLUMNS = ("id", "_raw", "_synced_at", "_deleted_at", "_account", "_observed_at")


def meta_columns() -> list[Column]:
    """StripeModel's columns as Core columns, for tables built without the declarative scan
    (models/catalogued.py: it costs a tenth of the time for 99 tables)."""
    return [
        Column("id", KeyType, primary_key=True),
        Column("_raw", JSONType, nullable=False),
        Column("_synced_at", TimestampType, nullable=False),
        Column("_deleted_at", TimestampType),
        # The Connect account ('' for the platform): with `id`, the row's key. Two accounts may
        # hold an object of the same ID (a coupon `SUMMER25`); they are two rows.
        Column("_account", KeyType, primary_key=True, server_default=PLATFORM_ACCOUNT),
        # When the row's data was observed at Stripe: a write never replaces a newer observation.
        Column("_observed_at", TimestampType),
    ]
