"""Kill the worker mid-batch, again and again, restart it, and count: nothing lost, nothing
decided twice, no seat used twice (docs/contract.md, "Guarantees")."""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from contextlib import closing
from pathlib import Path

import pytest

from mailbot.adapters.mailboxes.maildir import MaildirMailbox
from mailbot.adapters.signing import init_key
from mailbot.store import Store
from tests.apps import write_config
from tests.db import one, query
from tests.e2e.test_pipeline_maildir import licenses_in
from tests.mailgen import make_corpus

MAILS = 600  # each kill lands after a group commit (up to 50 mails): six need room


def _decided(base: Path) -> int:
    """Mails with a committed outcome so far, read the way another process would."""
    path = base / "mailbot.db"
    if not path.exists():
        return 0
    with closing(sqlite3.connect(path, timeout=10)) as conn:
        try:
            return int(conn.execute("SELECT count(*) FROM messages").fetchone()[0])
        except sqlite3.OperationalError:  # the schema is being created right now
            return 0


@pytest.mark.slow
def test_sigkill_mid_batch_never_loses_or_doubles(tmp_path: Path) -> None:
    corpus = make_corpus(MAILS, seed=42, customers=40, seats=4)
    (tmp_path / "orders.csv").write_text(corpus.orders_csv)
    config = write_config(tmp_path)
    init_key(tmp_path / "keys/signing.pem", tmp_path / "keys/public", None)
    mailbox = MaildirMailbox(tmp_path / "maildir")
    for raw in corpus.mails:
        mailbox.deliver(raw)

    rng = random.Random(7)
    command = [sys.executable, "-m", "mailbot", "--config", str(config), "run", "--once"]
    kills = 0
    for _ in range(6):
        before = _decided(tmp_path)
        worker = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Kill once the worker is well inside its batch: after a random number of commits.
        target = before + rng.randint(5, 40)
        deadline = time.monotonic() + 60
        while worker.poll() is None and _decided(tmp_path) < target:
            assert time.monotonic() < deadline, "the worker made no progress"
            time.sleep(0.005)
        if worker.poll() is None:
            worker.send_signal(signal.SIGKILL)
            kills += 1
        worker.wait(timeout=30)
    final = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr
    assert kills == 6, "the worker finished before it could be killed: make the batch bigger"

    store = Store.open(tmp_path / "mailbot.db")
    # Every mail has exactly one outcome, and none is left waiting.
    rows = query(store, "SELECT mailbox_key, outcome, reason FROM messages")
    assert len(rows) == MAILS
    assert len({r["mailbox_key"] for r in rows}) == MAILS
    assert not [p for p in (tmp_path / "maildir" / "new").iterdir()]
    assert not any(r["reason"] == "internal_error" for r in rows)
    # No serial has two licenses.
    per_serial = Counter(r["serial"] for r in query(store, "SELECT serial FROM licenses"))
    assert per_serial and max(per_serial.values()) == 1
    # No order has more licenses than seats.
    over = query(
        store,
        "SELECT o.order_id, o.seats, count(l.license_no) AS used FROM orders o "
        "JOIN licenses l ON l.order_id = o.order_id GROUP BY o.order_id HAVING used > o.seats",
    )
    assert over == []
    # Every license issued was delivered (written to the outbox folder) at least once.
    delivered = {serial for _, serial, _ in licenses_in(tmp_path / "outbox")}
    assert set(per_serial) <= delivered
    assert one(store, "SELECT count(*) AS n FROM outbox WHERE state != 'sent'")["n"] == 0
