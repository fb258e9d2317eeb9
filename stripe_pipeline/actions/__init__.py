"""One action per Stripe object type: named classes for the types the seed documents (grouped
as in Stripe's API reference: a model and a Stripe class each), built from the catalogue for
the rest. What a type's sync needs to know (ID prefixes, list filters, events, secrets) is the
catalogue's, for both (catalog/declarations.py); `declare` gives it to the named ones.

`ALL_ACTIONS` is what the Dagster layer builds its assets from: every top-level type, each
with its child tables' actions in `child_actions`. Every action is importable from here by
name: `StripeCustomerAction`, `StripeRefundAction`, `StripeInvoiceLineItemAction`, ….
"""

from typing import TYPE_CHECKING

from ..catalog import TYPES
from .billing import StripeInvoiceAction, StripeSubscriptionAction
from .catalogued import ChildAction, attach_children, catalogued_actions, declare
from .core_resources import StripeChargeAction, StripeCustomerAction, StripePaymentIntentAction
from .mixins import StripeSyncActionMixin, SyncStats
from .products import StripeCouponAction, StripePriceAction, StripeProductAction

HAND_WRITTEN: list[type[StripeSyncActionMixin]] = [
    StripeCustomerAction,
    StripeProductAction,
    StripePriceAction,
    StripeCouponAction,
    StripeSubscriptionAction,
    StripeInvoiceAction,
    StripeChargeAction,
    StripePaymentIntentAction,
]
for _action in HAND_WRITTEN:
    declare(_action, TYPES[_action.stripe_object_class.OBJECT_NAME])

ALL_ACTIONS: list[type[StripeSyncActionMixin]] = HAND_WRITTEN + catalogued_actions(HAND_WRITTEN)
CHILD_ACTIONS: list[type[ChildAction]] = attach_children(ALL_ACTIONS)

globals().update({action.__name__: action for action in ALL_ACTIONS + CHILD_ACTIONS})

if TYPE_CHECKING:
    # For type checkers: the catalogued actions above are made at import, one per type.
    def __getattr__(name: str) -> type[StripeSyncActionMixin]: ...


__all__ = [
    "ALL_ACTIONS",
    "CHILD_ACTIONS",
    "HAND_WRITTEN",
    "StripeSyncActionMixin",
    "SyncStats",
    *sorted(action.__name__ for action in ALL_ACTIONS + CHILD_ACTIONS),
]
