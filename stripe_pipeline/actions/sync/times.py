"""Unix times (Stripe's) and UTC datetimes (the warehouse's)."""

from __future__ import annotations

from datetime import UTC, datetime


def utc(unix_time: int) -> datetime:
    return datetime.fromtimestamp(unix_time, UTC)


def unix(moment: datetime) -> int:
    # SQLite hands timestamps back without a zone; they were written in UTC.
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())
