"""The synced tables the metrics read, as pandas frames of the few fields they need.

Rows whose object Stripe deleted (`_deleted_at`) are left out. JSON fields (an invoice line's
`period`, `parent`, `pricing`) are read by JSON path in SQL, so the metrics see plain columns.
The big inputs come in chunks of `CHUNK_ROWS` that the metrics reduce as they arrive (invoice
lines in chunks of whole customers), so memory does not grow with the invoices: at 1.47
million lines, holding them as one frame peaked at 2.8 GB.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import Table, and_, func, inspect, select, text

from ..models import MODELS
from ..warehouse import Warehouse

CHUNK_ROWS = 50_000
# Invoices whose lines are revenue that recurs: paid, awaiting payment (past_due counts until
# the subscription is canceled), or written off after the period was served.
BILLED_INVOICE_STATUSES = ("paid", "open", "uncollectible")


def _table(name: str) -> Table:
    return MODELS[name].__table__


@dataclass(frozen=True)
class Join:
    """Another table joined in: inner (its live rows only), or outer (its columns NULL where it
    has no live row)."""

    table: Table
    on: Any
    outer: bool = False


def _read(
    warehouse: Warehouse, table: Table, columns: list[Any], *where: Any, joins: Sequence[Join] = (), order_by: Any = None
) -> Iterator[list[tuple]]:
    """Chunks of rows of the given columns (names, or expressions such as a JSON path) of live
    objects of `table`, joined to `joins`."""
    warehouse.ensure_tables([table, *(join.table for join in joins)])  # a table never synced reads as empty
    selected = [table.c[column] if isinstance(column, str) else column for column in columns]
    source: Any = table
    live = [table.c["_deleted_at"].is_(None)]
    for join in joins:
        if join.outer:
            source = source.outerjoin(join.table, and_(join.on, join.table.c["_deleted_at"].is_(None)))
        else:
            source = source.join(join.table, join.on)
            live.append(join.table.c["_deleted_at"].is_(None))
    query = select(*selected).select_from(source).where(*live, *where)
    if order_by is not None:
        query = query.order_by(order_by)
    with warehouse.engine.connect() as connection:
        result = connection.execution_options(yield_per=CHUNK_ROWS).execute(query)
        for partition in result.partitions():
            yield [tuple(row) for row in partition]


def _chunks(
    warehouse: Warehouse, name: str, columns: list[Any], *where: Any, names: list[str] | None = None, **options: Any
) -> Iterator[pd.DataFrame]:
    for rows in _read(warehouse, _table(name), columns, *where, **options):
        yield pd.DataFrame.from_records(rows, columns=names or columns)


def _frame(warehouse: Warehouse, name: str, columns: list[Any], *where: Any, names: list[str] | None = None) -> pd.DataFrame:
    parts = list(_chunks(warehouse, name, columns, *where, names=names))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=names or columns)


def _json(warehouse: Warehouse) -> Callable[..., Any]:
    """The warehouse's way to read a value at a path in a JSON column (Dialect.json_value)."""
    return warehouse.database.dialect.json_value


def _epoch_seconds(values: pd.Series) -> pd.Series:
    """Epoch seconds (float, NaN for none) of timestamps; one without a zone (SQLite keeps
    none) is UTC, as it was written."""
    moments = pd.to_datetime(values, utc=True)
    return (moments - pd.Timestamp(0, tz="UTC")).dt.total_seconds()


def invoice_chunks(warehouse: Warehouse) -> Iterator[pd.DataFrame]:
    """Invoices that bill (BILLED_INVOICE_STATUSES): currency, total (minor units) and finalized
    (epoch seconds; their creation for one finalized before Stripe recorded when)."""
    table = _table("invoices")
    finalized_at = _json(warehouse)(table.c.status_transitions, "finalized_at", kind="integer")
    names = ["currency", "total", "created", "finalized_at"]
    billed = table.c.status.in_(BILLED_INVOICE_STATUSES)
    for frame in _chunks(warehouse, "invoices", [*names[:-1], finalized_at], billed, names=names):
        frame["finalized"] = frame.pop("finalized_at").astype(float).fillna(_epoch_seconds(frame.pop("created")))
        yield frame


def prices(warehouse: Warehouse) -> pd.DataFrame:
    """account and id (a legacy plan's ID is chosen, and may repeat across Connect accounts),
    currency, interval, interval_count, usage_type, and the fields that price a quantity
    (billing_scheme, unit_amount_decimal, tiers, tiers_mode, transform_quantity)."""
    columns = [
        "_account",
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
    frame = _frame(warehouse, "prices", columns).rename(columns={"_account": "account"})
    recurring = [r or {} for r in frame.pop("recurring")]
    frame["interval"] = [r.get("interval") for r in recurring]
    frame["interval_count"] = [r.get("interval_count") or 1 for r in recurring]
    frame["usage_type"] = [r.get("usage_type") or "licensed" for r in recurring]
    return frame


def subscription_line_chunks(warehouse: Warehouse) -> Iterator[pd.DataFrame]:
    """Every invoice line of a subscription, on an invoice that bills (BILLED_INVOICE_STATUSES),
    in chunks that each hold all the lines of their customers, so MRR can be built a chunk at a
    time in bounded memory: subscription, customer, item (the subscription item, or the line
    for a one-off), price, currency, quantity, gross (the line's amount), amount (after
    discounts, without inclusive tax), start and end (epoch seconds), proration, the
    subscription's status and ended (epoch seconds; NaN while it runs, or if it is not synced),
    and the Connect account ('' for the platform's own).

    The JSON fields are read with JSON paths in SQL, so only the values travel; the lists of
    discounts and taxes are summed here (most are empty)."""
    lines, invoices, subscriptions = _table("invoice_line_items"), _table("invoices"), _table("subscriptions")
    # A subscription's customer never changes; the invoice's stands in where it is not synced.
    customer = func.coalesce(subscriptions.c.customer, invoices.c.customer)
    # Lines rendered before API version 2025-03-31 (a webhook's or an event's, in the account's
    # version) keep the item, price, proration and taxes at the top level, under other names.
    raw, json = lines.c._raw, _json(warehouse)
    columns = [
        lines.c.subscription,
        customer,
        func.coalesce(json(lines.c.parent, "subscription_item_details", "subscription_item"), json(raw, "subscription_item"), lines.c.id),
        func.coalesce(json(lines.c.pricing, "price_details", "price"), json(raw, "price", "id")),
        lines.c.currency,
        lines.c.quantity,
        lines.c.amount,
        lines.c.discount_amounts,
        func.coalesce(lines.c.taxes, json(raw, "tax_amounts", kind="json")),
        json(lines.c.period, "start", kind="integer"),
        json(lines.c.period, "end", kind="integer"),
        func.coalesce(
            json(lines.c.parent, "subscription_item_details", "proration", kind="boolean"),
            json(lines.c.parent, "invoice_item_details", "proration", kind="boolean"),
            json(raw, "proration", kind="boolean"),
            False,
        ),
        subscriptions.c.status,
        subscriptions.c.ended_at,
        lines.c._account,
    ]
    names = ["subscription", "customer", "item", "price", "currency", "quantity", "gross", "discounts", "taxes"]
    names += ["start", "end", "proration", "status", "ended", "account"]
    # Rows of one Connect account join their own account's rows only.
    joins = (
        Join(invoices, and_(lines.c.invoice == invoices.c.id, lines.c._account == invoices.c._account)),
        Join(subscriptions, and_(lines.c.subscription == subscriptions.c.id, lines.c._account == subscriptions.c._account), outer=True),
    )
    billed = (lines.c.subscription.is_not(None), invoices.c.status.in_(BILLED_INVOICE_STATUSES))
    chunks = _chunks(warehouse, "invoice_line_items", columns, *billed, names=names, joins=joins, order_by=customer)
    return _whole_customers(_subscription_line(frame) for frame in chunks)


def _subscription_line(frame: pd.DataFrame) -> pd.DataFrame:
    discounts = [sum(d.get("amount") or 0 for d in found) if found else 0 for found in frame.pop("discounts")]
    taxes = [sum(t.get("amount") or 0 for t in found if _inclusive(t)) if found else 0 for found in frame.pop("taxes")]
    frame["customer"] = frame["customer"].fillna("")
    frame["quantity"] = frame["quantity"].fillna(0).astype("int64")
    frame["gross"] = frame["gross"].fillna(0).astype("int64")
    frame["amount"] = frame["gross"] - pd.Series(discounts, dtype="int64") - pd.Series(taxes, dtype="int64")
    frame["proration"] = frame["proration"].astype(bool)
    frame["ended"] = _epoch_seconds(frame["ended"])
    return frame


def _inclusive(tax: dict) -> bool:
    """A tax already in the line's amount: `taxes[].tax_behavior`, or before 2025-03-31
    `tax_amounts[].inclusive`."""
    return tax.get("tax_behavior") == "inclusive" or tax.get("inclusive") is True


def _whole_customers(chunks: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """Chunks ordered by customer, re-cut so that no customer spans two: the last customer of
    each waits for the next chunk."""
    waiting: pd.DataFrame | None = None
    for chunk in chunks:
        if waiting is not None:
            chunk = pd.concat([waiting, chunk], ignore_index=True)
        last = chunk["customer"].to_numpy() == chunk["customer"].iat[-1]
        waiting = chunk[last]
        if not last.all():
            yield chunk[~last].reset_index(drop=True)
    if waiting is not None:
        yield waiting.reset_index(drop=True)


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


def amount_chunks(warehouse: Warehouse, name: str, columns: list[str], statuses: tuple[str, ...] | None = None) -> Iterator[pd.DataFrame]:
    """currency, created (epoch seconds) and the given amount columns of a table's rows (those
    with one of `statuses`, if given)."""
    table = _table(name)
    where = [table.c.status.in_(statuses)] if statuses else []
    for frame in _chunks(warehouse, name, ["currency", "created", *columns], *where):
        frame["created"] = _epoch_seconds(frame["created"])
        yield frame


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
