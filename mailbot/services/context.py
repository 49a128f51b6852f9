"""What a service is given to work with: settings, the store, the clock and the ports.

Services take one `Deps` argument instead of importing the wiring (`mailbot.app.App` satisfies
this protocol), so the arrows stay downward: entry points build an App and hand it to services;
services never know which adapters it holds. Tests hand in the same App over real local servers.
Every attribute is built on first use: a staff command that never sends mail never connects to
SMTP.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from mailbot.config import Settings
from mailbot.core.clock import Clock
from mailbot.core.model import Policy
from mailbot.mail.render import Renderer
from mailbot.services.ports import (
    EventSender,
    Mailbox,
    MailSender,
    OrderEvents,
    OrderSource,
    Signer,
)
from mailbot.store import Store


class Deps(Protocol):
    """Everything the services need; see `mailbot.app.App`."""

    @property
    def settings(self) -> Settings: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def store(self) -> Store: ...

    @property
    def policy(self) -> Policy: ...

    @property
    def renderer(self) -> Renderer: ...

    @property
    def signer(self) -> Signer:
        """Raises ConfigError when the key cannot be loaded."""
        ...

    @property
    def reply_secret(self) -> bytes:
        """The key of staff reply-by-mail tokens; raises ConfigError when it cannot be had."""
        ...

    @property
    def mailbox(self) -> Mailbox: ...

    @property
    def sender(self) -> MailSender: ...

    @property
    def orders(self) -> OrderSource:
        """Raises ConfigError when the source cannot be set up (a missing API key)."""
        ...

    @property
    def order_events(self) -> OrderEvents | None:
        """The same source's incremental side, when it has one (Stripe); None for a file."""
        ...

    def peek_mailbox(self) -> Mailbox:
        """The mailbox opened for looking only."""
        ...

    @property
    def event_sender(self) -> EventSender | None:
        """Where webhooks go; None without `[webhooks] url`. Raises ConfigError when the
        secret cannot be had."""
        ...


@dataclass(frozen=True)
class ThreadDeps:
    """The same Deps for another thread of a mail pass (the delivery thread): its own
    connection to the store (a connection is for one thread at a time) and the pass's shared
    mailbox; everything else is the base's."""

    base: Deps
    store: Store
    mailbox: Mailbox

    @property
    def settings(self) -> Settings:
        return self.base.settings

    @property
    def clock(self) -> Clock:
        return self.base.clock

    @property
    def policy(self) -> Policy:
        return self.base.policy

    @property
    def renderer(self) -> Renderer:
        return self.base.renderer

    @property
    def signer(self) -> Signer:
        return self.base.signer

    @property
    def reply_secret(self) -> bytes:
        return self.base.reply_secret

    @property
    def sender(self) -> MailSender:
        return self.base.sender

    @property
    def orders(self) -> OrderSource:
        return self.base.orders

    @property
    def order_events(self) -> OrderEvents | None:
        return self.base.order_events

    def peek_mailbox(self) -> Mailbox:
        return self.base.peek_mailbox()

    @property
    def event_sender(self) -> EventSender | None:
        return self.base.event_sender
