"""Keep every Stripe object in your own SQL warehouse.

The core (actions, models, warehouse, Stripe API access) works without Dagster;
`stripe_pipeline.definitions` is the Dagster code location built on top of it.
"""
