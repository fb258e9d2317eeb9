"""The catalogue in a warehouse: the tables carry the package's documentation, and older tables
gain the new columns. (That the committed catalogue is what the package says:
unit/test_catalogue_drift.py.)"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from stripe_pipeline.models import MODELS


def test_column_comments_reach_postgresql(warehouse):
    if warehouse.dialect != "postgresql":
        pytest.skip("comments are a PostgreSQL feature here")
    warehouse.ensure_tables([MODELS["refunds"].__table__])
    with warehouse.engine.connect() as connection:
        comment = connection.scalar(
            sa.text(
                "SELECT col_description(to_regclass(:table), attnum) FROM pg_attribute WHERE attrelid = to_regclass(:table) AND attname = 'amount'"
            ),
            {"table": f"{warehouse.schema}.refunds"},
        )
    assert comment and "Amount, in cents" in comment


def test_a_table_of_an_older_version_gains_the_new_columns(warehouse):
    """Upgrading: the table that 0.2 made lacks the catalogue's new columns; they are added."""
    table = MODELS["customers"].__table__
    old = sa.Table(
        "customers",
        sa.MetaData(),
        *(
            sa.Column(c.name, c.type, primary_key=c.primary_key)
            for c in table.columns
            if c.name in ("id", "_raw", "_synced_at", "_deleted_at", "_account", "email")
        ),
    )
    with warehouse.engine.begin() as connection:
        if warehouse.schema:
            connection.execute(sa.schema.CreateSchema(warehouse.schema, if_not_exists=True))
        old.create(connection)
    warehouse.ensure_tables([table])
    with warehouse.engine.connect() as connection:  # what a query sees, on every database
        columns = set(connection.execute(sa.select(sa.text("*")).select_from(table).limit(0)).keys())
    assert columns == set(table.columns.keys())
