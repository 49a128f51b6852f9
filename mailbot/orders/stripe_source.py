"""Old home of the Stripe order source; it lives in `mailbot.adapters.orders.stripe` now."""

# Temporary: removed when the package is rewired (issue 9).
from ..adapters.orders.stripe import (
    EVENT_TYPES,
    PAGE_SIZE,
    ChargeState,
    StripeOrders,
    StripeUnavailable,
    WebhookRejected,
    charge_state,
    licensed_items,
    metadata_seats,
    payment_intent_order,
    session_order,
)

__all__ = [
    "EVENT_TYPES",
    "PAGE_SIZE",
    "ChargeState",
    "StripeOrders",
    "StripeUnavailable",
    "WebhookRejected",
    "charge_state",
    "licensed_items",
    "metadata_seats",
    "payment_intent_order",
    "session_order",
]
