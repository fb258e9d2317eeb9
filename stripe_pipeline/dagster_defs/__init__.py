"""The thin Dagster layer, built from the actions by `factory.build_definitions`."""
