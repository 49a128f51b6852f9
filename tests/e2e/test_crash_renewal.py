"""A paid renewal is mailed exactly once though `mailbot orders sync` is SIGKILLed in the
middle, twice: once before the renewal is committed, once after it and before the mail went
out (docs/contract.md, "Orders with terms"; README, "Subscriptions and renewals").

The kills land at known points: the Stripe test server holds a chosen request unanswered
(`stall`) until the process, waiting on it, is killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mailbot.adapters.mailboxes.maildir import MaildirMailbox
from mailbot.adapters.signing import init_key, load_public_keys
from mailbot.core.license_format import verify_license
from mailbot.store import Store
from tests.apps import write_config
from tests.builders import new_serial
from tests.db import query
from tests.e2e.test_pipeline_maildir import licenses_in
from tests.servers.stripe_server import DEFAULT_PRICE, TEST_API_KEY, StripeCheckoutServer

pytestmark = pytest.mark.servers
KEY_ENV = "MAILBOT_TEST_STRIPE_KEY"
GRACE = 5
EMAIL = "erin@acme.example"


def _wait(check: Callable[[], object], what: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _count(db: Path, sql: str) -> int:
    store = Store.open(db)
    try:
        return int(query(store, f"SELECT count(*) AS n FROM {sql}")[0]["n"])
    finally:
        store.close()


def test_sigkill_around_a_renewal_mails_it_once(
    tmp_path: Path, stripe_checkout_server: StripeCheckoutServer
) -> None:
    server = stripe_checkout_server
    config = write_config(
        tmp_path,
        orders={
            "kind": "stripe",
            "api_base": server.url,
            "api_key_env": KEY_ENV,
            "price_ids": [DEFAULT_PRICE],
            "full_resync_hours": 0,
            "subscriptions": True,
        },
        product={"subscription_grace_days": GRACE},
    )
    init_key(tmp_path / "keys/signing.pem", tmp_path / "keys/public", None)
    env = dict(os.environ, **{KEY_ENV: TEST_API_KEY})
    mailbot = [sys.executable, "-m", "mailbot", "--config", str(config)]
    db = tmp_path / "mailbot.db"

    def run(*args: str) -> None:
        done = subprocess.run([*mailbot, *args], capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stderr

    def killed_at(pattern: str, *args: str) -> None:
        """Run `mailbot <args>` until it waits on a request matching `pattern`; SIGKILL it."""
        server.stall(pattern)
        proc = subprocess.Popen(
            [*mailbot, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
        )
        try:
            _wait(lambda: server.stalled or proc.poll() is not None, f"{args} to reach {pattern}")
            assert proc.poll() is None, f"{args} ended before it reached {pattern}"
            proc.send_signal(signal.SIGKILL)
            assert proc.wait(timeout=30) == -signal.SIGKILL
        finally:
            server.stalled.clear()
            server.release_stall()

    sub = server.add_subscription(EMAIL, 3)
    run("orders", "sync")
    serials = [new_serial() for _ in range(3)]
    MaildirMailbox(tmp_path / "maildir").deliver(
        (
            f"From: {EMAIL}\nTo: support@amphis.example\nSubject: Licenses\n"
            f"Message-ID: <renew-crash@acme.example>\nContent-Type: text/plain\n\n"
            "Hello, licenses for\n" + "\n".join(serials) + "\n"
        ).encode()
    )
    run("run", "--once")
    assert sorted(s for _, s, _ in licenses_in(tmp_path / "outbox")) == sorted(serials)

    server.renew_subscription(sub["id"])
    end = server.subscription(sub["id"])["items"]["data"][0]["current_period_end"]
    renewed_until = datetime.fromtimestamp(end, UTC).date() + timedelta(days=GRACE)

    # 1. Killed while fetching the renewed subscription: nothing is committed yet.
    killed_at(r"/v1/subscriptions/[^/]+", "orders", "sync")
    assert _count(db, "renewals") == 0
    # 2. Killed in the re-list after the events sync committed the renewal and its mail,
    #    before anything delivered it.
    killed_at(r"/v1/checkout/sessions", "orders", "sync", "--full")
    assert _count(db, "renewals") == 1
    assert _count(db, "outbox WHERE state != 'sent'") == 1
    # The next runs: the sync twice, then the worker delivers.
    run("orders", "sync")
    run("orders", "sync", "--full")
    run("run", "--once")
    run("run", "--once")

    assert _count(db, "renewals") == 1
    assert _count(db, "outbox WHERE state != 'sent'") == 0
    mailed = licenses_in(tmp_path / "outbox")
    renewal = mailed[3:]  # after the three first licenses: the renewal mail, once
    assert sorted(s for _, s, _ in renewal) == sorted(serials)
    assert {to for to, _, _ in renewal} == {EMAIL}
    store = Store.open(db)
    try:
        rows = query(store, "SELECT * FROM licenses ORDER BY license_no")
    finally:
        store.close()
    assert [(r["license_no"], r["state"]) for r in rows] == [(n, "active") for n in (1, 2, 3)]
    publics = load_public_keys(tmp_path / "keys/public")
    strings = {serial: string for _, serial, string in renewal}
    for row in rows:
        assert strings[row["serial"]] == row["license_string"]
        info = verify_license(
            row["license_string"], serial=row["serial"], public_keys=publics, product_code="AMC"
        )
        assert info.expires == renewed_until
