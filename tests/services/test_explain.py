"""`mailbot explain --mailbox` changes nothing, and predicts what the next run does;
`[mailbox] since` leaves older mail alone. Over a Maildir and over a real Dovecot."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mailbot.cli import cli
from mailbot.core import serials
from mailbot.services.worker import Worker
from tests.apps import DEMO, make_app, write_config
from tests.servers.dovecot import DovecotServer
from tests.servers.smtp_sink import SmtpSink


def demo_files() -> list[Path]:
    return sorted(p for p in (DEMO / "maildir" / "new").iterdir() if not p.name.startswith("."))


def tree(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file below folder: content hash and mtime, so a move, a flag or a touch shows."""
    return {
        str(p.relative_to(folder)): (
            hashlib.sha256(p.read_bytes()).hexdigest(),
            p.stat().st_mtime_ns,
        )
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def database(path: Path) -> list[str]:
    """The database as SQL, plus the file's bytes hash (WAL included)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        dump = list(conn.iterdump())
    finally:
        conn.close()
    files = sorted(p for p in path.parent.iterdir() if p.name.startswith(path.name))
    return dump + [f"{p.name}:{hashlib.sha256(p.read_bytes()).hexdigest()}" for p in files]


def explain(config: Path, *args: str) -> list[dict[str, Any]]:
    result = CliRunner().invoke(cli, ["--config", str(config), "explain", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_explain_mailbox_changes_nothing_and_predicts_the_run(tmp_path: Path) -> None:
    config = write_config(tmp_path, orders={"payment_link": "https://buy.stripe.com/test_x"})
    maildir = tmp_path / "maildir"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    files = demo_files()
    for src in files[:5]:
        shutil.copy(src, maildir / "new" / src.name)
    assert CliRunner().invoke(cli, ["--config", str(config), "keys", "init"]).exit_code == 0
    first = CliRunner().invoke(cli, ["--config", str(config), "run", "--once"])
    assert first.exit_code == 0, first.output
    for src in files[5:]:
        shutil.copy(src, maildir / "new" / src.name)
    # The orders file changed since the last run: explain must see the new order without
    # writing it into the store.
    with (tmp_path / "orders.csv").open("a") as f:
        f.write("cs_test_new,late@buyer.example,Late Buyer,1,paid,2026-01-01T00:00:00+00:00\n")
    (maildir / "new" / "1799999999.late.buyer").write_bytes(
        b"From: late@buyer.example\nTo: support@amphis.example\nSubject: key\n"
        b"Message-ID: <late-1@buyer.example>\n\n" + serials.generate("AMC").encode() + b"\n"
    )
    mailbox_before, db_before = tree(maildir), database(tmp_path / "mailbot.db")

    predicted = explain(config, "--mailbox")

    assert tree(maildir) == mailbox_before
    assert database(tmp_path / "mailbot.db") == db_before
    assert len(predicted) == len(files) - 5 + 1
    assert predicted[-1]["sender"] == "late@buyer.example"
    assert predicted[-1]["outcome"] == "issued", predicted[-1]

    done = CliRunner().invoke(cli, ["--config", str(config), "run", "--once", "--json"])
    assert done.exit_code == 0, done.output
    actual = json.loads(done.output)["processed"]
    assert [(p["sender"], p["outcome"], p["reason"]) for p in predicted] == [
        (a["sender"], a["outcome"], a["reason"]) for a in actual
    ]


def test_explain_before_the_first_run_needs_no_store(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    (tmp_path / "maildir" / "new").mkdir(parents=True, exist_ok=True)
    (tmp_path / "maildir" / "cur").mkdir(exist_ok=True)
    for src in demo_files()[:3]:
        shutil.copy(src, tmp_path / "maildir" / "new" / src.name)
    assert CliRunner().invoke(cli, ["--config", str(config), "keys", "init"]).exit_code == 0
    predicted = explain(config, "--mailbox")
    assert [p["outcome"] for p in predicted] == ["issued", "issued", "issued"]
    assert not (tmp_path / "mailbot.db").exists()


def test_explain_wants_files_or_the_mailbox(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    result = CliRunner().invoke(cli, ["--config", str(config), "explain"])
    assert result.exit_code == 2 and "--mailbox" in result.output


def test_since_leaves_older_maildir_mail_alone(tmp_path: Path) -> None:
    app = make_app(tmp_path, mailbox={"path": "maildir", "since": date(2026, 6, 1)})
    old = app.mailbox.path / "new" / "1700000000.M1.old.example"  # type: ignore[attr-defined]
    old.write_bytes((DEMO / "maildir" / "new" / demo_files()[0].name).read_bytes())
    stamp = int(datetime(2026, 7, 1, tzinfo=UTC).timestamp())
    new = app.mailbox.path / "new" / f"{stamp}.M2.new.example"  # type: ignore[attr-defined]
    new.write_bytes(demo_files()[1].read_bytes())
    os.utime(old, (stamp, stamp))  # a fresh mtime must not make old mail new
    before = old.stat().st_mtime_ns

    processed = Worker(app).poll_once()

    assert [p.sender for p in processed] == ["bob@contoso.example"]
    assert old.exists() and old.stat().st_mtime_ns == before  # untouched, still in new/
    assert not new.exists()
    app.close()


@pytest.mark.servers
def test_explain_mailbox_over_imap_changes_nothing(
    dovecot: DovecotServer, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    login, _ = dovecot.user("explain")
    raws = [p.read_bytes().replace(b"\n", b"\r\n") for p in demo_files()[:6]]
    for raw in raws:
        dovecot.append(login, "INBOX", raw)
    config = write_config(
        tmp_path,
        mailbox=imap_section(dovecot, login),
        outbox={"kind": "smtp", "host": smtp_sink.host, "port": smtp_sink.port, "security": "none"},
    )
    assert CliRunner().invoke(cli, ["--config", str(config), "keys", "init"]).exit_code == 0
    before = imap_state(dovecot, login)

    predicted = explain(config, "--mailbox")

    assert imap_state(dovecot, login) == before  # no move, no flag, not even \\Seen
    assert not (tmp_path / "mailbot.db").exists()
    assert len(predicted) == 6 and predicted[0]["outcome"] == "issued"
    assert all(p["key"].startswith("imap:INBOX:") for p in predicted)


@pytest.mark.servers
def test_since_leaves_older_imap_mail_alone(
    dovecot: DovecotServer, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    login, _ = dovecot.user("since")
    files = demo_files()
    with dovecot.client(login) as client:
        client.append(
            "INBOX",
            files[0].read_bytes().replace(b"\n", b"\r\n"),
            msg_time=datetime(2025, 1, 5, tzinfo=UTC),
        )
        client.append("INBOX", files[1].read_bytes().replace(b"\n", b"\r\n"))
    app = make_app(
        tmp_path,
        mailbox={**imap_section(dovecot, login), "since": date(2026, 1, 1)},
        outbox={"kind": "smtp", "host": smtp_sink.host, "port": smtp_sink.port, "security": "none"},
    )
    try:
        processed = Worker(app).poll_once()
    finally:
        app.close()
    assert [p.sender for p in processed] == ["bob@contoso.example"]
    state = imap_state(dovecot, login)
    assert [flags for _, flags in state["INBOX"]] == [()]  # the old one: there, unflagged


def imap_section(dovecot: DovecotServer, login: str) -> dict[str, Any]:
    return {
        "kind": "imap",
        "host": dovecot.host,
        "port": dovecot.port,
        "username": login,
        "password_file": str(dovecot.password_file(login)),
        "security": "none",
        "timeout_seconds": 5,
    }


def imap_state(
    dovecot: DovecotServer, login: str
) -> dict[str, list[tuple[int, tuple[bytes, ...]]]]:
    """(UID, flags) of every mail in every folder."""
    state = {}
    with dovecot.client(login) as client:
        for flags, _, name in client.list_folders():
            if b"\\Noselect" in flags:
                continue
            client.select_folder(name, readonly=True)
            uids = client.search(["ALL"])
            data = client.fetch(uids, ["FLAGS"]) if uids else {}
            state[str(name)] = sorted(
                (int(uid), tuple(sorted(item[b"FLAGS"]))) for uid, item in data.items()
            )
    return state
