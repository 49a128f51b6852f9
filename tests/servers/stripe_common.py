"""What the Stripe-compatible test server's modules share: Stripe's example objects, the
error a handler raises, and the defaults tests and `scripts/bench` use.

A module of its own so that the server's parts (`stripe_server.py`, `stripe_billing.py`) can
import it without importing each other.
"""

from __future__ import annotations

import copy
import json
import random
import string
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

FIXTURES_PATH = (
    Path(__file__).resolve().parent.parent / "data" / "stripe_fixtures" / "fixtures3.json"
)
DEFAULT_PRICE = "price_amc_seat"
DEFAULT_PRODUCT = "prod_amc"
TEST_API_KEY = "sk_test_mailbot_0123456789"

_examples: dict[str, Any] | None = None
_examples_lock = threading.Lock()


def example(name: str) -> dict[str, Any]:
    """A fresh deep copy of Stripe's example object `name` (e.g. "checkout.session")."""
    global _examples
    with _examples_lock:
        if _examples is None:
            _examples = json.loads(FIXTURES_PATH.read_text(encoding="utf-8"))["resources"]
        return copy.deepcopy(_examples[name])


class StripeErrorResponse(Exception):
    """Raised inside a handler: becomes Stripe's error JSON with this status."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"type": type_, "message": message, "code": code, "param": param}}
        self.headers = dict(headers or {})


def rand(n: int) -> str:
    return "".join(random.choices(string.ascii_letters + string.digits, k=n))
