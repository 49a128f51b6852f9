"""The small interfaces behind which every side effect lives.

The worker only ever talks to these; `bootstrap.build()` picks the implementation from config
(Maildir or IMAP, outbox directory or SMTP, CSV or Stripe). Tests swap in real local servers.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol

from mailbot.core.model import Fetched, Order, Outcome


class Mailbox(Protocol):
    """Where customer mail arrives."""

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

    def close(self) -> None: ...


class MailSender(Protocol):
    """Where our replies go: an outbox directory or an SMTP server."""

    def send(self, batch: Sequence[tuple[int, str, bytes]]) -> dict[int, "Delivery"]:
        """Send (outbox row id, envelope recipient, raw message) tuples, one connection for
        the batch; return a Delivery per row id."""
        ...

    def close(self) -> None: ...


class Delivery:
    """The result of handing one message to the sender."""

    __slots__ = ("ok", "permanent", "error")

    def __init__(self, ok: bool, permanent: bool = False, error: str = "") -> None:
        self.ok = ok
        self.permanent = permanent
        self.error = error

    def __repr__(self) -> str:
        return f"Delivery(ok={self.ok}, permanent={self.permanent}, error={self.error!r})"


class OrderSource(Protocol):
    """Where paid orders come from. Implementations return plain `Order`s only."""

    def all_orders(self) -> Iterable[Order]:
        """Every order (a full re-list)."""
        ...

    def lookup_email(self, email: str) -> list[Order]:
        """Live lookup of one customer's orders (used once before escalating no_order)."""
        ...
