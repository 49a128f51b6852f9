"""`mailbot doctor` checks against the real servers, and its file checks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mailbot.config import MailboxSettings, OutboxSettings, Settings, SigningSettings
from mailbot.doctor import Check, run_checks
from tests.servers.dovecot import DovecotServer
from tests.servers.smtp_sink import SmtpSink

pytestmark = pytest.mark.servers


def settings_for(tmp_path: Path, mailbox: MailboxSettings, outbox: OutboxSettings,
                 key_mode: int | None = 0o600) -> Settings:
    key = tmp_path / "keys" / "signing.pem"
    if key_mode is not None:
        key.parent.mkdir(parents=True, exist_ok=True)
        key.write_text("-----BEGIN PRIVATE KEY-----\n(test)\n-----END PRIVATE KEY-----\n")
        key.chmod(key_mode)
    return Settings(
        base_dir=tmp_path,
        mailbox=mailbox,
        outbox=outbox,
        signing=SigningSettings(private_key=key, public_keys=tmp_path / "keys" / "public"),
        store_path=tmp_path / "data" / "mailbot.db",
    )


def by_name(checks: list[Check]) -> dict[str, Check]:
    names = [c.name for c in checks]
    assert len(names) == len(set(names)), names
    return {c.name: c for c in checks}


def test_everything_fine(dovecot: DovecotServer, make_smtp_sink: Callable[..., SmtpSink],
                         monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    login, _ = dovecot.user("doctor")
    dovecot.append(login, "mailbot.escalated", b"Subject: x\r\n\r\nx\r\n")
    sink = make_smtp_sink(starttls=True, auth=True)
    monkeypatch.setenv("SSL_CERT_FILE", str(sink.ca_file))
    settings = settings_for(
        tmp_path,
        dovecot.mailbox_settings(login, security="starttls", sent_folder="Sent"),
        sink.outbox_settings(),
    )

    checks = by_name(run_checks(settings))

    assert all(c.ok for c in checks.values()), [c for c in checks.values() if not c.ok]
    assert set(checks) == {
        "imap login", "imap folder (inbox)", "imap folder (processed)",
        "imap folder (escalated)", "imap folder (ignored)", "imap folder (sent)",
        "smtp", "signing key", "store",
    }
    assert "IDLE" in checks["imap login"].detail and "MOVE" in checks["imap login"].detail
    assert checks["imap folder (escalated)"].detail == "mailbot.escalated exists"
    assert "will be created" in checks["imap folder (processed)"].detail
    assert "STARTTLS" in checks["smtp"].detail and "AUTH as mailbot" in checks["smtp"].detail
    assert "no mail sent" in checks["smtp"].detail
    assert sink.messages == []
    assert "will be created" in checks["store"].detail
    assert not (tmp_path / "data").exists()  # the doctor changes nothing
    client = dovecot.client(login)
    assert client.folder_exists("mailbot.processed") is False
    client.logout()


def test_failures_say_what_to_do(dovecot: DovecotServer, smtp_sink: SmtpSink,
                                 tmp_path: Path) -> None:
    login, _ = dovecot.user("doctorbad")
    wrong = tmp_path / "imap.password"
    wrong.write_text("wrong\n")
    smtp_sink.stop()
    settings = settings_for(
        tmp_path,
        dovecot.mailbox_settings(login, password_file=wrong),
        smtp_sink.outbox_settings(),
        key_mode=0o644,
    )
    (tmp_path / "data").write_text("a file where the store folder should be")

    checks = by_name(run_checks(settings))

    assert not any(c.ok for c in checks.values())
    assert "refused" in checks["imap login"].detail
    assert str(wrong) in checks["imap login"].detail
    assert "cannot connect to SMTP server" in checks["smtp"].detail
    assert "chmod 600" in checks["signing key"].detail
    assert "not a folder" in checks["store"].detail


def test_missing_pieces(dovecot: DovecotServer, smtp_sink: SmtpSink, tmp_path: Path) -> None:
    login, _ = dovecot.user("doctormissing")
    settings = settings_for(
        tmp_path,
        dovecot.mailbox_settings(login, folder="Support", move=False),
        smtp_sink.outbox_settings(security="starttls"),
        key_mode=None,
    )

    checks = by_name(run_checks(settings))

    assert checks["imap login"].ok and "$MailbotDone" in checks["imap login"].detail
    inbox = checks["imap folder (inbox)"]
    assert not inbox.ok and "fix [mailbox] folder" in inbox.detail and "INBOX" in inbox.detail
    assert "imap folder (processed)" not in checks  # move = false files nothing
    assert not checks["smtp"].ok and "STARTTLS" in checks["smtp"].detail
    assert not checks["signing key"].ok and "mailbot keys init" in checks["signing key"].detail


def test_imap_server_down(dovecot: DovecotServer, smtp_sink: SmtpSink, tmp_path: Path) -> None:
    settings = settings_for(
        tmp_path,
        MailboxSettings(kind="imap", host="127.0.0.1", port=smtp_sink.port, username="u",
                        password_env="UNUSED", security="none", timeout_seconds=2),
        smtp_sink.outbox_settings(),
    )
    smtp_sink.stop()  # nothing listens on that port any more
    checks = by_name(run_checks(settings))
    assert not checks["imap connection"].ok
    assert "cannot connect to IMAP server" in checks["imap connection"].detail


def test_local_backends(tmp_path: Path) -> None:
    maildir = tmp_path / "maildir"
    maildir.mkdir()
    settings = settings_for(
        tmp_path,
        MailboxSettings(kind="maildir", path=maildir),
        OutboxSettings(kind="directory", path=tmp_path / "outbox"),
    )
    checks = by_name(run_checks(settings))
    assert all(c.ok for c in checks.values()), checks
    missing = settings_for(
        tmp_path,
        MailboxSettings(kind="maildir", path=tmp_path / "nope"),
        OutboxSettings(kind="directory", path=tmp_path / "outbox"),
    )
    assert not by_name(run_checks(missing))["mailbox"].ok
