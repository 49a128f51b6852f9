"""`mailbot doctor` checks against the real servers, and its local checks.

Doctor must fail wherever `run --once` would fail: `test_doctor_fails_wherever_run_fails`
breaks one thing at a time and runs both commands on the same config.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mailbot.adapters.signing import init_key
from mailbot.app import App, build
from mailbot.config import from_dict
from mailbot.services.doctor import Check, run_checks
from tests.apps import DEMO, config_data, write_config
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
    "template transferred",
    "template awaiting_payment",
    "template clarify",
    "template escalated",
    "template staff_reply",
    "template staff_notification",
    "template staff_digest",
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


# -- doctor fails wherever `run --once` fails ---------------------------------------------------


def _cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "400"}
    return subprocess.run(
        [sys.executable, "-m", "mailbot", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def _broken_template(base: Path) -> dict[str, Any]:
    (base / "tpl").mkdir()
    (base / "tpl" / "issued.txt").write_text("Subject: x\n{{ no_such_variable }}\n")
    return {"templates": {"path": "tpl"}}


def _unparsable_template(base: Path) -> dict[str, Any]:
    (base / "tpl").mkdir()
    (base / "tpl" / "clarify.html").write_text("<p>{% if %}</p>\n")
    return {"templates": {"path": "tpl"}}


def _missing_include(base: Path) -> dict[str, Any]:
    (base / "tpl").mkdir()
    (base / "tpl" / "resent.txt").write_text('Subject: x\n{% include "_gone.txt" %}\n')
    return {"templates": {"path": "tpl"}}


def _missing_orders(base: Path) -> dict[str, Any]:
    return {"orders": {"kind": "csv", "path": "orders.csv"}, "_delete": "orders.csv"}


def _orders_without_columns(base: Path) -> dict[str, Any]:
    (base / "bad-orders.csv").write_text("id,mail\n1,a@b.example\n")
    return {"orders": {"kind": "csv", "path": "bad-orders.csv"}}


def _key_not_a_key(base: Path) -> dict[str, Any]:
    return {"_key": b"-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n"}


def _key_readable_by_others(base: Path) -> dict[str, Any]:
    return {"_chmod_key": 0o644}


def _no_key(base: Path) -> dict[str, Any]:
    return {"_no_key": True}


def _bad_value(base: Path) -> dict[str, Any]:
    return {"policy": {"max_replies_per_hour": "ten"}}


def _store_not_a_database(base: Path) -> dict[str, Any]:
    (base / "mailbot.db").write_bytes(b"this is not an SQLite database" * 100)
    return {}


def _missing_maildir(base: Path) -> dict[str, Any]:
    return {"mailbox": {"kind": "maildir", "path": "mail/typo"}, "_delete": "mail"}


FAULTS: dict[str, tuple[Callable[[Path], dict[str, Any]], str]] = {
    "maildir that does not exist": (_missing_maildir, "mail/typo"),
    "template that does not render": (_broken_template, "issued.txt"),
    "template that does not parse": (_unparsable_template, "clarify.html"),
    "template including a missing file": (_missing_include, "_gone.txt"),
    "missing orders file": (_missing_orders, "orders.csv"),
    "orders file without its columns": (_orders_without_columns, "bad-orders.csv"),
    "key file that is no key": (_key_not_a_key, "signing.pem"),
    "key readable by others": (_key_readable_by_others, "chmod 600"),
    "no key": (_no_key, "mailbot keys init"),
    "bad config value": (_bad_value, "max_replies_per_hour"),
    "store that is no database": (_store_not_a_database, "mailbot.db"),
}


@pytest.mark.parametrize("fault", list(FAULTS), ids=list(FAULTS))
def test_doctor_fails_wherever_run_fails(fault: str, tmp_path: Path) -> None:
    make, named = FAULTS[fault]
    base = tmp_path / "site"
    base.mkdir()
    (base / "maildir" / "new").mkdir(parents=True, exist_ok=True)
    for name in ("cur", "tmp"):
        (base / "maildir" / name).mkdir()
    waiting = sorted(p for p in (DEMO / "maildir" / "new").iterdir() if p.is_file())[:3]
    for src in waiting:
        shutil.copy(src, base / "maildir" / "new" / src.name)
    extra = make(base)
    special = {k: extra.pop(k) for k in list(extra) if k.startswith("_")}
    if not special.get("_no_key"):  # the key is made while the config is still sound
        assert _cli(write_config(base), "keys", "init").returncode == 0
    config = write_config(base, **extra)
    if "_key" in special:
        (base / "keys" / "signing.pem").write_bytes(special["_key"])
    if "_chmod_key" in special:
        (base / "keys" / "signing.pem").chmod(special["_chmod_key"])
    if "_delete" in special:
        gone = base / special["_delete"]
        shutil.rmtree(gone) if gone.is_dir() else gone.unlink()
    before = sorted(p.name for p in (base / "maildir" / "new").iterdir())

    doctor = _cli(config, "doctor")
    assert doctor.returncode == 1, doctor.stdout + doctor.stderr
    failing = [line for line in doctor.stdout.splitlines() if line.startswith("FAIL")]
    assert failing and any(named in line for line in failing), doctor.stdout
    assert "Traceback" not in doctor.stdout + doctor.stderr

    as_json = _cli(config, "doctor", "--json")
    assert as_json.returncode == 1
    assert any(not c["ok"] and named in c["detail"] for c in json.loads(as_json.stdout))

    run = _cli(config, "run", "--once")
    assert run.returncode == 2, run.stdout + run.stderr
    assert named in run.stderr and "Traceback" not in run.stdout + run.stderr
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr  # one sentence
    # The mail waits: nothing left new/, nothing was decided.
    assert sorted(p.name for p in (base / "maildir" / "new").iterdir()) == before
    assert not list((base / "maildir" / "cur").iterdir())
    assert not (base / "outbox").exists() or not list((base / "outbox").iterdir())
