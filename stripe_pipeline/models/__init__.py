"""SQLAlchemy models, one per warehouse table, built from the catalogue (see catalogued.py).

Each is importable by name: `from stripe_pipeline.models import StripeCustomer`,
`StripeBalanceTransaction`, `StripeInvoiceLineItem`, ….
"""

from typing import TYPE_CHECKING

from .base import META_COLUMNS, PLATFORM_ACCOUNT, Base, StripeModel, account_key
from .catalogued import MODELS, attribute_name
from .sync_state import RequestSlot, SyncError, SyncState

globals().update({model.__name__: model for model in MODELS.values()})

if TYPE_CHECKING:
    # For type checkers: the models above are made at import, one per catalogued table.
    def __getattr__(name: str) -> type[StripeModel]: ...


__all__ = [
    "META_COLUMNS",
    "MODELS",
    "PLATFORM_ACCOUNT",
    "Base",
    "RequestSlot",
    "StripeModel",
    "SyncError",
    "SyncState",
    "account_key",
    "attribute_name",
    *sorted(m.__name__ for m in MODELS.values()),
]
