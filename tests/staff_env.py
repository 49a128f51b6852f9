"""A mailbot in a temp folder for the staff-side tests (queue, licenses, report, notify): a Maildir,
an outbox folder, a CSV of orders, a signing key, a frozen clock, and the same setup as a TOML
file for driving the `mailbot` command."""

from __future__ import annotations

import email
import email.policy
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from mailbot.adapters.mailboxes.maildir import MaildirMailbox
from mailbot.adapters.signing import init_key
from mailbot.app import App, build
from mailbot.cli import cli
from mailbot.config import load
from mailbot.services.pass_results import Processed
from mailbot.services.worker import Worker
from tests.apps import write_config
from tests.builders import new_serial
from tests.clock import FrozenClock
from tests.db import query

T0 = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
ORDER_HEADER = "order_id,email,name,seats,status,created,currency,refunded_seats,amount_total"


@dataclass
class Env:
    base: Path
    config: Path
    app: App
    clock: FrozenClock

    @property
    def store(self) -> Any:
        return self.app.store

    @property
    def mailbox(self) -> MaildirMailbox:
        return self.app.mailbox  # type: ignore[return-value]

    def write_orders(self, rows: list[str]) -> None:
        path = self.base / "orders.csv"
        path.write_text("\n".join([ORDER_HEADER, *rows]) + "\n")
        # The worker re-reads the file when its mtime/size change; make sure a rewrite within
        # the same clock tick is seen.
        import os

        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))

    def deliver(self, raw: bytes) -> None:
        self.mailbox.deliver(raw)

    def poll(self) -> list[Processed]:
        return Worker(self.app).poll_once()

    def send(self, raw: bytes) -> Processed:
        self.deliver(raw)
        done = [p for p in self.poll() if not p.already_done]
        assert len(done) == 1, done
        return done[0]

    def cli(self, *args: str, input: str | None = None) -> Result:
        # A fresh App per command, like a person typing it: close ours so the file is free.
        return CliRunner().invoke(
            cli, [*args, "--config", str(self.config)], input=input, catch_exceptions=False
        )

    def cli_json(self, *args: str) -> Any:
        result = self.cli(*args, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    def outbox(self, kind: str | None = None) -> list[dict[str, Any]]:
        rows = query(self.store, "SELECT * FROM outbox ORDER BY id")
        return [r for r in rows if kind is None or r["kind"] == kind]

    def escalations(self, state: str | None = None) -> list[dict[str, Any]]:
        rows = query(self.store, "SELECT * FROM escalations ORDER BY id")
        return [r for r in rows if state is None or r["state"] == state]

    def audit(self, escalation_id: int) -> list[dict[str, Any]]:
        return query(
            self.store, "SELECT * FROM audit WHERE escalation_id = ? ORDER BY id", [escalation_id]
        )


def make_env(tmp_path: Path, orders: list[str], **sections: dict[str, Any]) -> Env:
    base = tmp_path / "site"
    base.mkdir(parents=True, exist_ok=True)
    (base / "orders.csv").write_text("\n".join([ORDER_HEADER, *orders]) + "\n")
    config = write_config(base, **sections)
    settings = load(config)
    init_key(settings.signing.private_key, settings.signing.public_keys, None)
    clock = FrozenClock(T0)
    app = build(settings, clock=clock)
    return Env(base, config, app, clock)


def order_row(
    order_id: str,
    email_: str,
    seats: int,
    status: str = "paid",
    created: str = "2026-11-02T10:00:00+00:00",
    currency: str = "eur",
    refunded: int = 0,
    amount: int = 0,
    name: str = "",
) -> str:
    return (
        f"{order_id},{email_},{name or email_.split('@')[0].title()},{seats},{status},"
        f"{created},{currency},{refunded},{amount}"
    )


_counter = iter(range(1, 10**9))


def mail(
    sender: str, body: str, subject: str = "License request", reply_to: str = "", name: str = ""
) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"{name} <{sender}>" if name else sender
    msg["To"] = "support@amphis.example"
    msg["Subject"] = subject
    msg["Date"] = "Sun, 29 Nov 2026 10:00:00 +0000"
    msg["Message-ID"] = f"<staff-{next(_counter)}@{sender.split('@')[1]}>"
    if reply_to:
        msg["Reply-To"] = reply_to
    msg.set_content(body)
    return bytes(msg)


def request(sender: str, *serials: str, **kw: Any) -> bytes:
    lines = "\n".join(serials)
    return mail(sender, f"Hello,\n\nplease send the license for\n{lines}\n\nThanks", **kw)


def parsed(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def plain_failure(result: Result) -> str:
    """The command failed with one sentence (exit 2), not a traceback; its output."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    return str(result.output)


def text_of(raw: bytes) -> str:
    body = parsed(raw).get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


__all__ = [
    "Env",
    "T0",
    "make_env",
    "mail",
    "new_serial",
    "order_row",
    "parsed",
    "plain_failure",
    "request",
    "text_of",
]
