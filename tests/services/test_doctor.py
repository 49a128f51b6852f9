"""`mailbot doctor` checks against the real servers, and its local checks.

That doctor fails wherever `run --once` would fail is tests/cli/test_doctor.py.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mailbot.adapters.signing import init_key
from mailbot.app import App, build
from mailbot.config import from_dict
from mailbot.services.doctor import Check, run_checks
from tests.apps import DEMO, config_data
from tests.servers.dovecot import DovecotServer
from tests.servers.smtp_sink import SmtpSink


def by_name(checks: list[Check]) -> dict[str, Check]:
    names = [c.name for c in checks]
    assert len(names) == len(set(names)), names
    return {c.name: c for c in checks}


@pytest.fixture
def doctor_app(tmp_path: Path) -> Iterator[Callable[..., App]]:
    """doctor_app(key=True, **sections) -> an App over tmp_path with the demo orders; the
    sections replace the defaults of tests/apps.py (a dict per section)."""
    made: list[App] = []

    def make(key: bool = True, **sections: dict[str, Any]) -> App:
        shutil.copy(DEMO / "orders.csv", tmp_path / "orders.csv")
        (tmp_path / "maildir").mkdir(exist_ok=True)
        data = config_data()
        for name, values in sections.items():
            data[name] = values
        settings = from_dict(data, tmp_path, config_path=tmp_path / "mailbot.toml")
        if key:
            init_key(settings.signing.private_key, settings.signing.public_keys, None)
        app = build(settings)
        made.append(app)
        return app

    yield make
    for app in made:
        app.close()


def imap(dovecot: DovecotServer, login: str, **extra: Any) -> dict[str, Any]:
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


def smtp(sink: SmtpSink, **extra: Any) -> dict[str, Any]:
    security = "tls" if sink.implicit_tls else "starttls" if sink.starttls else "none"
    values: dict[str, Any] = {
        "kind": "smtp",
        "host": sink.host,
        "port": sink.port,
        "security": security,
        "from_address": "support@amphis.example",
        "timeout_seconds": 5,
    }
    if sink.username:
        values.update(username=sink.username, password_file=str(sink.password_file))
    return {**values, **extra}


LOCAL = {
    "config",
    "template issued",
    "template resent",
    "template renewed",
    "template transferred",
    "template awaiting_payment",
    "template clarify",
    "template escalated",
    "template licenses_list",
    "template released",
    "template staff_reply",
    "template staff_notification",
    "template staff_digest",
    # Every customer-facing template is rendered in German too.
    "template de/issued",
    "template de/resent",
    "template de/transferred",
    "template de/awaiting_payment",
    "template de/clarify",
    "template de/escalated",
    "template de/staff_reply",
    "template de/renewed",
    "template de/licenses_list",
    "template de/released",
    "signing key",
    "orders",
    "store",
    "store folder",
}


@pytest.mark.servers
def test_everything_fine(
    dovecot: DovecotServer,
    make_smtp_sink: Callable[..., SmtpSink],
    monkeypatch: pytest.MonkeyPatch,
    doctor_app: Callable[..., App],
    tmp_path: Path,
) -> None:
    login, _ = dovecot.user("doctor")
    dovecot.append(login, "mailbot.escalated", b"Subject: x\r\n\r\nx\r\n")
    sink = make_smtp_sink(starttls=True, auth=True)
    monkeypatch.setenv("SSL_CERT_FILE", str(sink.ca_file))
    app = doctor_app(
        mailbox=imap(dovecot, login, security="starttls", sent_folder="Sent"), outbox=smtp(sink)
    )

    checks = by_name(run_checks(app))

    assert all(c.ok for c in checks.values()), [c for c in checks.values() if not c.ok]
    assert set(checks) == LOCAL | {
        "imap login",
        "imap folder (inbox)",
        "imap folder (processed)",
        "imap folder (escalated)",
        "imap folder (ignored)",
        "imap folder (sent)",
        "smtp",
    }
    assert "IDLE" in checks["imap login"].detail and "MOVE" in checks["imap login"].detail
    assert checks["imap folder (escalated)"].detail == "mailbot.escalated exists"
    assert "will be created" in checks["imap folder (processed)"].detail
    assert "STARTTLS" in checks["smtp"].detail and "AUTH as mailbot" in checks["smtp"].detail
    assert "no mail sent" in checks["smtp"].detail
    assert sink.messages == []
    assert "signs, and the signature verifies" in checks["signing key"].detail
    assert "6 order(s)" in checks["orders"].detail or "order(s)" in checks["orders"].detail
    assert "will be created" in checks["store"].detail
    assert not (tmp_path / "mailbot.db").exists()  # the doctor changes nothing
    client = dovecot.client(login)
    assert client.folder_exists("mailbot.processed") is False
    client.logout()


@pytest.mark.servers
def test_failures_say_what_to_do(
    dovecot: DovecotServer, smtp_sink: SmtpSink, doctor_app: Callable[..., App], tmp_path: Path
) -> None:
    login, _ = dovecot.user("doctorbad")
    wrong = tmp_path / "imap.password"
    wrong.write_text("wrong\n")
    wrong.chmod(0o600)
    smtp_sink.stop()
    (tmp_path / "data").write_text("a file where the store folder should be")
    app = doctor_app(
        mailbox=imap(dovecot, login, password_file=str(wrong)),
        outbox=smtp(smtp_sink),
        store={"path": "data/mailbot.db"},
    )
    (tmp_path / "keys" / "signing.pem").chmod(0o644)

    checks = by_name(run_checks(app))

    for name in ("imap login", "smtp", "signing key", "store folder"):
        assert not checks[name].ok, checks[name]
    assert "refused" in checks["imap login"].detail
    assert str(wrong) in checks["imap login"].detail
    assert "cannot connect to SMTP server" in checks["smtp"].detail
    assert "chmod 600" in checks["signing key"].detail
    assert "not a folder" in checks["store folder"].detail


@pytest.mark.servers
def test_missing_pieces(
    dovecot: DovecotServer, smtp_sink: SmtpSink, doctor_app: Callable[..., App]
) -> None:
    login, _ = dovecot.user("doctormissing")
    app = doctor_app(
        key=False,
        mailbox=imap(dovecot, login, folder="Support", move=False),
        outbox=smtp(smtp_sink, security="starttls"),
    )

    checks = by_name(run_checks(app))

    assert checks["imap login"].ok and "$MailbotDone" in checks["imap login"].detail
    inbox = checks["imap folder (inbox)"]
    assert not inbox.ok and "fix [mailbox] folder" in inbox.detail and "INBOX" in inbox.detail
    assert "imap folder (processed)" not in checks  # move = false files nothing
    assert not checks["smtp"].ok and "STARTTLS" in checks["smtp"].detail
    assert not checks["signing key"].ok and "mailbot keys init" in checks["signing key"].detail


@pytest.mark.servers
def test_imap_server_down(
    smtp_sink: SmtpSink, doctor_app: Callable[..., App], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCTOR_UNUSED", "x")
    app = doctor_app(
        mailbox={
            "kind": "imap",
            "host": "127.0.0.1",
            "port": smtp_sink.port,
            "username": "u",
            "password_env": "DOCTOR_UNUSED",
            "security": "none",
            "timeout_seconds": 2,
        },
        outbox=smtp(smtp_sink),
    )
    smtp_sink.stop()  # nothing listens on that port any more
    checks = by_name(run_checks(app))
    assert not checks["imap connection"].ok
    assert "cannot connect to IMAP server" in checks["imap connection"].detail


def test_local_backends(doctor_app: Callable[..., App], tmp_path: Path) -> None:
    checks = by_name(run_checks(doctor_app()))
    assert all(c.ok for c in checks.values()), checks
    assert set(checks) == LOCAL | {"mailbox", "outbox"}
    assert "shipped" in checks["template issued"].detail


def test_an_override_that_renders_is_named(doctor_app: Callable[..., App], tmp_path: Path) -> None:
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "issued.txt").write_text("Subject: Yours\n{{ results[0].serial }}\n")
    checks = by_name(run_checks(doctor_app(templates={"path": "tpl"})))
    assert checks["template issued"].ok and "overridden" in checks["template issued"].detail
    assert "shipped" in checks["template resent"].detail
