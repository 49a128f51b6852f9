"""mailbot: email-driven license fulfilment for per-user-per-device desktop software."""

__version__ = "0.1.0"
