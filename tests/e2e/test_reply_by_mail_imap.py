"""A staff member answers a notification by mail, on the production backends: the notification
leaves over SMTP (aiosmtpd), the answer arrives over IMAP (Dovecot), the customer's reply leaves
over SMTP, and the answer is filed with the processed mail."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

import pytest

from mailbot.app import App
from mailbot.core.model import Outcome
from mailbot.services.delivery import deliver_outbox
from mailbot.services.worker import Worker
from tests.e2e.test_pipeline_imap import PROCESSED, append_all, imap_app, message_ids_in
from tests.servers.dovecot import DovecotServer
from tests.servers.smtp_sink import SmtpSink
from tests.staff_env import T0, new_serial, request

pytestmark = pytest.mark.servers
__all__ = ["imap_app"]  # the fixture, used by name below

CUSTOMER = "sam@stranger.example"
STAFF = "licensing-team@amphis.example"


def parsed(data: bytes) -> EmailMessage:
    return email.message_from_bytes(data, policy=email.policy.default)  # type: ignore[return-value]


def test_a_staff_answer_by_mail_reaches_the_customer_over_smtp(
    dovecot: DovecotServer, smtp_sink: SmtpSink, imap_app: Callable[..., App], tmp_path: Path
) -> None:
    login, _ = dovecot.user("answer")
    append_all(dovecot, login, [request(CUSTOMER, new_serial()).replace(b"\n", b"\r\n")])
    app = imap_app(tmp_path, login, smtp_sink)
    with app.store.transaction() as store:
        store.add_staff("maria", "maria@amphis.example", "support", "x", T0)
    worker = Worker(app)
    [first] = worker.poll_once()
    assert first.outcome is Outcome.ESCALATED
    deliver_outbox(worker.deps)
    sent = smtp_sink.wait_for(2)
    [note] = [parsed(m.data) for m in sent if m.rcpt_tos == (STAFF,)]

    answer = EmailMessage()
    answer["From"] = "Maria <maria@amphis.example>"
    answer["To"] = str(note["Reply-To"])
    answer["Subject"] = f"Re: {note['Subject']}"
    answer["Message-ID"] = "<answer-1@amphis.example>"
    answer["In-Reply-To"] = str(note["Message-ID"])
    text = note.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    quoted = "\n".join("> " + line for line in text.splitlines())
    answer.set_content(f"resolve\nHello Sam, your order came through.\n\n{quoted}\n")
    append_all(dovecot, login, [bytes(answer).replace(b"\n", b"\r\n")])

    [taken] = worker.poll_once()
    assert taken.outcome is Outcome.STAFF_REPLY
    assert deliver_outbox(worker.deps).sent == 1
    latest = smtp_sink.wait_for(3)[2]
    assert latest.rcpt_tos == (CUSTOMER,)
    body = str(parsed(latest.data).get_body(("plain",)).get_content())  # type: ignore[union-attr]
    assert "your order came through" in body and "please send the license" not in body
    assert message_ids_in(dovecot, login)[PROCESSED] == ["answer-1@amphis.example"]


def test_an_answer_with_a_forged_token_is_not_sent_on(
    dovecot: DovecotServer, smtp_sink: SmtpSink, imap_app: Callable[..., App], tmp_path: Path
) -> None:
    """The same round trip with one symbol of the token changed: from a staff address, to the
    support mailbox's sub-address, it still reaches no customer."""
    login, _ = dovecot.user("forged")
    append_all(dovecot, login, [request(CUSTOMER, new_serial()).replace(b"\n", b"\r\n")])
    app = imap_app(tmp_path, login, smtp_sink)
    with app.store.transaction() as store:
        store.add_staff("maria", "maria@amphis.example", "support", "x", T0)
    worker = Worker(app)
    worker.poll_once()
    deliver_outbox(worker.deps)
    [note] = [parsed(m.data) for m in smtp_sink.wait_for(2) if m.rcpt_tos == (STAFF,)]
    local, _, domain = str(note["Reply-To"]).strip("<>").partition("@")
    forged_local = local[:-1] + ("a" if local[-1] != "a" else "b")

    answer = EmailMessage()
    answer["From"] = "Maria <maria@amphis.example>"
    answer["To"] = f"{forged_local}@{domain}"
    answer["Subject"] = f"Re: {note['Subject']}"
    answer["Message-ID"] = "<answer-forged@amphis.example>"
    answer["In-Reply-To"] = str(note["Message-ID"])
    answer.set_content("resolve\nHere is your license anyway.\n")
    append_all(dovecot, login, [bytes(answer).replace(b"\n", b"\r\n")])

    [taken] = worker.poll_once()
    assert taken.outcome is Outcome.ESCALATED and taken.reason is not None
    assert taken.reason.value == "staff_reply_refused"
    deliver_outbox(worker.deps)
    customer_mail = [m for m in smtp_sink.messages if m.rcpt_tos == (CUSTOMER,)]
    assert all(b"license anyway" not in m.data for m in customer_mail)
    assert [e.state for e in app.store.escalations(state=None)][0] == "open"
