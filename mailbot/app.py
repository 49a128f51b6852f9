"""Wiring: settings in, an App with real adapters out.

The only place that picks implementations from the config's kinds (Maildir or IMAP, an outbox
folder or SMTP, CSV or Stripe); everything else receives them through `services.context.Deps`,
which App satisfies. Nothing connects until it is used. Tests pass `overrides` (a clock, a
mailbox over a test server) to `build()`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from mailbot.config import ConfigError, Settings, secret
from mailbot.core.clock import Clock, SystemClock
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


@dataclass
class App:
    """The running mailbot: settings, store, clock and adapters, each built on first use."""

    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    overrides: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def store(self) -> Store:
        store: Store = self.overrides.get("store") or Store.open(
            self.settings.store_path, group=self.settings.store_group
        )
        # The events `[webhooks]` asks for are recorded with the changes they report.
        store.recorded_events = self.settings.webhooks.recorded
        return store

    @cached_property
    def policy(self) -> Policy:
        policy: Policy = self.overrides.get("policy") or self.settings.decision_policy()
        return policy

    @cached_property
    def renderer(self) -> Renderer:
        return Renderer(self.settings.templates_dir)

    @cached_property
    def mailbox(self) -> Mailbox:
        if "mailbox" in self.overrides:
            mailbox: Mailbox = self.overrides["mailbox"]
            return mailbox
        return self._mailbox(read_only=False)

    def peek_mailbox(self) -> Mailbox:
        """The configured mailbox opened for looking only (`explain --mailbox`): nothing is
        moved, flagged or marked read, and `mark_done` refuses."""
        if "mailbox" in self.overrides:
            mailbox: Mailbox = self.overrides["mailbox"]
            return mailbox
        return self._mailbox(read_only=True)

    def _mailbox(self, read_only: bool) -> Mailbox:
        m = self.settings.mailbox
        if m.kind == "maildir":
            from mailbot.adapters.mailboxes.maildir import MaildirMailbox

            assert m.path is not None
            return MaildirMailbox(m.path, since=m.since, read_only=read_only)
        from mailbot.adapters.mailboxes.imap import ImapMailbox

        return ImapMailbox(m, read_only=read_only)

    @cached_property
    def sender(self) -> MailSender:
        if "sender" in self.overrides:
            sender: MailSender = self.overrides["sender"]
            return sender
        o = self.settings.outbox
        if o.kind == "directory":
            from mailbot.adapters.senders.outbox_dir import OutboxDirectory

            assert o.path is not None
            return OutboxDirectory(o.path, group=self.settings.store_group)
        from mailbot.adapters.senders.smtp import SmtpSender

        if o.connections == 1:
            return SmtpSender(o)
        from mailbot.adapters.senders.smtp_lanes import SmtpLanes

        return SmtpLanes([SmtpSender(o) for _ in range(o.connections)])

    @cached_property
    def _order_source(self) -> Any:
        if "orders" in self.overrides:
            return self.overrides["orders"]
        o = self.settings.orders
        if o.kind == "csv":
            from mailbot.adapters.orders.csv_file import CsvOrders

            assert o.path is not None
            return CsvOrders(o.path)
        from mailbot.adapters.orders.stripe import StripeOrders

        key = secret(o.api_key_env, o.api_key_file, "the Stripe API key")
        return StripeOrders(o, api_key=key)

    @property
    def orders(self) -> OrderSource:
        source: OrderSource = self._order_source
        return source

    @property
    def order_events(self) -> OrderEvents | None:
        source = self._order_source
        if source.is_local:
            return None
        events: OrderEvents = source
        return events

    @cached_property
    def signer(self) -> Signer:
        """The signing key; a missing or unreadable key is a ConfigError."""
        if "signer" in self.overrides:
            signer: Signer = self.overrides["signer"]
            return signer
        from mailbot.adapters.signing import KeyFileError, load_private_key
        from mailbot.adapters.signing import Signer as KeySigner

        s = self.settings.signing
        passphrase = os.environ.get(s.passphrase_env, "").encode() if s.passphrase_env else None
        try:
            key = load_private_key(s.private_key, passphrase or None)
        except KeyFileError as exc:
            raise ConfigError(str(exc)) from None
        p = self.settings.product
        return KeySigner(
            key,
            p.code,
            edition=p.edition,
            license_days=p.license_days,
            public_dir=s.public_keys,
            grace_days=p.subscription_grace_days,
        )

    @cached_property
    def reply_secret(self) -> bytes:
        """The secret of staff reply addresses, made beside the signing key on first use; a
        ConfigError when it cannot be read or made."""
        if "reply_secret" in self.overrides:
            given: bytes = self.overrides["reply_secret"]
            return given
        from mailbot.adapters.private_files import (
            PrivateFileError,
            load_reply_secret,
            reply_secret_path,
        )

        path = reply_secret_path(self.settings.signing.private_key)
        try:
            return load_reply_secret(path)
        except PrivateFileError as exc:
            raise ConfigError(str(exc)) from None
        except OSError as exc:
            raise ConfigError(f"cannot make the reply secret {path}: {exc.strerror}") from None

    @cached_property
    def event_sender(self) -> EventSender | None:
        """Where webhooks go (None without `[webhooks] url`); a missing secret is a
        ConfigError, raised when delivery or doctor first needs it."""
        if "event_sender" in self.overrides:
            given: EventSender | None = self.overrides["event_sender"]
            return given
        w = self.settings.webhooks
        if not w.url:
            return None
        from mailbot.adapters.webhook_sender import WebhookSender

        key = secret(w.secret_env, w.secret_file, "the webhook secret")
        return WebhookSender(w.url, key.encode(), timeout_seconds=w.timeout_seconds)

    def close(self) -> None:
        for name in ("mailbox", "sender", "_order_source", "event_sender"):
            adapter = self.__dict__.get(name)
            if adapter is not None:
                adapter.close()
        if "store" in self.__dict__:
            self.store.close()


def build(settings: Settings, **overrides: Any) -> App:
    """An App for these settings; `overrides` replace parts (tests: clock, mailbox, ...)."""
    clock = overrides.pop("clock", None) or SystemClock()
    return App(settings=settings, clock=clock, overrides=overrides)
