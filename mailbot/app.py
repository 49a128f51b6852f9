"""Wiring: settings in, an App with real adapters out. The only place that picks
implementations; everything else receives them. Nothing connects until it is used."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from mailbot.config import ConfigError, Settings, secret
from mailbot.adapters.ports import MailSender, Mailbox, OrderSource
from mailbot.core.clock import Clock, SystemClock
from mailbot.core.model import Policy
from mailbot.mail.render import Renderer
from mailbot.store import Store


@dataclass
class App:
    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    overrides: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def store(self) -> Store:
        return self.overrides.get("store") or Store.open(self.settings.store_path)

    @cached_property
    def policy(self) -> Policy:
        return self.overrides.get("policy") or self.settings.decision_policy()

    @cached_property
    def renderer(self) -> Renderer:
        return Renderer(self.settings.templates_dir)

    @cached_property
    def mailbox(self) -> Mailbox:
        if "mailbox" in self.overrides:
            return self.overrides["mailbox"]
        m = self.settings.mailbox
        if m.kind == "maildir":
            from mailbot.adapters.mailboxes.maildir import MaildirMailbox

            assert m.path is not None
            return MaildirMailbox(m.path, since=m.since)
        from mailbot.adapters.mailboxes.imap import ImapMailbox

        return ImapMailbox(m)

    def peek_mailbox(self) -> Mailbox:
        """The configured mailbox opened for looking only (`explain --mailbox`): nothing is
        moved, flagged or marked read, and `mark_done` refuses."""
        if "mailbox" in self.overrides:
            return self.overrides["mailbox"]
        m = self.settings.mailbox
        if m.kind == "maildir":
            from mailbot.adapters.mailboxes.maildir import MaildirMailbox

            assert m.path is not None
            return MaildirMailbox(m.path, since=m.since, read_only=True)
        from mailbot.adapters.mailboxes.imap import ImapMailbox

        return ImapMailbox(m, read_only=True)

    @cached_property
    def sender(self) -> MailSender:
        if "sender" in self.overrides:
            return self.overrides["sender"]
        o = self.settings.outbox
        if o.kind == "directory":
            from mailbot.adapters.senders.outbox_dir import OutboxDirectory

            assert o.path is not None
            return OutboxDirectory(o.path)
        from mailbot.adapters.senders.smtp import SmtpSender

        return SmtpSender(o)

    @cached_property
    def orders(self) -> OrderSource:
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

    @cached_property
    def private_key(self) -> Any:
        """The Ed25519 signing key; a missing or unreadable key is a ConfigError."""
        from mailbot.adapters.signing import KeyFileError, load_private_key

        s = self.settings.signing
        passphrase = os.environ.get(s.passphrase_env, "").encode() if s.passphrase_env else None
        try:
            return load_private_key(s.private_key, passphrase or None)
        except KeyFileError as exc:
            raise ConfigError(str(exc)) from None

    @cached_property
    def signer(self) -> Any:
        if "signer" in self.overrides:
            return self.overrides["signer"]
        from mailbot.adapters.signing import Signer

        p = self.settings.product
        return Signer(self.private_key, p.code, edition=p.edition, license_days=p.license_days)

    def close(self) -> None:
        for name in ("mailbox", "sender", "orders"):
            close = getattr(self.__dict__.get(name), "close", None)
            if close is not None:
                close()
        if "store" in self.__dict__:
            self.store.close()


def build(settings: Settings, **overrides: Any) -> App:
    clock = overrides.pop("clock", None) or SystemClock()
    return App(settings=settings, clock=clock, overrides=overrides)
