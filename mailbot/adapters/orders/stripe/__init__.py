"""Orders from Stripe: `StripeOrders` (the facade) and the exceptions it raises.

The package is split by what changes for which reason: `mapping` (pure: Stripe JSON to
`Order`), `http` (the one seam to the network: retries, error mapping, webhook signatures),
`fetch` (which objects one order needs), `lookup` (live lookups for one mail) and `source`
(the facade: lists, events, webhooks). Importing it does nothing but define them.
"""

from mailbot.adapters.orders.stripe.http import StripeUnavailable, WebhookRejected
from mailbot.adapters.orders.stripe.mapping import (
    EVENT_TYPES,
    PAGE_SIZE,
    ChargeState,
    charge_state,
    licensed_items,
    metadata_seats,
    payment_intent_order,
    session_order,
)
from mailbot.adapters.orders.stripe.source import StripeOrders

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
