"""Kill the worker again and again while it works through a few hundred mails in Dovecot,
restart it, and count (docs/contract.md, "Guarantees"): every mail has exactly one outcome, no serial has
two licenses, no order gives more licenses than it has seats, every license reached the SMTP
server at least once, and nothing is left in INBOX.

The same test as tests/e2e/test_crash_safety.py, on the production backends: `mailbot run --once`
as a subprocess reading IMAP and sending SMTP, SIGKILLed after a random number of committed
outcomes (so between a commit and the mailbox move, mid-move, mid-fetch...), and once in the
middle of delivering the outbox.
"""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from mailbot.adapters.signing import init_key
from mailbot.store import Store
from tests.apps import write_config
from tests.db import one, query
from tests.e2e.test_pipeline_imap import (
    ESCALATED,
    IGNORED,
    PROCESSED,
    append_all,
    imap_section,
    message_ids_in,
    received_licenses,
    smtp_section,
)
from tests.mailgen import make_corpus
from tests.servers.dovecot import DovecotServer
from tests.servers.smtp_sink import SmtpSink

pytestmark = [pytest.mark.servers, pytest.mark.slow]

MAILS = 500  # each kill lands after a group commit (up to 50 mails): six need room
KILLS_WHILE_DECIDING = 5


def _count(base: Path, sql: str) -> int:
    """A count from the store, read the way another process would."""
    path = base / "mailbot.db"
    if not path.exists():
        return 0
    with closing(sqlite3.connect(path, timeout=10)) as conn:
        try:
            return int(conn.execute(sql).fetchone()[0])
        except sqlite3.OperationalError:  # the schema is being created right now
            return 0


def _decided(base: Path) -> int:
    return _count(base, "SELECT count(*) FROM messages")


def _kill_when(worker: subprocess.Popen[bytes], reached: Callable[[], bool]) -> bool:
    """SIGKILL the worker as soon as reached() is true; False if it finished first."""
    deadline = time.monotonic() + 60
    while worker.poll() is None and not reached():
        assert time.monotonic() < deadline, "the worker made no progress"
        time.sleep(0.002)
    if worker.poll() is not None:
        return False
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=30)
    return True


def test_sigkill_over_imap_and_smtp_never_loses_or_doubles(
    dovecot: DovecotServer, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    corpus = make_corpus(MAILS, seed=42, customers=40, seats=4)
    login, _ = dovecot.user("crash")
    append_all(dovecot, login, corpus.mails)
    (tmp_path / "orders.csv").write_text(corpus.orders_csv)
    config = write_config(
        tmp_path, mailbox=imap_section(dovecot, login), outbox=smtp_section(smtp_sink)
    )
    init_key(tmp_path / "keys/signing.pem", tmp_path / "keys/public", None)
    command = [sys.executable, "-m", "mailbot", "--config", str(config), "run", "--once"]
    rng = random.Random(7)

    kills = unfiled = 0
    for _ in range(KILLS_WHILE_DECIDING):
        target = _decided(tmp_path) + rng.randint(5, 45)
        worker = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        kills += _kill_when(worker, lambda: _decided(tmp_path) >= target)
        unfiled += _count(tmp_path, "SELECT count(*) FROM messages WHERE mailbox_done = 0")
    # The kills did land between commit and filing: decided mail was still in INBOX.
    assert unfiled > 0

    # Once more in the middle of delivering: replies the server got but the store never
    # marked as sent go out again (at least once, never lost).
    worker = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sent_before = len(smtp_sink.messages)
    delivering_target = rng.randint(3, 30)
    # (Replies go out as their group commits, so new mail at the server means it is delivering,
    # usually while it goes on deciding the next groups.)
    kills += _kill_when(worker, lambda: len(smtp_sink.messages) >= sent_before + delivering_target)

    final = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert final.returncode == 0, final.stderr

    store = Store.open(tmp_path / "mailbot.db")
    try:
        # Every mail has exactly one outcome, and each was filed by it.
        rows = query(
            store, "SELECT mailbox_key, message_id, outcome, reason, mailbox_done FROM messages"
        )
        assert len(rows) == MAILS
        assert len({r["mailbox_key"] for r in rows}) == MAILS
        assert len({r["message_id"] for r in rows}) == MAILS
        assert all(r["mailbox_done"] == 1 for r in rows)
        assert not any(r["reason"] == "internal_error" for r in rows)
        folders = message_ids_in(dovecot, login)
        assert folders["INBOX"] == []
        filed = [i for f in (PROCESSED, ESCALATED, IGNORED) for i in folders.get(f, [])]
        assert sorted(filed) == sorted(r["message_id"] for r in rows)  # each exactly once

        # No serial has two licenses; no order more licenses than seats.
        per_serial = Counter(r["serial"] for r in query(store, "SELECT serial FROM licenses"))
        assert per_serial and max(per_serial.values()) == 1
        over = query(
            store,
            "SELECT o.order_id, o.seats, count(l.license_no) AS used FROM orders o "
            "JOIN licenses l ON l.order_id = o.order_id GROUP BY o.order_id "
            "HAVING used > o.seats",
        )
        assert over == []

        # Every license issued reached the SMTP server at least once, and the outbox is empty.
        delivered = {s for _, s, _ in received_licenses(smtp_sink.messages, tmp_path / "received")}
        assert set(per_serial) <= delivered
        assert one(store, "SELECT count(*) AS n FROM outbox WHERE state != 'sent'")["n"] == 0
        # At least once, and not wildly more: only the delivery kill may have doubled some.
        assert len(smtp_sink.messages) >= one(store, "SELECT count(*) AS n FROM outbox")["n"]
    finally:
        store.close()
    assert kills == KILLS_WHILE_DECIDING + 1, "the worker finished before it could be killed"
