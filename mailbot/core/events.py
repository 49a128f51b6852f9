"""Events for the vendor's other systems: their names, how a delivery is signed, and how long
to wait before the next try. Pure: values in, values out (the queue is `store/events.py`, the
delivery `services/webhooks.py`; docs/contract.md, "Webhooks").

A delivery is signed like Stripe's: the header `Mailbot-Signature: t=<unix time>,v1=<hex>` where
the hex is HMAC-SHA256, keyed with the shared secret, over `<unix time>.<body>`. The time is in
the signed text, so a captured delivery cannot be replayed later than the receiver's tolerance.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

LICENSE_ISSUED = "license.issued"
LICENSE_RESENT = "license.resent"
LICENSE_TRANSFERRED = "license.transferred"
LICENSE_REVOKED = "license.revoked"
LICENSE_RENEWED = "license.renewed"
ESCALATION_CREATED = "escalation.created"
ESCALATION_RESOLVED = "escalation.resolved"
ORDER_FLAGGED = "order.flagged"

# Every type mailbot emits, in the order the README documents them; `[webhooks] events`
# names a subset of these.
EVENT_TYPES: tuple[str, ...] = (
    LICENSE_ISSUED,
    LICENSE_RESENT,
    LICENSE_TRANSFERRED,
    LICENSE_REVOKED,
    LICENSE_RENEWED,
    ESCALATION_CREATED,
    ESCALATION_RESOLVED,
    ORDER_FLAGGED,
)

# The states of a queued event.
PENDING = "pending"  # waiting for its (next) delivery
DELIVERED = "delivered"  # the receiver answered 2xx
FAILED = "failed"  # given up after max_attempts; `mailbot webhooks resend` queues it again
EVENT_STATES: tuple[str, ...] = (PENDING, DELIVERED, FAILED)

SIGNATURE_HEADER = "Mailbot-Signature"
EVENT_ID_HEADER = "Mailbot-Event-Id"  # the same for every try of one event: receivers dedupe
EVENT_TYPE_HEADER = "Mailbot-Event-Type"

FIRST_RETRY = timedelta(minutes=1)
LONGEST_WAIT = timedelta(hours=1)


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of `<timestamp>.<body>` under `secret`."""
    signed = str(int(timestamp)).encode("ascii") + b"." + body
    return hmac.new(secret, signed, hashlib.sha256).hexdigest()


def signature_header(secret: bytes, timestamp: int, body: bytes) -> str:
    """The value of the Mailbot-Signature header for this body sent at `timestamp`."""
    return f"t={int(timestamp)},v1={signature(secret, timestamp, body)}"


def signature_valid(
    secret: bytes, header: str, body: bytes, now: int, tolerance_seconds: int = 300
) -> bool:
    """Whether `header` signs `body` with `secret`, made within the tolerance of `now`
    (either side: clocks differ). Compared in constant time. For our tests and for receivers
    written in Python; the README shows the same in a standard-library snippet."""
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        fields.setdefault(key, []).append(value)
    stamps = fields.get("t", [])
    if len(stamps) != 1 or not stamps[0].isdigit():
        return False
    timestamp = int(stamps[0])
    if abs(now - timestamp) > tolerance_seconds:
        return False
    expected = signature(secret, timestamp, body)
    return any(hmac.compare_digest(expected, given) for given in fields.get("v1", []))


def retry_after(attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th failed try: 1, 2, 4, ... minutes, at most an
    hour (as the outbox waits), so a receiver that is down for a day costs ~30 tries."""
    if attempts <= 1:
        return FIRST_RETRY
    doubled = FIRST_RETRY * (1 << min(attempts - 1, 16))
    return min(doubled, LONGEST_WAIT)
