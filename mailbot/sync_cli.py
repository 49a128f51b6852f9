"""Commands for order sync from Stripe and its webhook (attached to `cli` on import)."""
