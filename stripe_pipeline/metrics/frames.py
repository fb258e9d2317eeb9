"""The synced tables the metrics read, as pandas frames of the few fields they need.

Rows whose object Stripe deleted (`_deleted_at`) are left out. JSON columns (an invoice line's
`period`, `parent`, `pricing`) are flattened here, once, so the metrics see plain columns.
Reads stream in chunks (`CHUNK_ROWS`), so a million lines never sit in memory as JSON.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import Table, func, inspect, select, text

from ..models import MODELS
from ..warehouse import Warehouse

CHUNK_ROWS = 50_000
# Invoices whose lines are revenue that recurs: paid, awaiting payment (past_due counts until
# the subscription is canceled), or written off after the period was served.
BILLED_INVOICE_STATUSES = ("paid", "open", "uncollectible")


def _table(name: str) -> Table:
    return MODELS[name].__table__


def _read(
    warehouse: Warehouse, table: Table, columns: list[Any], *where: Any, join: Table | None = None, on: Any = None
) -> Iterator[Sequence[Any]]:
    """Rows of the given columns (names, or expressions such as a JSON path) of live objects,
    of `table` or of it joined to `join` (`on`)."""
    warehouse.ensure_tables([table] if join is None else [table, join])  # a table never synced reads as empty
    selected = [table.c[column] if isinstance(column, str) else column for column in columns]
    query = select(*selected).where(table.c["_deleted_at"].is_(None), *where)
    if join is not None:
        query = query.select_from(table.join(join, on)).where(join.c["_deleted_at"].is_(None))
    with warehouse.engine.connect() as connection:
        result = connection.execution_options(yield_per=CHUNK_ROWS).execute(query)
        for partition in result.partitions():
            yield [tuple(row) for row in partition]


def _frame(warehouse: Warehouse, name: str, columns: list[Any], *where: Any, names: list[str] | None = None, **join: Any) -> pd.DataFrame:
    rows = [row for chunk in _read(warehouse, _table(name), columns, *where, **join) for row in chunk]
    return pd.DataFrame.from_records(rows, columns=names or columns)


def _epoch_seconds(values: pd.Series) -> pd.Series:
    """Epoch seconds (float, NaN for none) of timestamps; one without a zone (SQLite keeps
    none) is UTC, as it was written."""
    moments = pd.to_datetime(values, utc=True)
    return (moments - pd.Timestamp(0, tz="UTC")).dt.total_seconds()


def invoices(warehouse: Warehouse) -> pd.DataFrame:
    """id, customer, currency, status, total (minor units), finalized (epoch seconds)."""
    table = _table("invoices")
    finalized_at = table.c.status_transitions["finalized_at"].as_integer()
    names = ["id", "customer", "currency", "status", "total", "created", "finalized_at"]
    frame = _frame(warehouse, "invoices", [*names[:-1], finalized_at], names=names)
    frame["finalized"] = frame.pop("finalized_at").astype(float).fillna(_epoch_seconds(frame.pop("created")))
    return frame


def subscriptions(warehouse: Warehouse) -> pd.DataFrame:
    """id, customer, status, ended (epoch seconds, NaN while it runs)."""
    frame = _frame(warehouse, "subscriptions", ["id", "customer", "status", "ended_at"])
    frame["ended"] = _epoch_seconds(frame.pop("ended_at"))
    return frame


def prices(warehouse: Warehouse) -> pd.DataFrame:
    """id, currency, interval, interval_count, usage_type, and the fields that price a
    quantity (billing_scheme, unit_amount_decimal, tiers, tiers_mode, transform_quantity)."""
    columns = [
        "id",
        "currency",
        "recurring",
        "billing_scheme",
        "unit_amount",
        "unit_amount_decimal",
        "tiers",
        "tiers_mode",
        "transform_quantity",
    ]
    frame = _frame(warehouse, "prices", columns)
    recurring = [r or {} for r in frame.pop("recurring")]
    frame["interval"] = [r.get("interval") for r in recurring]
    frame["interval_count"] = [r.get("interval_count") or 1 for r in recurring]
    frame["usage_type"] = [r.get("usage_type") or "licensed" for r in recurring]
    return frame


def subscription_lines(warehouse: Warehouse) -> pd.DataFrame:
    """Every invoice line of a subscription, on an invoice that bills (BILLED_INVOICE_STATUSES):
    line, invoice, subscription, customer (the invoice's), item (the subscription item, or the line for a one-off),
    price, currency, quantity, gross (the line's amount), amount (after discounts, without
    inclusive tax), start and end (epoch seconds) and proration.

    The JSON fields are read with JSON paths in SQL, so only the values travel; the lists of
    discounts and taxes are summed here (most are empty)."""
    lines, invoices = _table("invoice_line_items"), _table("invoices")
    columns = [
        "id",
        "invoice",
        "subscription",
        invoices.c.customer,
        func.coalesce(lines.c.parent[("subscription_item_details", "subscription_item")].as_string(), lines.c.id),
        lines.c.pricing[("price_details", "price")].as_string(),
        "currency",
        "quantity",
        "amount",
        "discount_amounts",
        "taxes",
        lines.c.period["start"].as_integer(),
        lines.c.period["end"].as_integer(),
        func.coalesce(
            lines.c.parent[("subscription_item_details", "proration")].as_boolean(),
            lines.c.parent[("invoice_item_details", "proration")].as_boolean(),
            False,
        ),
    ]
    names = [
        "line",
        "invoice",
        "subscription",
        "customer",
        "item",
        "price",
        "currency",
        "quantity",
        "gross",
        "discounts",
        "taxes",
        "start",
        "end",
        "proration",
    ]
    billed = (lines.c.subscription.is_not(None), invoices.c.status.in_(BILLED_INVOICE_STATUSES))
    frame = _frame(warehouse, "invoice_line_items", columns, *billed, names=names, join=invoices, on=lines.c.invoice == invoices.c.id)
    discounts = [sum(d.get("amount") or 0 for d in found) if found else 0 for found in frame.pop("discounts")]
    taxes = [
        sum(t.get("amount") or 0 for t in found if t.get("tax_behavior") == "inclusive") if found else 0 for found in frame.pop("taxes")
    ]
    frame["quantity"] = frame["quantity"].fillna(0).astype("int64")
    frame["gross"] = frame["gross"].fillna(0).astype("int64")
    frame["amount"] = frame["gross"] - pd.Series(discounts, dtype="int64") - pd.Series(taxes, dtype="int64")
    frame["proration"] = frame["proration"].astype(bool)
    return frame


def as_of(warehouse: Warehouse) -> datetime:
    """The newest moment the synced data speaks for: Stripe's clock when subscriptions and
    invoices were last observed, so the metrics end where the data does, not at our clock."""
    latest = []
    for name in ("subscriptions", "invoices"):
        table = _table(name)
        warehouse.ensure_tables([table])
        with warehouse.engine.connect() as connection:
            latest.append(connection.scalar(select(func.max(table.c._observed_at))))
    found = [moment if moment.tzinfo else moment.replace(tzinfo=UTC) for moment in latest if moment is not None]
    return max(found) if found else datetime.now(UTC)


def amounts(warehouse: Warehouse, name: str, columns: list[str], statuses: tuple[str, ...] | None = None) -> pd.DataFrame:
    """currency, created (epoch seconds) and the given amount columns of a table's rows (those
    with one of `statuses`, if given)."""
    table = _table(name)
    where = [table.c.status.in_(statuses)] if statuses else []
    frame = _frame(warehouse, name, ["currency", "created", *columns], *where)
    frame["created"] = _epoch_seconds(frame["created"])
    return frame


def fx_rates(warehouse: Warehouse) -> pd.DataFrame | None:
    """The user's optional `fx_rates` table (date, currency, rate), beside the synced tables;
    None when there is none."""
    with warehouse.engine.connect() as connection:
        if not inspect(connection).has_table("fx_rates", schema=warehouse.schema):
            return None
        name = f'"{warehouse.schema}".fx_rates' if warehouse.schema else "fx_rates"
        frame = pd.DataFrame(
            connection.execute(text(f"SELECT date, currency, rate FROM {name}")).fetchall(), columns=["date", "currency", "rate"]
        )
    frame["date"] = pd.to_datetime(frame["date"]).dt.date
    frame["currency"] = frame["currency"].str.lower()
    return frame
