"""The interfaces behind which every side effect lives: what the services need of a mailbox, a
mail sender, an order source and a signer, complete with their optional abilities (so no
service ever probes an adapter with `getattr` or asks the config which kind it is).

`mailbot.app.build()` picks the implementations from config (Maildir or IMAP, an outbox folder
or SMTP, CSV or Stripe). Adapters implement these; services only ever see these.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from mailbot.core.model import Fetched, Order, Outcome


@dataclass(frozen=True)
class Check:
    """One thing a run needs, checked: what, whether it is there, and what to do if not."""

    name: str
    ok: bool
    detail: str

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


@dataclass(frozen=True)
class Delivery:
    """The result of handing one message to the sender."""

    ok: bool
    permanent: bool = False
    error: str = ""


class SendBlocked(Exception):
    """Nothing can be sent with this setup (login refused, no STARTTLS): every row would fail
    alike, so none of them uses up an attempt. The message says what to fix."""


class OrderSourceUnavailable(Exception):
    """The order source cannot be asked now (an outage, a refused key); `permanent` when
    asking again will not help."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Mailbox(Protocol):
    """Where customer mail arrives."""

    @property
    def is_local(self) -> bool:
        """A folder on this machine (its checks need no network)."""
        ...

    def fetch_new(self, max_size: int) -> Iterator[Fetched]:
        """Yield waiting mail. Bodies over `max_size` bytes come with raw=None."""
        ...

    def mark_done(self, done: Sequence[tuple[Fetched, Outcome]]) -> None:
        """Move or flag mail whose outcome is committed. Idempotent: a mail already moved is
        not an error (the crash may have happened between the move and our bookkeeping)."""
        ...

    def wait_for_mail(self, timeout: float) -> bool:
        """Block until new mail may be there (IMAP IDLE) or the timeout passes."""
        ...

    def reader_elsewhere(self) -> Callable[[], Mailbox] | None:
        """A picklable callable that opens this same mailbox read-only in another process
        (the fetch process of a long pass), or None when no other process can."""
        ...

    @property
    def keeps_sent_copies(self) -> bool:
        """Whether `file_sent` files anything (an IMAP Sent folder is configured)."""
        ...

    def file_sent(self, raw: bytes) -> bool:
        """File a copy of a sent reply (an IMAP Sent folder); False when not configured."""
        ...

    def escalated_folder(self) -> str:
        """Where staff find escalated mail in their mail client ("" when nowhere)."""
        ...

    def checks(self) -> list[Check]:
        """`mailbot doctor`: can this mailbox be used as configured? Changes nothing."""
        ...

    def close(self) -> None: ...


class MailSender(Protocol):
    """Where our replies go: an outbox directory or an SMTP server."""

    def send(self, batch: Sequence[tuple[int, str, bytes]]) -> dict[int, Delivery]:
        """Send (outbox row id, envelope recipient, raw message) tuples, one connection for
        the batch; a Delivery per row id. Raises SendBlocked when nothing can be sent."""
        ...

    def checks(self) -> list[Check]:
        """`mailbot doctor`: can mail be sent as configured? Sends nothing."""
        ...

    def close(self) -> None: ...


class OrderSource(Protocol):
    """Where paid orders come from. Implementations return plain `Order`s only."""

    @property
    def is_local(self) -> bool:
        """A local file, read whole (no live lookups, no events)."""
        ...

    def version(self) -> str:
        """Changes when the orders may have: a local file is read again only then. Remote
        sources return "" (they are synced by events instead)."""
        ...

    def all_orders(self) -> Iterable[Order]:
        """Every order (a full re-list)."""
        ...

    def lookup_email(self, email: str) -> list[Order]:
        """Live lookup of one customer's orders (used once before escalating no_order)."""
        ...

    def checks(self) -> list[Check]:
        """`mailbot doctor`: do the orders answer (the file parses; one read-only call)?"""
        ...

    @property
    def problems(self) -> list[str]:
        """What the last read skipped (bad rows of a file), for people."""
        ...

    def close(self) -> None: ...


class OrderEvents(Protocol):
    """An order source that is kept current incrementally (Stripe): a resumable re-list, an
    events cursor, and single events named by a webhook."""

    def backfill(
        self, cursor: str | None = None
    ) -> Generator[tuple[list[Order], str | None], None, None]:
        """Re-list every order a page at a time: (orders of one page, cursor to resume
        after it); the last cursor is None."""
        ...

    def initial_cursor(self, now: datetime) -> str:
        """An events cursor starting at `now`."""
        ...

    def events_since(self, cursor: str) -> tuple[list[Order], str]:
        """The orders changed since the cursor, and the new cursor."""
        ...

    def orders_for_event(self, event_id: str) -> list[Order]:
        """The current state of the orders one event is about."""
        ...

    @property
    def count_calls(self) -> int:
        """Requests made so far (for the sync's report)."""
        ...


class Signer(Protocol):
    """Signs licenses with the vendor's private key; knows the public keys that verify."""

    @property
    def key_id(self) -> int: ...

    def sign(
        self, serial: str, license_no: int, issued: date, paid_until: date | None = None
    ) -> str:
        """The license string for this serial; `paid_until` is its order's paid term (a
        subscription's period end), which sets the expiry (core/terms.py)."""
        ...

    def expiry(self, issued: date, paid_until: date | None = None) -> date | None:
        """The expiry `sign` gives a license issued on `issued` (None: perpetual)."""
        ...

    def public_keys(self) -> list[Any]:
        """Every public key a license of ours may be signed with (Ed25519 public keys)."""
        ...

    def sign_revocation_list(self, revoked: Sequence[int], issued_at: datetime) -> bytes:
        """The signed list of revoked license numbers the desktop app downloads."""
        ...


class EventSender(Protocol):
    """Where the events for the vendor's other systems go: their webhook endpoint."""

    def send(self, event_id: str, event_type: str, body: bytes, timestamp: int) -> Delivery:
        """POST one event's JSON `body`, signed for `timestamp` (unix seconds); ok for a 2xx
        answer. Never raises for the receiver's faults: they come back as a failed Delivery
        with a sentence that names no secret and no part of the url past its host."""
        ...

    def checks(self) -> list[Check]:
        """`mailbot doctor`: is it configured (url, secret)? Sends nothing."""
        ...

    def close(self) -> None: ...
