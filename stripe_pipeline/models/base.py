"""The columns every Stripe table shares, and how Python types map to SQL types.

Models declare Stripe's top-level fields with plain annotations; the type map below turns
them into portable SQL types, with a variant where a database needs its own: JSONB on
PostgreSQL (rows can be compared for changes), and on MySQL and MariaDB keys of bounded length,
DATETIME(6) in UTC and case-sensitive text.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, BigInteger, Column, DateTime, Dialect, Double, String, Table, Text, TypeDecorator
from sqlalchemy.dialects.mysql import DATETIME
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

JSONType = JSON().with_variant(JSONB(), "postgresql")
_MYSQL = ("mysql", "mariadb")


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp column of a database that keeps no time zone (SQLite; MySQL's DATETIME(6)):
    written in UTC, read back as UTC. The drivers would write an aware time's wall clock as it
    is, whatever its zone."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        return dialect.type_descriptor(DATETIME(fsp=6) if dialect.name in _MYSQL else DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


TimestampType = DateTime(timezone=True).with_variant(UTCDateTime(), "sqlite", *_MYSQL)
# Keys and indexed text. MySQL indexes no TEXT without a length; 255 characters of utf8mb4 are
# 1,020 bytes, so even the three-column key of _stripe_sync_errors fits InnoDB's 3,072.
KeyType = Text().with_variant(String(255), *_MYSQL)
# MySQL's and MariaDB's default collations ignore case: `cus_a` would collide with `cus_A`,
# and a change of case alone would count as no change.
TABLE_OPTIONS: dict[str, Any] = {
    f"{name}_{option}": value for name in _MYSQL for option, value in (("charset", "utf8mb4"), ("collate", "utf8mb4_bin"))
}


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
