"""Fixtures of the engine's unit tests (engine.py): a fake Stripe account and an in-memory warehouse."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stripe_pipeline.warehouse import Warehouse

from .fake_stripe import FakeStripe


@pytest.fixture
def stripe_account() -> FakeStripe:
    return FakeStripe()


@pytest.fixture
def warehouse() -> Iterator[Warehouse]:
    warehouse = Warehouse("sqlite://")
    yield warehouse
    warehouse.close()
