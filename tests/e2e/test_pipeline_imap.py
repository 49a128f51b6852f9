"""End to end on the production backends: IMAP in (a private Dovecot), SMTP out (aiosmtpd).

The same pipeline as tests/e2e/test_pipeline_maildir.py, wired by app.build() from settings
that point at the real servers, plus what only real servers do to it: folders to file mail in,
a UIDVALIDITY change, a restart in the middle of a batch, 4xx and 5xx answers, an SMTP outage,
a bounce of one of our replies, IDLE, and `mailbot doctor` against both servers.
"""

from __future__ import annotations

import email
import email.policy
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mailbot.adapters.mailboxes.imap import fetching
from mailbot.adapters.signing import init_key, load_public_keys
from mailbot.app import App, build
from mailbot.config import from_dict
from mailbot.core.license_format import InvalidLicense, verify_license
from mailbot.core.model import Outcome, Reason
from mailbot.services import shared_mailbox
from mailbot.services.delivery import deliver_outbox
from mailbot.services.doctor import run_checks
from mailbot.services.orders import refresh_local_orders
from mailbot.services.worker import Worker
from mailbot.store import parse_iso
from tests.apps import DEMO, REPO, run_command, settings_for, write_config
from tests.clock import FrozenClock
from tests.db import one, query
from tests.e2e.test_pipeline_maildir import DEMO_OUTCOMES, licenses_in
from tests.mailgen import make_corpus
from tests.servers.dovecot import DovecotServer
from tests.servers.smtp_sink import Received, SmtpSink

pytestmark = pytest.mark.servers

BIG = 10 * 1024 * 1024
STAFF = "licensing-team@amphis.example"
# Dovecot's Maildir++ layout uses "." for hierarchy: config "mailbot/processed" lives there as
# "mailbot.processed".
PROCESSED, ESCALATED, IGNORED = "mailbot.processed", "mailbot.escalated", "mailbot.ignored"
FOLDER_OF = {
    "issued": PROCESSED,
    "resent": PROCESSED,
    "transferred": PROCESSED,
    "awaiting_payment": PROCESSED,
    "clarify": PROCESSED,
    "staff_reply": PROCESSED,
    "escalated": ESCALATED,
    "ignored": IGNORED,
}


# -- building blocks ----------------------------------------------------------------------------


def imap_section(dovecot: DovecotServer, login: str, **extra: Any) -> dict[str, Any]:
    """[mailbox] for this Dovecot user, as it would stand in a config file."""
    return {
        "kind": "imap",
        "host": dovecot.host,
        "port": dovecot.port,
        "username": login,
        "password_file": str(dovecot.password_file(login)),
        "security": "none",
        "timeout_seconds": 5,
        **extra,
    }


def smtp_section(sink: SmtpSink, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "smtp",
        "host": sink.host,
        "port": sink.port,
        "security": "none",
        "timeout_seconds": 5,
        **extra,
    }


@pytest.fixture
def imap_app(dovecot: DovecotServer) -> Iterator[Callable[..., App]]:
    """imap_app(base, login, sink, clock=None, orders_csv=None, **sections) -> App over the real
    servers, closed after the test. Building twice on one base is a restart: same store."""
    made: list[App] = []

    def make(
        base: Path,
        login: str,
        sink: SmtpSink,
        *,
        clock: FrozenClock | None = None,
        orders_csv: str | None = None,
        mailbox: dict[str, Any] | None = None,
        **sections: dict[str, Any],
    ) -> App:
        base.mkdir(parents=True, exist_ok=True)
        if orders_csv is not None:
            (base / "orders.csv").write_text(orders_csv)
        elif not (base / "orders.csv").exists():
            shutil.copy(DEMO / "orders.csv", base / "orders.csv")
        settings = settings_for(
            base,
            mailbox=imap_section(dovecot, login, **(mailbox or {})),
            outbox=smtp_section(sink),
            **sections,
        )
        init_key(settings.signing.private_key, settings.signing.public_keys, None)
        app = build(settings, clock=clock)
        made.append(app)
        return app

    yield make
    for app in made:
        app.close()


def demo_mails() -> list[bytes]:
    """The demo mails in arrival order, with the CRLF line ends IMAP speaks."""
    paths = sorted((DEMO / "maildir" / "new").glob("1*"))
    return [p.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") for p in paths]


def append_all(
    dovecot: DovecotServer, login: str, mails: list[bytes], folder: str = "INBOX"
) -> None:
    """APPEND over one connection, in order (so UID order is arrival order)."""
    client = dovecot.client(login, timeout=30)
    try:
        if not client.folder_exists(folder):
            client.create_folder(folder)
        for raw in mails:
            client.append(folder, raw)
    finally:
        client.logout()


def message_ids_in(dovecot: DovecotServer, login: str) -> dict[str, list[str]]:
    """Message-IDs (without <>) of the mail in each of the user's folders."""
    client = dovecot.client(login)
    found: dict[str, list[str]] = {}
    try:
        for flags, _, name in client.list_folders():
            if b"\\Noselect" in flags or b"\\NonExistent" in flags:
                continue  # a parent in the hierarchy ("mailbot"), holding no mail itself
            client.select_folder(name, readonly=True)
            uids = client.search(["ALL"])
            data = client.fetch(uids, ["ENVELOPE"]) if uids else {}
            found[str(name)] = [
                (data[u][b"ENVELOPE"].message_id or b"").decode().strip("<>") for u in sorted(data)
            ]
    finally:
        client.logout()
    return found


def message_id_of(received: Received) -> str:
    msg = email.message_from_bytes(received.data, policy=email.policy.default)
    return str(msg["Message-ID"]).strip("<>")


def received_licenses(received: list[Received], folder: Path) -> list[tuple[str, str, str]]:
    """(recipient, serial, license) in what the SMTP server got, read like an outbox folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for n, message in enumerate(received):
        (folder / f"{n:05d}.eml").write_bytes(message.data)
    return licenses_in(folder)


def outbox_rows(app: App) -> list[dict[str, Any]]:
    return query(
        app.store,
        "SELECT id, message_id, kind, to_addr, state, attempts, last_error, "
        "next_attempt_at, message_row FROM outbox ORDER BY id",
    )


def dsn_for(message_id: str, recipient: str) -> bytes:
    """A Postfix-style delivery status notification returning the headers of our reply."""
    return (
        "Return-Path: <>\r\n"
        "From: MAILER-DAEMON@mx.northwind.example (Mail Delivery System)\r\n"
        "To: support@amphis.example\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Date: Mon, 30 Nov 2026 09:10:05 +0100\r\n"
        "Message-ID: <dsn-1@mx.northwind.example>\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\r\n'
        "\r\n"
        "--b1\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
        "Your message could not be delivered to one or more recipients.\r\n\r\n"
        f"<{recipient}>: host mx.northwind.example said: 550 5.1.1 User unknown\r\n\r\n"
        "--b1\r\n"
        "Content-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.northwind.example\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\n"
        "Action: failed\r\n"
        "Status: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 User unknown\r\n\r\n"
        "--b1\r\n"
        "Content-Type: text/rfc822-headers\r\n\r\n"
        "From: Amphis Customer support <support@amphis.example>\r\n"
        f"To: {recipient}\r\n"
        "Subject: Your Amphis Customer license\r\n"
        f"Message-ID: <{message_id}>\r\n"
        "Auto-Submitted: auto-replied\r\n\r\n"
        "--b1--\r\n"
    ).encode()


def run_cli(config: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`python -m mailbot` as a real process, for the tests that must prove one: the quick
    start below (the one run of real processes; tests/e2e/test_pipeline_maildir.py runs its
    commands in this process) and the service's setup."""
    # Wide enough that rich never wraps a path or a sentence the test looks for.
    env = {**os.environ, "COLUMNS": "400"}
    return subprocess.run(
        [sys.executable, "-m", "mailbot", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


# -- the demo, over real servers ----------------------------------------------------------------


def test_demo_flow_over_imap_and_smtp(
    dovecot: DovecotServer, smtp_sink: SmtpSink, imap_app: Callable[..., App], tmp_path: Path
) -> None:
    login, _ = dovecot.user("demo")
    append_all(dovecot, login, demo_mails())
    app = imap_app(
        tmp_path, login, smtp_sink, orders={"payment_link": "https://buy.stripe.com/test_demo"}
    )
    worker = Worker(app)

    processed = worker.poll_once()
    report = deliver_outbox(worker.deps)

    got = [(p.sender, p.outcome.value, p.reason.value if p.reason else None) for p in processed]
    assert got == DEMO_OUTCOMES
    assert report.failed == 0 and report.retrying == 0 and not report.blocked
    rows = outbox_rows(app)
    assert report.sent == len(rows) and {r["state"] for r in rows} == {"sent"}
    received = smtp_sink.wait_for(report.sent)
    assert len(received) == report.sent
    # Each row went out once, under the Message-ID the outbox stored for it.
    assert sorted(message_id_of(m) for m in received) == sorted(r["message_id"] for r in rows)
    assert all(m.mail_from == "support@amphis.example" for m in received)
    replies = [m for m in received if m.rcpt_tos != (STAFF,)]
    assert len(replies) == 13

    publics = load_public_keys(app.settings.signing.public_keys)
    licenses = received_licenses(received, tmp_path / "received")
    assert len(licenses) == 11  # 9 issued + 1 re-sent + 1 transferred
    for _, serial, string in licenses:
        assert (
            verify_license(string, serial=serial, public_keys=publics, product_code="AMC").serial
            == serial
        )
        other = next(s for _, s, _ in licenses if s != serial)
        with pytest.raises(InvalidLicense):
            verify_license(string, serial=other, public_keys=publics, product_code="AMC")

    # Every mail was filed in the folder of its outcome; none is left in INBOX.
    folders = message_ids_in(dovecot, login)
    assert folders["INBOX"] == []
    stored = query(app.store, "SELECT message_id, outcome FROM messages ORDER BY id")
    expected: dict[str, list[str]] = {}
    for m in stored:
        expected.setdefault(FOLDER_OF[m["outcome"]], []).append(m["message_id"])
    for folder, ids in expected.items():
        assert sorted(folders[folder]) == sorted(ids), folder
    assert Counter({f: len(ids) for f, ids in expected.items()}) == Counter(
        {PROCESSED: 10, ESCALATED: 3, IGNORED: 2}
    )

    # A second pass finds nothing and sends nothing.
    assert worker.poll_once() == []
    assert deliver_outbox(worker.deps).sent == 0
    assert len(smtp_sink.messages) == len(received)


def test_quick_start_commands_with_an_imap_and_smtp_config(
    dovecot: DovecotServer, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """The quick start as a person types it, each command a real process (exit codes, stdout
    and stderr of `python -m mailbot`), against real servers."""
    login, _ = dovecot.user("quick")
    append_all(dovecot, login, demo_mails())
    config = write_config(
        tmp_path,
        mailbox=imap_section(dovecot, login),
        outbox=smtp_section(smtp_sink),
        orders={"payment_link": "https://buy.stripe.com/test_x"},
    )
    assert run_cli(config, "keys", "init").returncode == 0

    first = run_cli(config, "run", "--once")
    assert first.returncode == 0, first.stderr
    assert "15 mail(s) processed" in first.stdout and "mail sent:" in first.stdout
    listed = run_cli(config, "messages", "list", "--json")
    assert [
        (m["sender"], m["outcome"], m["reason"]) for m in json.loads(listed.stdout)
    ] == DEMO_OUTCOMES
    again = run_cli(config, "run", "--once", "--json")
    assert json.loads(again.stdout)["processed"] == [] and json.loads(again.stdout)["sent"] == 0

    _, serial, string = received_licenses(smtp_sink.messages, tmp_path / "received")[0]
    ok = run_cli(config, "license", "verify", "--serial", serial, string)
    assert ok.returncode == 0 and ok.stdout.startswith("valid"), ok.stdout + ok.stderr
    assert message_ids_in(dovecot, login)["INBOX"] == []


# -- the mailbox changing under us --------------------------------------------------------------


def test_uidvalidity_change_between_decision_and_move(
    dovecot: DovecotServer, smtp_sink: SmtpSink, imap_app: Callable[..., App], tmp_path: Path
) -> None:
    login, _ = dovecot.user("validity")
    demo = demo_mails()
    first_three, later = demo[:3], demo[4]  # three new licenses; then Fabrikam's first
    append_all(dovecot, login, first_three, folder="support")
    app = imap_app(tmp_path, login, smtp_sink, mailbox={"folder": "support"})
    worker = Worker(app)
    refresh_local_orders(app)
    # Decided and committed, then the worker dies before filing anything.
    decided = [worker.process(f) for f in app.mailbox.fetch_new(BIG)]
    assert [p.outcome for p in decided] == [Outcome.ISSUED] * 3
    old_keys = {r["mailbox_key"] for r in query(app.store, "SELECT mailbox_key FROM messages")}
    app.close()

    # Meanwhile the folder is restored from a backup: same mail, new UIDVALIDITY; one new mail.
    admin = dovecot.client(login)
    admin.delete_folder("support")
    admin.logout()
    append_all(dovecot, login, [*first_three, later], folder="support")

    restarted = imap_app(tmp_path, login, smtp_sink, mailbox={"folder": "support"})
    worker = Worker(restarted)
    processed = worker.poll_once()
    deliver_outbox(worker.deps)

    assert [p.already_done for p in processed] == [True, True, True, False]
    rows = query(
        restarted.store, "SELECT message_id, mailbox_key, mailbox_done FROM messages ORDER BY id"
    )
    assert len(rows) == 4  # ONE row per mail: the decided ones were re-keyed, not re-decided
    assert len({r["message_id"] for r in rows}) == 4
    assert not old_keys & {r["mailbox_key"] for r in rows}
    assert all(r["mailbox_done"] == 1 for r in rows)
    assert one(restarted.store, "SELECT count(*) AS n FROM licenses")["n"] == 4  # type: ignore[index]
    folders = message_ids_in(dovecot, login)
    assert folders["support"] == [] and len(folders[PROCESSED]) == 4
    assert worker.poll_once() == []


def test_dovecot_restarted_mid_batch(
    dovecot: DovecotServer,
    smtp_sink: SmtpSink,
    imap_app: Callable[..., App],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    corpus = make_corpus(80, seed=5, customers=12, seats=10)
    login, _ = dovecot.user("restart")
    append_all(dovecot, login, corpus.mails)
    app = imap_app(tmp_path, login, smtp_sink, orders_csv=corpus.orders_csv)
    worker = Worker(app)
    original = worker._prepare
    calls = 0
    # Bodies 25 at a time, fetched at most 5 mails ahead of the worker: when the server goes,
    # decided mail waits to be filed (moves go in groups of up to 50) and the next bodies are
    # still on the server.
    monkeypatch.setattr(fetching, "BODY_CHUNK_COUNT", 25)
    monkeypatch.setattr(shared_mailbox, "PREFETCH_DEPTH", 5)

    def prepare(fetched: Any, *rest: Any, **kw: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 40:
            dovecot.restart()
        return original(fetched, *rest, **kw)

    monkeypatch.setattr(worker, "_prepare", prepare)
    with caplog.at_level(logging.INFO, logger="mailbot.adapters.mailboxes.imap"):
        processed = worker.poll_once()
        processed += worker.poll_once()  # whatever the outage left behind, if anything
    deliver_outbox(worker.deps)

    assert calls >= 80 and dovecot.running
    said = [r.getMessage() for r in caplog.records]
    assert any("lost" in m for m in said) and any("restored" in m for m in said), said
    new = [p for p in processed if not p.already_done]
    assert len(new) == 80
    rows = query(app.store, "SELECT message_id, mailbox_done, reason FROM messages")
    assert len(rows) == 80 and len({r["message_id"] for r in rows}) == 80
    assert all(r["mailbox_done"] == 1 for r in rows)
    assert not [r for r in rows if r["reason"] == "internal_error"]
    serials = Counter(r["serial"] for r in query(app.store, "SELECT serial FROM licenses"))
    assert serials and max(serials.values()) == 1
    assert message_ids_in(dovecot, login)["INBOX"] == []
    delivered = {s for _, s, _ in received_licenses(smtp_sink.messages, tmp_path / "received")}
    assert set(serials) <= delivered


# -- SMTP answering back ------------------------------------------------------------------------


def _frozen() -> FrozenClock:
    return FrozenClock(datetime.now(UTC).replace(microsecond=0))


def test_smtp_451_then_250_after_the_backoff(
    dovecot: DovecotServer, smtp_sink: SmtpSink, imap_app: Callable[..., App], tmp_path: Path
) -> None:
    login, _ = dovecot.user("tempfail")
    append_all(dovecot, login, demo_mails()[:1])
    clock = _frozen()
    app = imap_app(tmp_path, login, smtp_sink, clock=clock)
    worker = Worker(app)
    assert [p.outcome for p in worker.poll_once()] == [Outcome.ISSUED]

    smtp_sink.fail_next(1, code=451)
    first = deliver_outbox(worker.deps)
    assert (first.sent, first.retrying, first.failed) == (0, 1, 0)
    [row] = outbox_rows(app)
    assert row["state"] == "pending" and row["attempts"] == 1
    assert row["last_error"].startswith("451")
    assert parse_iso(row["next_attempt_at"]) == clock.now() + timedelta(minutes=1)
    assert smtp_sink.messages == []

    clock.advance(seconds=59)
    assert deliver_outbox(worker.deps).sent == 0  # not due yet: no attempt at all
    clock.advance(seconds=1)
    second = deliver_outbox(worker.deps)
    assert (second.sent, second.retrying, second.failed) == (1, 0, 0)
    [received] = smtp_sink.wait_for(1)
    [row] = outbox_rows(app)
    assert row["state"] == "sent" and row["attempts"] == 2 and row["last_error"] is None
    assert message_id_of(received) == row["message_id"]  # the same mail, retried
    assert received.rcpt_tos == ("alice@northwind.example",)


def test_smtp_down_for_a_while_then_the_outbox_drains(
    dovecot: DovecotServer, smtp_sink: SmtpSink, imap_app: Callable[..., App], tmp_path: Path
) -> None:
    login, _ = dovecot.user("smtpdown")
    append_all(dovecot, login, demo_mails()[:3])
    clock = _frozen()
    app = imap_app(tmp_path, login, smtp_sink, clock=clock)
    worker = Worker(app)
    assert len(worker.poll_once()) == 3

    smtp_sink.stop()
    assert deliver_outbox(worker.deps).retrying == 3
    clock.advance(minutes=1)
    assert deliver_outbox(worker.deps).retrying == 3  # still down: backoff doubles
    assert {(r["state"], r["attempts"]) for r in outbox_rows(app)} == {("pending", 2)}
    assert all(
        parse_iso(r["next_attempt_at"]) == clock.now() + timedelta(minutes=2)
        for r in outbox_rows(app)
    )
    assert all("cannot connect" in r["last_error"] for r in outbox_rows(app))

    smtp_sink.start()
    clock.advance(minutes=1)
    assert deliver_outbox(worker.deps).sent == 0  # back, but nothing is due yet
    clock.advance(minutes=1)
    drained = deliver_outbox(worker.deps)
    assert (drained.sent, drained.retrying, drained.failed) == (3, 0, 0)
    received = smtp_sink.wait_for(3)
    rows = outbox_rows(app)
    assert {r["state"] for r in rows} == {"sent"}
    assert sorted(message_id_of(m) for m in received) == sorted(r["message_id"] for r in rows)
    assert sorted(m.rcpt_tos[0] for m in received) == sorted(r["to_addr"] for r in rows)


def test_smtp_550_fails_the_reply_and_escalates(
    dovecot: DovecotServer, smtp_sink: SmtpSink, imap_app: Callable[..., App], tmp_path: Path
) -> None:
    login, _ = dovecot.user("permfail")
    append_all(dovecot, login, demo_mails()[1:2])  # Bob: a new license
    clock = _frozen()
    app = imap_app(tmp_path, login, smtp_sink, clock=clock)
    worker = Worker(app)
    [mail] = worker.poll_once()
    assert mail.outcome is Outcome.ISSUED
    smtp_sink.reject("bob@contoso.example", code=550)

    report = deliver_outbox(worker.deps)

    assert report.failed == 1 and any(e.startswith("550") for e in report.errors)
    reply = next(r for r in outbox_rows(app) if r["kind"] == "reply")
    assert reply["state"] == "failed" and reply["attempts"] == 1
    [esc] = query(app.store, "SELECT reason, state, message_row, detail FROM escalations")
    assert (esc["reason"], esc["state"]) == (Reason.REPLY_BOUNCED.value, "open")
    assert esc["message_row"] == mail.message_row and "550" in esc["detail"]
    # Staff hear of it by mail (sent in the same delivery run); the customer's reply is not
    # tried again.
    staff = [m for m in smtp_sink.wait_for(1) if m.rcpt_tos == (STAFF,)]
    assert len(staff) == 1
    clock.advance(hours=2)
    assert deliver_outbox(worker.deps).sent == 0
    assert [m.rcpt_tos for m in smtp_sink.messages] == [(STAFF,)]


def test_a_bounce_of_our_reply_marks_it_bounced_and_escalates(
    dovecot: DovecotServer, smtp_sink: SmtpSink, imap_app: Callable[..., App], tmp_path: Path
) -> None:
    login, _ = dovecot.user("dsn")
    append_all(dovecot, login, demo_mails()[:1])
    app = imap_app(tmp_path, login, smtp_sink)
    worker = Worker(app)
    worker.poll_once()
    assert deliver_outbox(worker.deps).sent == 1
    [ours] = smtp_sink.wait_for(1)
    our_id = message_id_of(ours)

    append_all(dovecot, login, [dsn_for(our_id, "alice@northwind.example")])
    [bounce] = worker.poll_once()
    report = deliver_outbox(worker.deps)

    assert (bounce.outcome, bounce.reason) == (Outcome.ESCALATED, Reason.REPLY_BOUNCED)
    reply = one(app.store, "SELECT state, last_error FROM outbox WHERE message_id = ?", [our_id])
    assert reply is not None and reply["state"] == "bounced"
    assert "dsn-1@mx.northwind.example" in reply["last_error"]
    escalations = query(app.store, "SELECT reason, message_row FROM escalations")
    assert escalations == [{"reason": "reply_bounced", "message_row": bounce.message_row}]
    # Never answered: the only new mail is the staff notification.
    assert report.sent == 1
    assert [m.rcpt_tos for m in smtp_sink.wait_for(2)[1:]] == [(STAFF,)]
    assert not query(app.store, "SELECT id FROM outbox WHERE to_addr LIKE '%mailer-daemon%'")
    folders = message_ids_in(dovecot, login)
    assert folders[ESCALATED] == ["dsn-1@mx.northwind.example"] and folders["INBOX"] == []


# -- the commands against the servers -----------------------------------------------------------


def test_doctor_command(dovecot: DovecotServer, smtp_sink: SmtpSink, tmp_path: Path) -> None:
    login, _ = dovecot.user("doctorcli")
    good = write_config(
        tmp_path / "good", mailbox=imap_section(dovecot, login), outbox=smtp_section(smtp_sink)
    )
    assert run_command(good, "keys", "init").returncode == 0
    out = run_command(good, "doctor")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "FAIL" not in out.stdout
    assert f"logged in to IMAP {dovecot.host}:{dovecot.port} as {login}" in out.stdout
    assert "no mail sent" in out.stdout and smtp_sink.messages == []

    wrong = tmp_path / "wrong.password"
    wrong.write_text("not-the-password\n")
    wrong.chmod(0o600)
    bad = write_config(
        tmp_path / "bad",
        mailbox=imap_section(dovecot, login, password_file=str(wrong)),
        outbox=smtp_section(smtp_sink),
    )
    assert run_command(bad, "keys", "init").returncode == 0
    out = run_command(bad, "doctor")
    assert out.returncode == 1
    assert "FAIL imap login" in out.stdout and "refused" in out.stdout
    assert str(wrong) in out.stdout  # says which secret to check
    assert "not-the-password" not in out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr


@pytest.mark.slow
def test_run_as_a_service_answers_through_idle_and_stops_on_sigterm(
    dovecot: DovecotServer, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    login, _ = dovecot.user("service")
    demo = demo_mails()
    # A real process (not CliRunner): it runs until SIGTERM and must exit 0 by itself.
    # poll_seconds is long: only IDLE can bring the mail in within seconds.
    config = write_config(
        tmp_path,
        mailbox=imap_section(dovecot, login, poll_seconds=600),
        outbox=smtp_section(smtp_sink),
    )
    assert run_cli(config, "keys", "init").returncode == 0
    service = subprocess.Popen(
        [sys.executable, "-m", "mailbot", "--config", str(config), "--log-level", "info", "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    latencies = []
    try:
        # The service has logged in (and is about to IDLE) when Dovecot logs the login.
        deadline = time.monotonic() + 20
        while f"Login: user=<{login}>" not in dovecot.log():
            assert service.poll() is None, service.communicate()[1]
            assert time.monotonic() < deadline, "the service never logged in to Dovecot"
            time.sleep(0.05)
        for n, raw in enumerate(demo[:2], start=1):
            # Append while the service sits in IDLE: the mail job is re-armed every second.
            # (Dovecot reports mail that lands between two IDLEs only at the next DONE, up to
            # a wait slice later; that is a gap of the adapter, not what this test measures.)
            time.sleep(1.5)
            appended = time.monotonic()
            append_all(dovecot, login, [raw])
            smtp_sink.wait_for(n, timeout=10)
            latencies.append(time.monotonic() - appended)
        assert service.poll() is None
    finally:
        service.send_signal(signal.SIGTERM)
        out, err = service.communicate(timeout=30)
    assert max(latencies) < 2.5, f"seconds from APPEND to the reply: {latencies}"
    assert service.returncode == 0, err
    assert "worker stopped" in err and "Traceback" not in err
    assert [m.rcpt_tos for m in smtp_sink.messages] == [
        ("alice@northwind.example",),
        ("bob@contoso.example",),
    ]
    assert message_ids_in(dovecot, login)["INBOX"] == []


def test_the_commented_imap_and_smtp_example_in_config_example_works(
    dovecot: DovecotServer, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Uncomment the IMAP and SMTP examples of config.example.toml, point them at the test
    servers, and run the Quick start mail through them: every setting name there is real."""
    text = (REPO / "config.example.toml").read_text()
    data = tomllib.loads(text)
    for section in ("mailbox", "outbox"):
        body = text.split(f"[{section}]", 1)[1].split("\n[", 1)[0]
        example = body.split("# ---", 1)[1]
        lines = [m.group(1) for m in re.finditer(r"^# (\w+ = .*)$", example, re.M)]
        assert len(lines) >= 5, section
        data[section].update(tomllib.loads("\n".join(lines)))
        data[section].pop("path", None)
    assert data["mailbox"]["kind"] == "imap" and data["outbox"]["kind"] == "smtp"
    login, password = dovecot.user("example")
    monkeypatch.setenv(data["mailbox"]["password_env"], password)
    data["mailbox"].update(host=dovecot.host, port=dovecot.port, username=login, security="none")
    # The example SMTP account logs in: this sink has no AUTH, so that part stays out.
    data["outbox"].update(host=smtp_sink.host, port=smtp_sink.port, security="none", username="")
    data["orders"] = {"kind": "csv", "path": "orders.csv"}
    data["store"] = {"path": "mailbot.db"}
    data["signing"] = {"private_key": "keys/signing.pem", "public_keys": "keys/public"}
    shutil.copy(DEMO / "orders.csv", tmp_path / "orders.csv")
    settings = from_dict(data, tmp_path)
    init_key(settings.signing.private_key, settings.signing.public_keys, None)
    app = build(settings)
    try:
        checks = run_checks(app)
        assert all(c.ok for c in checks), [c for c in checks if not c.ok]
        append_all(dovecot, login, demo_mails()[:1])
        worker = Worker(app)
        assert [p.outcome for p in worker.poll_once()] == [Outcome.ISSUED]
        assert deliver_outbox(worker.deps).sent == 1
    finally:
        app.close()
    [reply] = smtp_sink.wait_for(1)
    assert reply.rcpt_tos == ("alice@northwind.example",)
    folders = message_ids_in(dovecot, login)
    assert folders["INBOX"] == [] and len(folders[PROCESSED]) == 1
    assert len(folders["Sent"]) == 1  # sent_folder = "Sent" in the example


def test_a_long_pass_fetches_in_its_own_process_and_decides_as_one_without(
    dovecot: DovecotServer,
    smtp_sink: SmtpSink,
    imap_app: Callable[..., App],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The fetch process reads the folder on a connection of its own (EXAMINE) while the
    worker's moves the mail it decided: every mail is decided once, filed, and as it would be
    with the worker fetching alone."""
    from mailbot.services import mail_feed

    # 45 mails: the demo's three times over, each copy with a Message-ID of its own.
    mails = [
        re.sub(rb"(?im)^(message-id:\s*<)", rb"\g<1>%d." % n, raw, count=1)
        for n in range(3)
        for raw in demo_mails()
    ]
    assert len({re.search(rb"(?im)^message-id:.*$", m).group(0) for m in mails}) == 45

    def run(name: str, after: int) -> list[tuple[str, str, str | None]]:
        monkeypatch.setattr(mail_feed, "FETCH_PROCESS_AFTER", after)
        login, _ = dovecot.user(name)
        append_all(dovecot, login, mails)
        worker = Worker(imap_app(tmp_path / name, login, smtp_sink))
        done = worker.poll_once()
        assert len({p.key for p in done}) == len(done) == len(mails)
        assert message_ids_in(dovecot, login)["INBOX"] == []
        return [(p.sender, p.outcome.value, p.reason.value if p.reason else None) for p in done]

    assert run("alone", 1000) == run("two", 4)
