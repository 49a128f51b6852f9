"""Order sync end to end: mailbot's store and worker, the real `stripe` library, real HTTP.

Stripe is played by tests/servers/stripe_server.py's StripeCheckoutServer (Checkout Sessions,
events, refunds, disputes, failures on demand). Mail goes through the Maildir and outbox
backends, as in test_pipeline_maildir.py.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import stripe
from click.testing import CliRunner

from mailbot.adapters.orders.stripe import StripeOrders, StripeUnavailable
from mailbot.adapters.signing import load_public_keys
from mailbot.app import App
from mailbot.cli import cli
from mailbot.core.license_format import verify_license
from mailbot.core.model import LicenseState, OrderStatus, Outcome
from mailbot.scheduler import periodic_jobs as scheduled_jobs
from mailbot.services.delivery import deliver_outbox
from mailbot.services.escalations import resolve
from mailbot.services.order_sync import STATE_EVENTS, STATE_LAST_FULL, STATE_RELIST, sync_orders
from mailbot.services.pass_results import Processed
from mailbot.services.payments import expire_pending_payments
from mailbot.services.queue_view import list_escalations
from mailbot.services.worker import Worker
from mailbot.store import Store, iso
from mailbot.store.rows import EscalationRow
from mailbot.webhook import WebhookServer
from tests.apps import make_app, write_config
from tests.builders import new_serial
from tests.db import one, query
from tests.servers.stripe_server import DEFAULT_PRICE, TEST_API_KEY, StripeCheckoutServer

pytestmark = pytest.mark.servers

KEY_ENV = "MAILBOT_TEST_STRIPE_KEY"
SECRET_ENV = "MAILBOT_TEST_WEBHOOK_SECRET"
WEBHOOK_SECRET = "whsec_test_mailbot_sync"
PAY_LINK = "https://buy.stripe.com/test_amphis"

MakeApp = Callable[..., App]


@pytest.fixture
def server(stripe_checkout_server: StripeCheckoutServer) -> StripeCheckoutServer:
    return stripe_checkout_server


@pytest.fixture
def make_stripe_app(
    tmp_path: Path, server: StripeCheckoutServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[MakeApp]:
    """An App in tmp_path/<name> whose orders come from the test server, with fast retries."""
    monkeypatch.setenv(KEY_ENV, TEST_API_KEY)
    made: list[App] = []

    def make(name: str = "app", *, page_size: int = 100, **orders: Any) -> App:
        settings = {
            "kind": "stripe",
            "api_base": server.url,
            "api_key_env": KEY_ENV,
            "price_ids": [DEFAULT_PRICE],
            "payment_link": PAY_LINK,
            **orders,
        }
        app = make_app(tmp_path / name, orders=settings)
        app.overrides["orders"] = StripeOrders(
            app.settings.orders,
            api_key=TEST_API_KEY,
            retry_delay=0.01,
            max_retry_delay=0.05,
            timeout=5.0,
            page_size=page_size,
        )
        made.append(app)
        return app

    yield make
    for app in made:
        app.orders.close()  # type: ignore[attr-defined]
        app.close()


def old_sessions(server: StripeCheckoutServer, count: int, **kwargs: Any) -> list[dict[str, Any]]:
    """Sessions paid an hour ago: their events lie before any cursor taken now (and its
    overlap window), so API call counts below are only about what a test does next."""
    server.advance(-3600)
    try:
        return [
            server.add_session(f"c{i}@example.com", seats=1 + i % 3, **kwargs) for i in range(count)
        ]
    finally:
        server.advance(3600)


_mail_no = iter(range(1, 10**6))


def deliver(app: App, sender: str, *serials: str, message_id: str = "") -> str:
    message_id = message_id or f"<sync-{next(_mail_no)}@{sender.split('@')[1]}>"
    raw = (
        f"From: {sender}\nTo: support@amphis.example\nSubject: License request\n"
        f"Date: Sun, 29 Nov 2026 10:00:00 +0000\nMessage-ID: {message_id}\n"
        f"MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n"
        f"Hello, please send the license for {' and '.join(serials)}.\n"
    ).encode()
    app.mailbox.deliver(raw)  # type: ignore[attr-defined]
    return message_id


def process(app: App) -> list[Processed]:
    return [p for p in Worker(app).poll_once() if not p.already_done]


def replies(app: App) -> list[dict[str, Any]]:
    """Every reply in the outbox: to, text, headers."""
    found = []
    for row in query(app.store, "SELECT to_addr, raw FROM outbox WHERE kind = 'reply' ORDER BY id"):
        msg = email.message_from_bytes(row["raw"], policy=email.policy.default)
        text = msg.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
        found.append(
            {
                "to": row["to_addr"],
                "text": text,
                "in_reply_to": msg["In-Reply-To"],
                "subject": str(msg["Subject"]),
            }
        )
    return found


def licenses_in(text: str) -> dict[str, str]:
    """serial -> license string, as a reply shows them."""
    result, serial = {}, None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith(("Serial number:", "Seriennummer:")):
            serial = line.split(":", 1)[1].strip()
        elif line.startswith(("License string:", "Lizenzschlüssel:")) and serial:
            result[serial] = line.split(":", 1)[1].strip()
    return result


def pay_link_reference(text: str, sender: str) -> str:
    [link] = set(re.findall(r"https://buy\.stripe\.com/\S+", text))
    query = parse_qs(urlparse(link).query)
    assert query["prefilled_email"] == [sender]
    [ref] = query["client_reference_id"]
    assert re.fullmatch(r"mb_[A-Za-z0-9_-]{16}", ref)
    return ref


def verify(app: App, serial: str, string: str) -> None:
    publics = load_public_keys(app.settings.signing.public_keys)
    assert (
        verify_license(string, serial=serial, public_keys=publics, product_code="AMC").serial
        == serial
    )


def count(app: App, sql: str, *params: Any) -> int:
    row = one(app.store, f"SELECT count(*) AS n FROM {sql}", list(params))
    return int(row["n"]) if row else 0


# ---- sync ----------------------------------------------------------------------------------


def test_backfill_then_incremental_with_duplicate_and_out_of_order_events(
    server: StripeCheckoutServer, make_stripe_app: MakeApp
) -> None:
    old = old_sessions(server, 30)
    app = make_stripe_app(page_size=10)
    seen: list[int] = []
    report = sync_orders(app, progress=seen.append)
    assert (report.mode, report.complete, report.resumed) == ("backfill", True, False)
    assert report.orders == 30 and seen[-1] == 30 and seen == sorted(seen)
    assert {o.order_id for o in app.store.all_orders()} == {s["id"] for s in old}
    # 3 pages of sessions, 3 of PaymentIntents, then one events page to catch up
    assert report.pages == 6 and report.api_calls == server.request_count == 7
    assert app.store.get_state(STATE_EVENTS) and app.store.get_state(STATE_RELIST) == ""

    server.emit_duplicate_events = True
    server.shuffle_events = True
    a = server.add_session("a@example.com", seats=2)
    b = server.add_session("b@example.com")
    server.refund(old[0]["id"])
    server.reset_requests()
    report = sync_orders(app)
    assert report.mode == "incremental" and report.orders == 3
    orders = {o.order_id: o for o in app.store.all_orders()}
    assert len(orders) == 32
    assert (orders[a["id"]].seats, orders[b["id"]].seats) == (2, 1)
    assert orders[old[0]["id"]].status is OrderStatus.REFUNDED
    # one events page; each new session once; the refunded charge's session once
    assert report.api_calls == server.request_count == 1 + 2 + 1

    # Nothing new: the overlap re-reads the same events, and they are skipped by id.
    again = sync_orders(app)
    assert (again.orders, again.api_calls) == (0, 1)

    # An event that becomes visible after a newer one is still caught.
    server.hold_events = True
    late = server.add_session("late@example.com", seats=4)
    server.hold_events = False
    server.advance(60)
    newer = server.add_session("newer@example.com")
    sync_orders(app)
    assert app.store.order(newer["id"]) is not None and app.store.order(late["id"]) is None
    server.release_events()
    sync_orders(app)
    assert app.store.order(late["id"]).seats == 4  # type: ignore[union-attr]

    # The safety net: a full re-list on request, and by itself once full_resync_hours passed.
    before = app.store.all_orders()
    assert sync_orders(app, full=True).mode == "full"
    assert sync_orders(app).mode == "incremental"
    app.store.set_state(STATE_LAST_FULL, iso(datetime.now(UTC) - timedelta(hours=25)))
    report = sync_orders(app)
    assert report.mode == "full" and report.orders == 34
    assert app.store.all_orders() == before


def test_first_sync_reads_again_what_changed_just_before_it(
    server: StripeCheckoutServer, make_stripe_app: MakeApp
) -> None:
    fresh = [server.add_session(f"f{i}@example.com") for i in range(5)]
    app = make_stripe_app()
    report = sync_orders(app)
    # Events of the minutes before the re-list are read again (Stripe may show them late):
    # each such order is fetched once more, and counted once.
    assert report.orders == 5 and report.events_orders == 5
    assert report.api_calls == 2 + 1 + 5
    assert {o.order_id for o in app.store.all_orders()} == {s["id"] for s in fresh}
    assert sync_orders(app).api_calls == 1


def test_backfill_resumes_after_a_crash(
    server: StripeCheckoutServer, make_stripe_app: MakeApp
) -> None:
    old_sessions(server, 45)
    app = make_stripe_app("crash", page_size=10)

    class Crash(Exception):
        pass

    def crash_after_two_pages(stored: int) -> None:
        if stored >= 20:
            raise Crash  # the process dies right after the second page was committed

    with pytest.raises(Crash):
        sync_orders(app, progress=crash_after_two_pages)
    assert len(app.store.all_orders()) == 20
    state = json.loads(app.store.get_state(STATE_RELIST) or "{}")
    assert state["cursor"] and state["orders"] == 20
    assert not app.store.get_state(STATE_EVENTS)  # set only when the re-list completes

    # A new process on the same store continues after the last stored page.
    server.reset_requests()
    restarted = make_stripe_app("crash", page_size=10)
    report = sync_orders(restarted)
    assert report.resumed and report.complete and report.mode == "backfill"
    assert report.orders == 25 and len(restarted.store.all_orders()) == 45
    assert "starting_after" in server.requests[0][1]
    # 3 remaining session pages, 5 PaymentIntent pages, 1 events page: no page read twice
    assert server.request_count == 3 + 5 + 1
    # The events cursor is the one taken before the re-list began, not one from after the crash.
    events = json.loads(restarted.store.get_state(STATE_EVENTS) or "{}")
    assert events["t"] == json.loads(state["events"])["t"]


def test_rate_limit_and_server_errors_during_sync_are_retried(
    server: StripeCheckoutServer, make_stripe_app: MakeApp
) -> None:
    old_sessions(server, 3)
    app = make_stripe_app()
    server.fail_next(2, status=429, retry_after=0.01)
    report = sync_orders(app)
    assert report.orders == 3
    assert report.api_calls == 2 + 2 + 1  # two refused, sessions, PaymentIntents, events

    new = server.add_session("new@example.com")
    server.fail_next(1, status=503)
    report = sync_orders(app)
    assert report.orders == 1 and app.store.order(new["id"]) is not None
    assert report.api_calls == 1 + 1 + 1  # refused, events again (library retry), session


# ---- refunds and disputes ------------------------------------------------------------------


def test_refund_after_licenses_were_issued_flags_them_and_revokes_nothing(
    server: StripeCheckoutServer, make_stripe_app: MakeApp
) -> None:
    app = make_stripe_app()
    session = server.add_session("ann@northwind.example", seats=4, unit_amount=5000, name="Ann")
    sync_orders(app)
    serials = [new_serial() for _ in range(3)]
    deliver(app, "ann@northwind.example", *serials)
    [mail] = process(app)
    assert mail.outcome is Outcome.ISSUED
    numbers = [
        r["license_no"]
        for r in query(app.store, "SELECT license_no FROM licenses ORDER BY license_no")
    ]
    assert len(numbers) == 3

    # One seat refunded, the one nobody uses: nothing to flag.
    server.refund(session["id"], 5000)
    assert sync_orders(app).escalations == []
    assert app.store.order(session["id"]).usable_seats == 3  # type: ignore[union-attr]

    server.refund(session["id"], 7500)  # a seat and a half more: one more seat goes
    report = sync_orders(app)
    order = app.store.order(session["id"])
    assert order is not None
    assert (order.status, order.refunded_seats, order.usable_seats) == (OrderStatus.PAID, 2, 2)
    assert count(app, "licenses WHERE state = 'active'") == 3  # never revoked silently
    [esc_id] = report.escalations
    esc = _escalation(app, esc_id)
    assert (esc.reason, esc.state, esc.sender) == (
        "refunded_order",
        "open",
        "ann@northwind.example",
    )
    assert "2 of its 4 seat(s) were refunded" in esc.detail
    assert "3 active license(s) on 2 usable seat(s)" in esc.detail
    assert all(f"#{n} " in esc.detail for n in numbers)
    assert {s.serial for s in esc.serials} == set(serials)
    # Staff hear of it like any escalation (immediate notification to the staff address).
    assert count(app, "outbox WHERE kind = 'notification' AND escalation_id = ?", esc_id) == 1

    # One open escalation per order: syncing again raises nothing new ...
    assert sync_orders(app).escalations == [] and sync_orders(app, full=True).escalations == []
    # ... and a further refund updates it rather than adding a second.
    server.refund(session["id"])
    assert sync_orders(app).escalations == []
    assert count(app, "escalations") == 1
    esc = _escalation(app, esc_id)
    assert "refunded in full" in esc.detail
    assert [a.action for a in app.store.audit_of(esc.id)] == ["escalated", "updated"]
    assert count(app, "licenses WHERE state = 'active'") == 3

    # Finance decided to let them keep the licenses: the flag stays closed on later syncs.
    resolve(app.store, esc_id, "finance", datetime.now(UTC), "goodwill refund")
    assert sync_orders(app, full=True).escalations == []
    assert list_escalations(app.store) == []

    # New serials from Ann are not licensed on the refunded order.
    deliver(app, "ann@northwind.example", new_serial())
    [mail] = process(app)
    assert (mail.outcome, mail.reason and mail.reason.value) == (
        Outcome.ESCALATED,
        "refunded_order",
    )


def test_dispute_marks_the_order_disputed_and_flags_its_licenses(
    server: StripeCheckoutServer, make_stripe_app: MakeApp
) -> None:
    app = make_stripe_app()
    session = server.add_session("dan@fabrikam.example", seats=2)
    sync_orders(app)
    serial = new_serial()
    deliver(app, "dan@fabrikam.example", serial)
    assert process(app)[0].outcome is Outcome.ISSUED

    dispute = server.dispute(session["id"])
    report = sync_orders(app)
    assert app.store.order(session["id"]).status is OrderStatus.DISPUTED  # type: ignore[union-attr]
    [esc_id] = report.escalations
    esc = _escalation(app, esc_id)
    assert esc.reason == "disputed_order" and "disputed" in esc.detail
    assert app.store.licenses_for_serials([serial])[serial].state is LicenseState.ACTIVE

    deliver(app, "dan@fabrikam.example", new_serial())
    [mail] = process(app)
    assert (mail.outcome, mail.reason and mail.reason.value) == (
        Outcome.ESCALATED,
        "disputed_order",
    )

    server.close_dispute(dispute["id"], "won")
    report = sync_orders(app)
    assert app.store.order(session["id"]).status is OrderStatus.PAID  # type: ignore[union-attr]
    assert report.escalations == []


# ---- Stripe down ---------------------------------------------------------------------------


def test_stripe_down_during_a_mail_batch(
    server: StripeCheckoutServer, make_stripe_app: MakeApp
) -> None:
    app = make_stripe_app()
    server.add_session("ann@northwind.example", seats=2)
    sync_orders(app)
    cursor = app.store.get_state(STATE_EVENTS)
    server.down()
    a1, s1, s2, a2 = (new_serial() for _ in range(4))
    deliver(app, "ann@northwind.example", a1)
    deliver(app, "stranger1@example.org", s1)
    deliver(app, "stranger2@example.org", s2)
    deliver(app, "ann@northwind.example", a2)
    source: StripeOrders = app.orders  # type: ignore[assignment]
    calls = source.count_calls
    started = time.monotonic()
    done = process(app)
    assert [(p.sender, p.outcome) for p in done] == [
        ("ann@northwind.example", Outcome.ISSUED),
        ("stranger1@example.org", Outcome.AWAITING_PAYMENT),  # decided on local facts
        ("stranger2@example.org", Outcome.AWAITING_PAYMENT),
        ("ann@northwind.example", Outcome.ISSUED),
    ]
    # One live lookup tried (the request and its 3 retries); the second stranger does not wait.
    assert source.count_calls - calls == 4
    assert time.monotonic() - started < 10
    assert deliver_outbox(app).sent == 4

    with pytest.raises(StripeUnavailable):
        sync_orders(app)
    assert app.store.get_state(STATE_EVENTS) == cursor
    server.up()
    late = server.add_session("stranger1@example.org")
    assert sync_orders(app).orders == 1 and app.store.order(late["id"]) is not None


# ---- pay by link ---------------------------------------------------------------------------


def test_pay_link_from_first_mail_to_license_delivered_exactly_once(
    server: StripeCheckoutServer, make_stripe_app: MakeApp
) -> None:
    app = make_stripe_app()
    sync_orders(app)  # a shop with no orders yet
    sam = "sam.jones@example.org"
    serial = new_serial()
    first_id = deliver(app, sam, serial)
    [mail] = process(app)
    assert mail.outcome is Outcome.AWAITING_PAYMENT
    [reply] = replies(app)
    assert reply["to"] == sam and licenses_in(reply["text"]) == {}
    ref = pay_link_reference(reply["text"], sam)
    pending = one(app.store, "SELECT * FROM pending_payments WHERE id = ?", [ref])
    assert pending is not None and pending["state"] == "open"
    assert json.loads(pending["serials"]) == [serial]

    # Sam pays through the link: Stripe records a paid session carrying the reference.
    session = server.add_session(sam, seats=1, client_reference_id=ref, name="Sam Jones")
    report = sync_orders(app)
    assert report.fulfilled == [ref] and report.licenses_issued == 1
    lic = app.store.licenses_for_serials([serial])[serial]
    assert (lic.order_id, lic.customer_email, lic.state) == (
        session["id"],
        sam,
        LicenseState.ACTIVE,
    )
    pending = one(app.store, "SELECT * FROM pending_payments WHERE id = ?", [ref])
    assert (pending["state"], pending["order_id"]) == ("fulfilled", session["id"])  # type: ignore[index]
    assert deliver_outbox(app).sent == 2
    _, delivered = replies(app)
    assert delivered["to"] == sam and delivered["in_reply_to"] == first_id
    assert "Sam Jones" in delivered["text"]
    got = licenses_in(delivered["text"])
    assert list(got) == [serial]
    verify(app, serial, got[serial])
    sent = sorted(p.name for p in app.settings.outbox.path.iterdir())  # type: ignore[union-attr]
    assert len(sent) == 2

    # Exactly once: another sync, a full re-list and another mail pass change nothing.
    for again in (sync_orders(app), sync_orders(app, full=True)):
        assert again.fulfilled == [] and again.licenses_issued == 0
    assert process(app) == []
    assert deliver_outbox(app).sent == 0
    assert count(app, "licenses") == 1 and len(replies(app)) == 2
    assert sorted(p.name for p in app.settings.outbox.path.iterdir()) == sent  # type: ignore[union-attr]

    # Asking again afterwards re-sends the same license on the paid seat.
    deliver(app, sam, serial)
    [mail] = process(app)
    assert mail.outcome is Outcome.RESENT
    assert licenses_in(replies(app)[-1]["text"]) == got


def test_pay_link_waits_for_the_money_and_escalates_what_the_seats_do_not_cover(
    server: StripeCheckoutServer, make_stripe_app: MakeApp
) -> None:
    app = make_stripe_app()
    sync_orders(app)
    it = "it@tailspin.example"
    first, second = new_serial(), new_serial()
    deliver(app, it, first, second)
    assert process(app)[0].outcome is Outcome.AWAITING_PAYMENT
    ref = pay_link_reference(replies(app)[0]["text"], it)

    # Paid by bank debit: the session completes before the money arrives.
    session = server.add_session(it, seats=1, client_reference_id=ref, paid=False)
    report = sync_orders(app)
    assert report.fulfilled == [] and count(app, "licenses") == 0
    server.pay_async(session["id"])
    report = sync_orders(app)
    assert report.fulfilled == [ref] and report.licenses_issued == 1
    # One seat bought for two serials: the first is licensed, the second goes to a person.
    [esc_id] = report.escalations
    esc = _escalation(app, esc_id)
    assert esc.reason == "seats_exhausted" and esc.message_id
    assert [s.serial for s in esc.serials] == [second]
    reply = replies(app)[-1]
    assert reply["to"] == it and list(licenses_in(reply["text"])) == [first]
    assert second in reply["text"] and "A colleague will look at this one" in reply["text"]
    assert sync_orders(app).fulfilled == []


def test_pending_request_expires_to_staff_and_a_late_payment_still_delivers(
    server: StripeCheckoutServer, make_stripe_app: MakeApp
) -> None:
    app = make_stripe_app(payment_expiry_days=14)
    sync_orders(app)
    kim = "kim@wingtip.example"
    serial = new_serial()
    deliver(app, kim, serial)
    process(app)
    ref = pay_link_reference(replies(app)[0]["text"], kim)
    now = datetime.now(UTC)
    assert expire_pending_payments(app, now + timedelta(days=13)) == 0
    assert expire_pending_payments(app, now + timedelta(days=15)) == 1
    [esc] = list_escalations(app.store, reason="payment_expired")
    assert esc.sender == kim and [s.serial for s in esc.serials] == [serial]
    assert (
        one(app.store, "SELECT state FROM pending_payments WHERE id = ?", [ref])["state"]
        == "expired"
    )  # type: ignore[index]

    # Kim pays after all: the license follows, and staff's escalation is closed with a note.
    server.add_session(kim, client_reference_id=ref)
    report = sync_orders(app)
    assert report.fulfilled == [ref]
    closed = _escalation(app, esc.id)
    assert closed.state == "resolved"
    assert "paid after it expired" in app.store.audit_of(esc.id)[-1].detail
    assert list(licenses_in(replies(app)[-1]["text"])) == [serial]


# ---- commands ------------------------------------------------------------------------------


def test_orders_sync_and_list_commands(
    tmp_path: Path, server: StripeCheckoutServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions = old_sessions(server, 3)
    config = write_config(
        tmp_path,
        orders={
            "kind": "stripe",
            "api_base": server.url,
            "api_key_env": KEY_ENV,
            "price_ids": [DEFAULT_PRICE],
        },
    )
    runner = CliRunner()
    monkeypatch.delenv(KEY_ENV, raising=False)
    result = runner.invoke(cli, ["--config", str(config), "orders", "sync"])
    assert result.exit_code == 2 and KEY_ENV in result.output and "Traceback" not in result.output

    monkeypatch.setenv(KEY_ENV, TEST_API_KEY)
    result = runner.invoke(cli, ["--config", str(config), "orders", "sync"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "first sync (every order)" in result.output
    assert re.search(r"orders synced\s+│?\s*3\b", result.output), result.output
    assert re.search(r"API calls\s+│?\s*3\b", result.output), result.output

    result = runner.invoke(
        cli, ["--config", str(config), "orders", "sync", "--json"], catch_exceptions=False
    )
    summary = json.loads(result.output)
    assert (summary["mode"], summary["orders"], summary["api_calls"]) == ("incremental", 0, 1)

    result = runner.invoke(
        cli, ["--config", str(config), "orders", "list", "--json"], catch_exceptions=False
    )
    listed = json.loads(result.output)
    assert {r["order_id"] for r in listed} == {s["id"] for s in sessions}
    assert all(r["source"] == "stripe" and r["status"] == "paid" for r in listed)
    result = runner.invoke(cli, ["--config", str(config), "orders", "list"], catch_exceptions=False)
    assert result.exit_code == 0 and sessions[0]["id"][:20] in result.output

    server.down()
    result = runner.invoke(cli, ["--config", str(config), "orders", "sync"])
    assert result.exit_code == 2 and "unreachable" in result.output
    assert "Traceback" not in result.output


def test_orders_sync_with_an_orders_file(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    result = CliRunner().invoke(
        cli, ["--config", str(config), "orders", "sync", "--json"], catch_exceptions=False
    )
    summary = json.loads(result.output)
    rows = (tmp_path / "orders.csv").read_text().strip().splitlines()[1:]
    assert (summary["mode"], summary["orders"], summary["api_calls"]) == ("file", len(rows), 0)


def test_mailbot_run_schedules_the_stripe_sync(make_stripe_app: MakeApp) -> None:
    app = make_stripe_app(sync_minutes=5)
    jobs = {name: seconds for name, _, seconds in scheduled_jobs(app)}
    assert jobs["order-sync"] == 300
    csv_app = make_app(app.settings.base_dir.parent / "csv")
    assert "order-sync" not in {name for name, _, _ in scheduled_jobs(csv_app)}
    csv_app.close()


def test_mailbot_run_syncs_orders_at_start(tmp_path: Path, server: StripeCheckoutServer) -> None:
    old_sessions(server, 3)
    config = write_config(
        tmp_path,
        mailbox={"poll_seconds": 1},
        orders={
            "kind": "stripe",
            "api_base": server.url,
            "api_key_env": KEY_ENV,
            "price_ids": [DEFAULT_PRICE],
        },
    )
    # A real process (not CliRunner): `mailbot run` runs until SIGTERM and must exit 0.
    cmd = [sys.executable, "-m", "mailbot", "--config", str(config)]
    env = dict(os.environ, **{KEY_ENV: TEST_API_KEY})
    subprocess.run([*cmd, "keys", "init"], check=True, capture_output=True, env=env)
    store = Store.open(tmp_path / "mailbot.db")  # migrated before two processes share it
    service = subprocess.Popen(
        [*cmd, "--log-level", "info", "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        try:
            _wait_for(lambda: len(store.all_orders()) == 3, seconds=20)
            # The events cursor is stored when the whole re-list (PaymentIntents too) is done,
            # a moment after the last order.
            _wait_for(lambda: bool(store.get_state(STATE_EVENTS)), seconds=20)
        finally:
            store.close()
    finally:
        service.send_signal(signal.SIGTERM)
        out, err = service.communicate(timeout=30)
    assert service.returncode == 0, err
    assert "orders synced" in err and "Traceback" not in err
    assert TEST_API_KEY not in err


# ---- webhook -------------------------------------------------------------------------------


def _post(url: str, body: bytes, signature: str) -> tuple[int, dict[str, Any]]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "Stripe-Signature": signature},
    )
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


def _signed_event(server: StripeCheckoutServer, session: dict[str, Any]) -> tuple[bytes, str]:
    event_id = server.event_ids()[-1]
    # A body that lies about the customer: only its id may count.
    payload = json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": "checkout.session.completed",
            "data": {
                "object": {
                    "id": session["id"],
                    "customer_details": {"email": "attacker@evil.example"},
                }
            },
        }
    ).encode()
    header = stripe.WebhookSignature.generate_signature_header(payload.decode(), WEBHOOK_SECRET)
    return payload, header


def _escalation(app: App, escalation_id: int) -> EscalationRow:
    found = app.store.escalation(escalation_id)
    assert found is not None
    return found


def _wait_for(check: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_webhook_is_verified_queued_and_fetched_again(
    server: StripeCheckoutServer, make_stripe_app: MakeApp
) -> None:
    app = make_stripe_app()
    sync_orders(app)
    session = server.add_session("hook@example.com", seats=2)
    payload, header = _signed_event(server, session)
    with WebhookServer(app, WEBHOOK_SECRET, "127.0.0.1", 0, process=False) as hook:
        assert _post(hook.url, payload, "t=1,v1=00")[0] == 400
        assert _post(hook.url + "x", payload, header)[0] == 404
        status, answer = _post(hook.url, payload, header)
        assert status == 200 and answer == {"received": True, "id": answer["id"]}
        assert _post(hook.url, payload, header)[0] == 200  # Stripe redelivers: one row
    rows = query(app.store, "SELECT id, processed_at FROM webhook_events")
    assert rows == [{"id": answer["id"], "processed_at": None}]
    assert app.store.order(session["id"]) is None  # queued only

    report = sync_orders(app)
    assert report.webhook_events == 1
    order = app.store.order(session["id"])
    assert order is not None and (order.email, order.seats) == ("hook@example.com", 2)
    assert one(app.store, "SELECT processed_at FROM webhook_events")["processed_at"]  # type: ignore[index]


def test_webhook_serve_fulfils_a_paid_link_by_itself(
    server: StripeCheckoutServer, make_stripe_app: MakeApp
) -> None:
    app = make_stripe_app()
    sync_orders(app)
    deliver(app, "lee@contoso.example", serial := new_serial())
    process(app)
    ref = pay_link_reference(replies(app)[0]["text"], "lee@contoso.example")
    session = server.add_session("lee@contoso.example", client_reference_id=ref)
    payload, header = _signed_event(server, session)
    watcher = Store.open(app.settings.store_path)
    try:
        with WebhookServer(app, WEBHOOK_SECRET, "127.0.0.1", 0) as hook:
            assert _post(hook.url, payload, header)[0] == 200
            _wait_for(
                lambda: (
                    one(
                        watcher,
                        "SELECT state FROM pending_payments WHERE id = ? AND state = 'fulfilled'",
                        [ref],
                    )
                    is not None
                )
            )
    finally:
        watcher.close()
    assert app.store.licenses_for_serials([serial])[serial].order_id == session["id"]
    assert list(licenses_in(replies(app)[-1]["text"])) == [serial]


def test_webhook_serve_command(tmp_path: Path, server: StripeCheckoutServer) -> None:
    config = write_config(
        tmp_path,
        orders={
            "kind": "stripe",
            "api_base": server.url,
            "api_key_env": KEY_ENV,
            "price_ids": [DEFAULT_PRICE],
            "webhook_secret_env": SECRET_ENV,
        },
    )
    env = dict(os.environ, **{KEY_ENV: TEST_API_KEY, SECRET_ENV: WEBHOOK_SECRET})
    # A real process (not CliRunner): the server serves until SIGTERM and must exit 0.
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mailbot",
            "--config",
            str(config),
            "webhook",
            "serve",
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.fullmatch(r"listening on (http://127\.0\.0\.1:\d+/stripe/webhook)\n", line)
        assert match, line + (proc.stderr.read() if proc.poll() is not None else "")  # type: ignore[union-attr]
        session = server.add_session("cli-hook@example.com", seats=3)
        payload, header = _signed_event(server, session)
        assert _post(match.group(1), payload, header)[0] == 200
        store = Store.open(tmp_path / "mailbot.db")
        try:
            _wait_for(lambda: store.order(session["id"]) is not None)
        finally:
            store.close()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "stopped" in out and WEBHOOK_SECRET not in out + err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
