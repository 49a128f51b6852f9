"""The typed rows the store hands out and takes in (besides the core's Order and License).

Everything the store returns is one of these frozen dataclasses (or a core value): callers
never see a database row, a column name or a JSON string. Timestamps are aware UTC datetimes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any


@dataclass(frozen=True)
class SerialItem:
    """One serial of a mail as the bot recorded it: what it read and what it decided."""

    serial: str  # normalized ("" when it could not be read)
    as_found: str
    status: str  # ok | mistyped | ...
    new: bool = False  # licensed by this mail (issue, transfer)
    action: str | None = None  # issue | resend | transfer | await_payment | clarify | escalate
    reason: str | None = None
    order_id: str | None = None
    old_serial: str | None = None  # a transfer's old serial
    license_no: int | None = None  # finance flags: the license concerned

    @classmethod
    def of(cls, data: Any) -> SerialItem:
        """From stored JSON; older paths stored bare serial strings."""
        if isinstance(data, str):
            return cls(serial=data, as_found=data, status="ok")
        return cls(
            serial=str(data.get("serial") or ""),
            as_found=str(data.get("as_found") or data.get("serial") or ""),
            status=str(data.get("status") or "ok"),
            new=bool(data.get("new")),
            action=data.get("action"),
            reason=data.get("reason"),
            order_id=data.get("order_id"),
            old_serial=data.get("old_serial"),
            license_no=data.get("license_no"),
        )

    def as_json(self) -> dict[str, Any]:
        # Spelled out rather than dataclasses.asdict (which deep-copies field by field):
        # every mail stores its serials this way.
        data: dict[str, Any] = {
            "serial": self.serial,
            "as_found": self.as_found,
            "status": self.status,
            "new": self.new,
            "action": self.action,
            "reason": self.reason,
            "order_id": self.order_id,
            "old_serial": self.old_serial,
        }
        if self.license_no is not None:
            data["license_no"] = self.license_no
        return data


@dataclass(frozen=True)
class MessageRef:
    """What the worker needs to know about a mail it may have seen before."""

    id: int
    mailbox_key: str
    message_id: str
    outcome: str
    reason: str | None
    mailbox_done: bool


@dataclass(frozen=True)
class NewMessage:
    """A mail's outcome as the worker records it, with what its parse found for staff."""

    mailbox_key: str
    message_id: str | None
    sender: str
    subject: str
    received_at: datetime
    processed_at: datetime
    outcome: str
    reason: str | None
    serials: tuple[SerialItem, ...]
    explanation: tuple[str, ...]
    raw: bytes | None
    size: int
    duplicate_of: int | None = None
    error: str | None = None
    sender_name: str = ""
    reply_to: str = ""
    references: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()  # the headers staff are shown
    text: str | None = None  # the readable text, capped; None: not parsed (read the raw)
    answers_ours: bool = False  # In-Reply-To/References name a mail of ours
    progress: bool = False  # it got a license issued or moved, or a pay link


@dataclass(frozen=True)
class MessageRow:
    """A processed mail as staff see it (the raw mail is read separately: it may be large)."""

    id: int
    mailbox_key: str
    message_id: str
    sender: str
    subject: str
    received_at: datetime | None
    processed_at: datetime | None
    outcome: str
    reason: str | None
    serials: tuple[SerialItem, ...]
    explanation: tuple[str, ...]
    size: int
    error: str | None
    sender_name: str
    reply_to: str
    references: tuple[str, ...]
    headers: tuple[tuple[str, str], ...]
    text: str | None  # None: stored before parses were kept; read it from the raw mail
    has_raw: bool


@dataclass(frozen=True)
class NewEscalation:
    """An escalation as a service raises it."""

    reason: str
    detail: str
    sender: str
    message_row: int | None = None
    serials: tuple[SerialItem, ...] = ()
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EscalationRow:
    """An escalation with what people need to list it (its mail's Message-ID and subject)."""

    id: int
    message_row: int | None
    reason: str
    detail: str
    state: str  # open | resolved | rejected
    claimed_by: str | None
    created_at: datetime
    updated_at: datetime
    sender: str
    serials: tuple[SerialItem, ...]
    facts: dict[str, Any]
    notified_at: datetime | None
    message_id: str | None = None
    subject: str | None = None


@dataclass(frozen=True)
class AuditEntry:
    """Who did what, when: the trail of an escalation or of a license."""

    at: datetime
    actor: str
    action: str
    detail: str
    escalation_id: int | None = None


@dataclass(frozen=True)
class OutboxRow:
    """A mail waiting to be sent (or sent, failed, bounced)."""

    id: int
    message_id: str
    kind: str  # reply | notification | digest
    to_addr: str
    raw: bytes
    attempts: int
    message_row: int | None


@dataclass(frozen=True)
class OutboxRef:
    """An outbox row a delivery report names."""

    id: int
    message_id: str
    kind: str
    to_addr: str
    state: str
    message_row: int | None


@dataclass(frozen=True)
class NewPendingPayment:
    """A pay-link request: serials waiting for the payment its reference names."""

    id: str  # the client_reference_id the pay link carries
    message_row: int
    sender: str
    serials: tuple[str, ...]
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class PendingPayment:
    """A pay-link request and what became of it."""

    id: str
    message_row: int | None
    sender: str
    serials: tuple[str, ...]
    created_at: datetime
    expires_at: datetime
    state: str  # open | fulfilled | expired
    order_id: str | None
    fulfilled_at: datetime | None


@dataclass(frozen=True)
class OrderUse:
    """An order with its seats in use: the one place seats are counted for people."""

    order_id: str
    email: str
    name: str
    status: str
    seats: int
    refunded_seats: int
    used: int
    free: int
    source: str
    created: datetime
    currency: str
    amount_total: int
    paid_until: date | None = None  # an order with terms: the last day paid for
    subscription: str = ""  # a subscription's status ("" = not one)
    cancel_at_period_end: bool = False
    # What people read (core/terms.py `subscription_state`): Stripe's status, or "cancel at
    # period end" for one that will not renew; "" = not a subscription.
    subscription_state: str = ""


@dataclass(frozen=True)
class TermCount:
    """Orders with a paid term in one currency and one state (the finance report)."""

    currency: str
    state: str  # active | past_due | cancel_at_period_end | lapsed | canceled
    orders: int
    seats: int  # bought less refunded
    monthly_amount: int  # minor units


@dataclass(frozen=True)
class RenewalCount:
    """Renewals within a period in one currency (the finance report)."""

    currency: str
    renewals: int  # orders renewed (one a paid term)
    licenses: int  # licenses re-signed


@dataclass(frozen=True)
class Renewal:
    """An order's licenses re-signed for a new paid term and mailed, once (issue 13)."""

    order_id: str
    paid_until: date
    created_at: datetime
    email: str
    licenses: tuple[int, ...]
    outbox_id: int | None


@dataclass(frozen=True)
class WebhookEvent:
    """A Stripe event id a webhook delivery announced, waiting to be fetched again."""

    id: str
    attempts: int


@dataclass(frozen=True)
class StaffRow:
    """A staff account of the web console (the password only as its hash)."""

    name: str
    email: str
    role: str  # support | finance | admin
    password_hash: str
    created_at: datetime
    password_changed_at: datetime | None = None


@dataclass(frozen=True)
class WebSession:
    """A logged-in browser: whose it is, the token its forms must carry, and until when."""

    token_hash: str
    staff_name: str
    csrf: str
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class QueueCounts:
    """How many open escalations each view of the console's queue holds."""

    open: int
    mine: int
    unclaimed: int
    waiting_payment: int
    overdue: int  # waiting longer than `[staff] answer_within_hours`
    closed: int
    by_reason: tuple[tuple[str, int], ...]  # most first
    open_pay_links: int  # pay-link requests still waiting for their payment


@dataclass(frozen=True)
class EventRow:
    """One event for the vendor's other systems, as queued for its webhook delivery."""

    id: int
    event_id: str  # evt_...
    type: str
    created_at: datetime
    payload: dict[str, Any]
    state: str  # pending | delivered | failed
    attempts: int
    next_attempt_at: datetime | None
    last_error: str
    delivered_at: datetime | None
