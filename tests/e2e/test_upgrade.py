"""A database made by an earlier release opens and migrates in place, and the current code
works on it.

`tests/data/schema-1.sql` is the demo database as the first release (schema 1, commit 7f755ff)
wrote it; `schema-2-early.sql` as the first release of schema 2 (commit 6bfe69e) wrote it,
before its migration gained a column. Both are SQL dumps made by running those releases' own
`run --once` on the demo mailbox; they are loaded byte for byte as those releases left them.
"""

from __future__ import annotations

import email
import email.policy
import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from mailbot.cli import cli
from mailbot.core import serials
from mailbot.store import SCHEMA_VERSION, Store
from tests.apps import DATA, write_config

DUMPS = sorted(DATA.glob("schema-*.sql"))


def old_database(dump: Path, target: Path) -> None:
    conn = sqlite3.connect(target)
    conn.executescript(dump.read_text(encoding="utf-8"))
    conn.close()


def invoke(config: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--config", str(config), *args])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("dump", DUMPS, ids=[d.stem for d in DUMPS])
def test_an_old_database_migrates_in_place_and_keeps_working(dump: Path, tmp_path: Path) -> None:
    db = tmp_path / "mailbot.db"
    old_database(dump, db)
    before = sqlite3.connect(db)
    licenses_before = before.execute(
        "SELECT license_no, serial, customer_email, license_string, state FROM licenses "
        "ORDER BY license_no"
    ).fetchall()
    messages_before = before.execute("SELECT count(*) FROM messages").fetchone()[0]
    before.close()
    assert licenses_before and messages_before

    config = write_config(tmp_path)
    for sub in ("new", "cur", "tmp"):
        (tmp_path / "maildir" / sub).mkdir(parents=True, exist_ok=True)
    invoke(config, "keys", "init")
    assert "migrates it" in invoke(config, "doctor")

    # A customer asks again for a serial the old release licensed, and for a new one.
    _, serial, owner, string, _ = next(row for row in licenses_before if row[4] == "active")
    fresh = serials.generate("AMC")
    (tmp_path / "maildir" / "new" / "1800000000.M1.upgrade").write_bytes(
        f"From: {owner}\nTo: support@amphis.example\nSubject: again\n"
        f"Message-ID: <again-1@example.com>\n\n{serial}\n".encode()
    )
    (tmp_path / "maildir" / "new" / "1800000001.M2.upgrade").write_bytes(
        f"From: alice@northwind.example\nTo: support@amphis.example\nSubject: new PC\n"
        f"Message-ID: <again-2@example.com>\n\n{fresh}\n".encode()
    )
    run = json.loads(invoke(config, "run", "--once", "--json"))

    outcomes = {p["sender"]: p["outcome"] for p in run["processed"]}
    assert outcomes[owner] == "resent"
    assert outcomes["alice@northwind.example"] in ("issued", "escalated")
    replies = [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        for p in sorted((tmp_path / "outbox").glob("*.eml"))
    ]
    resent = [m for m in replies if m["To"] == owner]
    assert resent and string in resent[0].get_body(("plain",)).get_content().replace("=\n", "")

    store = Store.open(db)
    try:
        assert store.schema_version() == SCHEMA_VERSION
        columns = {r[1] for r in store.conn.execute("PRAGMA table_info(pending_payments)")}
        assert "fulfilled_at" in columns
        kept = store.conn.execute(
            "SELECT license_no, serial, customer_email, license_string, state FROM licenses "
            "WHERE license_no <= ? ORDER BY license_no",
            [licenses_before[-1][0]],
        ).fetchall()
        kept = [tuple(row) for row in kept]
        assert kept == licenses_before
        assert (
            store.conn.execute("SELECT count(*) FROM messages").fetchone()[0] == messages_before + 2
        )
    finally:
        store.close()
    for command in (
        ["queue", "list", "--all"],
        ["messages", "list"],
        ["licenses", "list"],
        ["report"],
        ["orders", "list"],
    ):
        invoke(config, *command)
