"""Plain values that flow through the pipeline.

Everything here is a frozen dataclass or an enum: no I/O, no behaviour beyond small derived
properties. The pure steps (parse, classify, decide) take and return these; the adapters
translate their own wire types (IMAP responses, Stripe objects, CSV rows) into them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime

# Serial findings are defined beside the serial code, which the desktop app embeds on its own.
from mailbot.core.serials import SerialFinding as SerialFinding  # part of the model's vocabulary
from mailbot.core.serials import SerialStatus as SerialStatus


class Outcome(str, enum.Enum):
    """What happened to one mail, as recorded and reported (docs/contract.md, "Outcomes")."""

    ISSUED = "issued"
    RESENT = "resent"
    TRANSFERRED = "transferred"
    AWAITING_PAYMENT = "awaiting_payment"
    CLARIFY = "clarify"
    ESCALATED = "escalated"
    IGNORED = "ignored"
    # A staff member's answer to a notification, by mail: carried out (sent on, or noted).
    STAFF_REPLY = "staff_reply"
    # Customers serving themselves by mail (README, "Customers serving themselves").
    LISTED = "listed"  # "which licenses do I have": the list went to the order's address
    RELEASED = "released"  # "release SERIAL": revoked, its seat free again


# Most attention first: a mail with several serials takes the first of these that any of its
# serials reached (one seat short on a five-serial mail issues four and escalates the mail).
OUTCOME_PRIORITY: tuple[Outcome, ...] = (
    Outcome.ESCALATED,
    Outcome.AWAITING_PAYMENT,
    Outcome.CLARIFY,
    Outcome.TRANSFERRED,
    Outcome.RELEASED,
    Outcome.ISSUED,
    Outcome.RESENT,
)


class Reason(str, enum.Enum):
    """Why a mail was escalated or ignored. Values are part of the scripting contract."""

    # escalations
    NO_SERIAL = "no_serial"
    MISTYPED_SERIAL = "mistyped_serial"
    NO_ORDER = "no_order"
    UNPAID_ORDER = "unpaid_order"
    REFUNDED_ORDER = "refunded_order"
    DISPUTED_ORDER = "disputed_order"
    SEATS_EXHAUSTED = "seats_exhausted"
    AMBIGUOUS_ORDER = "ambiguous_order"
    SERIAL_LICENSED_ELSEWHERE = "serial_licensed_elsewhere"
    SERIAL_REVOKED = "serial_revoked"
    TRANSFER_REVIEW = "transfer_review"
    SENDER_UNVERIFIED = "sender_unverified"
    UNREADABLE = "unreadable"
    TOO_LARGE = "too_large"
    QUESTION = "question"
    REPLY_BOUNCED = "reply_bounced"
    PAYMENT_EXPIRED = "payment_expired"
    REPLY_LOOP = "reply_loop"
    INTERNAL_ERROR = "internal_error"
    STAFF_REPLY_REFUSED = "staff_reply_refused"
    # A subscription's quantity fell below the licenses in use (issue 13): flagged, as refunds.
    SEATS_REDUCED = "seats_reduced"
    RELEASE_REVIEW = "release_review"
    # ignores
    AUTO_REPLY = "auto_reply"
    BOUNCE = "bounce"
    OWN_MAIL = "own_mail"
    DUPLICATE = "duplicate"
    LOOP = "loop"
    RATE_LIMITED = "rate_limited"


@dataclass(frozen=True)
class AuthResult:
    """Authentication-Results from our own receiving server (RFC 8601); None = not reported."""

    dmarc: str | None = None
    dkim: str | None = None
    spf: str | None = None
    dmarc_domain: str = ""  # the header.from domain our server's DMARC check was about


@dataclass(frozen=True)
class Inbound:
    """One parsed mail. Produced by mail.parse.parse_message(); never raises, see `problems`."""

    message_id: str  # without angle brackets; synthesized from a hash when missing
    sender: str  # From address, lower-cased ("" when none/unparseable)
    sender_name: str
    reply_to: str  # lower-cased, "" when absent
    return_path: str  # envelope sender if the server recorded it; "" for null sender <>
    to: tuple[str, ...]
    subject: str
    date: datetime | None
    in_reply_to: str
    references: tuple[str, ...]
    # Lower-cased header name -> all values, only for headers classification looks at.
    headers: dict[str, tuple[str, ...]]
    content_type: str  # top-level, lower-cased, e.g. "multipart/report"
    report_type: str  # "delivery-status", "feedback-report", ... or ""
    text: str  # the new (unquoted) human text, HTML converted
    quoted_text: str  # quoted / forwarded-reply history, for display only
    serials: tuple[SerialFinding, ...]  # from new text and attachments, de-duplicated
    quoted_serials: tuple[SerialFinding, ...]  # only in quoted text: never new requests
    order_refs: tuple[str, ...]  # cs_..., pi_..., ch_..., our order numbers
    attachments: tuple[str, ...]  # file names
    bounced_message_ids: tuple[str, ...]  # Message-IDs a DSN says it is about
    auth: AuthResult
    size: int
    problems: tuple[str, ...] = ()  # defects noticed while parsing, for staff
    readable: bool = True  # False: nothing usable could be read; escalated as unreadable
    too_many_serials: bool = False  # more serial-like strings than policy allows
    shown_headers: tuple[tuple[str, str], ...] = ()  # decoded, for staff: (name, value)
    # What From claims when it is no address we may answer (`MAILER-DAEMON`, `a@b@c`): only for
    # recognising machine mail; `sender` is then "" and nothing is ever sent to it.
    sender_claimed: str = ""
    # Every address the mail was for: To, Cc, and the envelope recipient our server recorded
    # (Delivered-To, X-Original-To), lower-cased. Only for finding a reply-by-mail address.
    recipients: tuple[str, ...] = ()
    # The Content-Language header as sent ("de-DE", "en, de"), one line, capped; "" when none.
    # Only a hint for the reply's language (core/language.py), never trusted further.
    content_language: str = ""

    @property
    def reply_address(self) -> str:
        """Where a reply without license content goes (RFC 5322 3.6.2)."""
        return self.reply_to or self.sender


class OrderStatus(str, enum.Enum):
    PAID = "paid"
    REFUNDED = "refunded"
    DISPUTED = "disputed"
    UNPAID = "unpaid"


@dataclass(frozen=True)
class Order:
    """A purchase of seats, whatever its source (CSV, Stripe, typed in by staff)."""

    order_id: str
    email: str  # lower-cased
    name: str
    seats: int  # bought
    status: OrderStatus
    created: datetime
    refunded_seats: int = 0  # whole seats removed by partial refunds
    currency: str = ""
    amount_total: int = 0  # minor units
    source: str = "csv"  # "csv" | "stripe" | "manual"
    client_reference_id: str = ""  # pay-by-link: names the pending request
    aliases: tuple[str, ...] = ()  # other references a customer may quote (pi_, ch_, receipt)
    language: str = ""  # the customer's language from the source ("de"); "" = not known
    # Orders with terms (issue 13): the last day the seats are paid for (a subscription's
    # current period end, a CSV row's `expires`); None: bought for good. Licenses on it expire
    # `[product] subscription_grace_days` later (core/terms.py).
    paid_until: date | None = None
    # A Stripe subscription's status (active, past_due, canceled, ...); "" = not a subscription.
    subscription: str = ""
    cancel_at_period_end: bool = False
    monthly_amount: int = 0  # a subscription's recurring revenue per month, minor units

    @property
    def usable_seats(self) -> int:
        """Seats that can carry licenses: only a paid order gives any."""
        if self.status is not OrderStatus.PAID:
            return 0
        return max(0, self.seats - self.refunded_seats)


class LicenseState(str, enum.Enum):
    ACTIVE = "active"
    REVOKED = "revoked"


@dataclass(frozen=True)
class License:
    license_no: int
    serial: str
    customer_email: str
    order_id: str | None  # None for a manual grant
    seat_key: int  # license_no of the first license on this seat; transfers keep it
    issued_at: datetime
    license_string: str
    state: LicenseState = LicenseState.ACTIVE
    key_id: int = 0
    expires_day: int = 0
    revoked_at: datetime | None = None
    revoked_reason: str = ""
    replaced_by: int | None = None  # a transfer: the license that took this seat
    message_row: int | None = None  # the mail it answered
    granted_by: str = ""  # a person who issued it by hand ("" = the bot)
    grant_reason: str = ""
    renewed_at: datetime | None = None  # re-signed with a later expiry (a paid renewal)


@dataclass(frozen=True)
class Policy:
    """The knobs of the decision that come from config."""

    product_code: str = "AMC"
    our_addresses: frozenset[str] = frozenset()
    payment_link: str = ""
    transfers_per_seat: int = 2
    transfer_window_days: int = 365
    max_replies_per_hour: int = 10
    max_serials_per_mail: int = 100
    require_dmarc_pass: bool = False
    authserv_id: str = ""
    acknowledge_escalations: bool = True
    loop_after: int = 3  # answers to our mail in a row, within a day, that bring nothing new
    # Days a license outlives its order's paid term (core/terms.py): a late renewal payment
    # never locks a customer out.
    subscription_grace_days: int = 0


@dataclass(frozen=True)
class Facts:
    """What the store knows that bears on one mail, gathered before deciding."""

    orders: tuple[Order, ...]  # the sender's orders, and orders named in the mail
    licenses: dict[str, License]  # serial -> newest license of each serial in the mail
    customer_licenses: tuple[License, ...]  # active licenses on the candidate orders
    transfers_in_window: dict[int, int]  # seat_key -> transfers within the window
    previous_mistyped: int  # earlier mails from this sender that got `clarify` for a typo
    replies_last_hour: int  # replies in the last hour to any address this mail may make us write to
    bounced_replies: tuple[str, ...] = ()  # our outbox Message-IDs a bounce names
    # The sender's latest mails of the last day, newest first, that answered our mail and
    # brought nothing new (no license issued or moved, no payment asked for), in a row.
    answers_in_a_row: int = 0
    # "Which licenses do I have": every license under the sender's own address, any state.
    # Read only for such a mail.
    own_licenses: tuple[License, ...] = ()


class Action(str, enum.Enum):
    ISSUE = "issue"
    RESEND = "resend"
    TRANSFER = "transfer"
    AWAIT_PAYMENT = "await_payment"
    CLARIFY = "clarify"
    ESCALATE = "escalate"
    RELEASE = "release"  # the customer's own "release SERIAL": revoke, free the seat


ACTION_OUTCOME = {
    Action.ISSUE: Outcome.ISSUED,
    Action.RESEND: Outcome.RESENT,
    Action.TRANSFER: Outcome.TRANSFERRED,
    Action.AWAIT_PAYMENT: Outcome.AWAITING_PAYMENT,
    Action.CLARIFY: Outcome.CLARIFY,
    Action.ESCALATE: Outcome.ESCALATED,
    Action.RELEASE: Outcome.RELEASED,
}


@dataclass(frozen=True)
class SerialDecision:
    """What to do for one serial of a mail."""

    serial: str  # normalized
    as_found: str
    action: Action
    reason: Reason | None = None
    order_id: str | None = None  # the order whose seat an issue uses
    license_no: int | None = None  # existing license (resend; the old one for transfer)
    old_serial: str | None = None  # transfer: the serial being replaced
    recipient: str = ""  # license-bearing actions: the order's / license's email


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    reason: Reason | None
    results: tuple[SerialDecision, ...] = ()
    reply_to: str = ""  # "" = no reply
    template: str = ""  # outcome template name, e.g. "issued"
    explanation: tuple[str, ...] = ()  # the checks' words, shown to staff

    @property
    def escalates(self) -> bool:
        return self.outcome is Outcome.ESCALATED


@dataclass(frozen=True)
class Fetched:
    """A mail as a mailbox hands it over: a stable key plus the raw bytes (or only the size)."""

    key: str  # unique per mailbox copy, e.g. "maildir:<name>" or "imap:INBOX:<uidvalidity>:<uid>"
    raw: bytes | None  # None when the body was not downloaded (over the size cap)
    size: int
    received_at: datetime | None = None
    message_id: str = ""  # from the envelope when known without the body
    extra: dict[str, str] = field(default_factory=dict)
