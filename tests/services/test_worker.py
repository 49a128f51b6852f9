"""The worker, one mail at a time through the whole pipeline: bounces of our own mail never
loop, the reply rate limit protects every inbox we write to, we never write to ourselves, and
"new computers" is a request unless a license really moves. (Regression tests from a review of
the core pipeline: each one failed before its fix.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from mailbot.core.model import Outcome, Reason
from mailbot.services.worker import Worker
from tests.apps import make_app
from tests.db import one, query
from tests.staff_env import mail, make_env, new_serial, order_row, request

STAFF = "licensing-team@amphis.example"


def dsn_for(message_id: str, recipient: str, n: int = 1) -> bytes:
    """A Postfix-style delivery status notification returning the headers of one of our mails."""
    return (
        "Return-Path: <>\r\n"
        "From: MAILER-DAEMON@mx.amphis.example (Mail Delivery System)\r\n"
        "To: support@amphis.example\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Date: Mon, 30 Nov 2026 09:10:05 +0100\r\n"
        f"Message-ID: <dsn-{n}@mx.amphis.example>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\r\n'
        "\r\n"
        "--b1\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
        "Your message could not be delivered.\r\n\r\n"
        "--b1\r\n"
        "Content-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.amphis.example\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\n"
        "Action: failed\r\n"
        "Status: 5.2.2\r\n"
        "Diagnostic-Code: smtp; 552 5.2.2 Mailbox full\r\n\r\n"
        "--b1\r\n"
        "Content-Type: text/rfc822-headers\r\n\r\n"
        "From: Amphis Customer support <support@amphis.example>\r\n"
        f"To: {recipient}\r\n"
        f"Message-ID: <{message_id}>\r\n"
        "Auto-Submitted: auto-replied\r\n\r\n"
        "--b1--\r\n"
    ).encode()


def test_a_bouncing_staff_address_does_not_loop(tmp_path: Path) -> None:
    """A notification to a full/mistyped staff mailbox bounces: that must not become a new
    escalation whose notification bounces again, forever."""
    env = make_env(tmp_path, [], staff={"notify": "immediate"})
    env.send(request("someone@stranger.example", new_serial()))  # no order: escalated
    [note] = env.outbox("notification")

    for n in range(1, 4):
        latest = env.outbox("notification")[-1]
        done = env.send(dsn_for(latest["message_id"], STAFF, n))
        assert done.outcome is Outcome.IGNORED and done.reason is Reason.BOUNCE

    assert [e["reason"] for e in env.escalations()] == ["no_order"]
    assert [r["id"] for r in env.outbox("notification")] == [note["id"]]


def test_a_bounce_of_a_customer_reply_still_escalates(tmp_path: Path) -> None:
    env = make_env(tmp_path, [order_row("ORD-A", "alice@northwind.example", 1)])
    env.send(request("alice@northwind.example", new_serial()))
    [reply] = env.outbox("reply")
    done = env.send(dsn_for(reply["message_id"], "alice@northwind.example"))
    assert done.outcome is Outcome.ESCALATED and done.reason is Reason.REPLY_BOUNCED
    assert one(env.store, "SELECT state FROM outbox WHERE id = ?", [reply["id"]]) == {
        "state": "bounced"
    }


def test_rate_limit_counts_replies_to_the_order_address_a_colleague_makes_us_write_to(
    tmp_path: Path,
) -> None:
    """Colleagues (any address at the company's domain) naming the boss's order make us mail the
    boss; the limit protects that inbox too, whichever address asks."""
    env = make_env(
        tmp_path,
        [order_row("ORD-7", "boss@fabrikam.example", 1)],
        policy={"max_replies_per_hour": 3},
    )
    serial = new_serial()
    env.send(request("boss@fabrikam.example", serial))
    outcomes = []
    for n in range(6):
        done = env.send(mail(f"user{n}@fabrikam.example", f"Order ORD-7, please resend {serial}"))
        outcomes.append((done.outcome, done.reason))
    to_boss = [r for r in env.outbox("reply") if r["to_addr"] == "boss@fabrikam.example"]
    assert len(to_boss) == 3
    assert outcomes[-1] == (Outcome.IGNORED, Reason.RATE_LIMITED)


@pytest.mark.parametrize("ours", ["support@amphis.example", STAFF])
def test_no_reply_to_our_own_address_named_in_reply_to(tmp_path: Path, ours: str) -> None:
    env = make_env(tmp_path, [], staff={"notify": "off"})
    # A question (acknowledged) and a mistyped serial (clarify) would both be answered.
    env.send(mail("carol@tailspin.example", "How do I install it on a server?", reply_to=ours))
    serial = new_serial()
    bad = serial[:-1] + ("0" if serial[-1] != "0" else "1")
    done = env.send(mail("dave@tailspin.example", f"serial {bad}", reply_to=ours))
    assert done.outcome is Outcome.CLARIFY
    assert [r["to_addr"] for r in env.outbox()] == []


@pytest.mark.parametrize("count", [2, 3])
def test_licenses_for_new_computers_are_a_request_not_a_transfer(
    tmp_path: Path, count: int
) -> None:
    env = make_env(tmp_path, [order_row("ORD-A", "it@fabrikam.example", 5)])
    serials = [new_serial() for _ in range(count)]
    lines = "\n".join(serials)
    done = env.send(
        mail("it@fabrikam.example", f"Please send licenses for our new computers:\n{lines}\n")
    )
    assert (done.outcome, done.reason) == (Outcome.ISSUED, None)
    assert sorted(done.serials) == sorted(serials)
    assert len(query(env.store, "SELECT license_no FROM licenses WHERE state = 'active'")) == count


def test_a_real_transfer_still_transfers(tmp_path: Path) -> None:
    env = make_env(tmp_path, [order_row("ORD-A", "it@fabrikam.example", 1)])
    old, new = new_serial(), new_serial()
    env.send(request("it@fabrikam.example", old))
    done = env.send(mail("it@fabrikam.example", f"Moving to a new PC.\nold: {old}\nnew: {new}\n"))
    assert done.outcome is Outcome.TRANSFERRED


def test_new_computers_without_enough_seats_still_go_to_a_person(tmp_path: Path) -> None:
    """Perhaps a move of a license mailbot never saw: no pay link, no partial issue."""
    app = make_app(
        tmp_path,
        "order_id,email,name,seats,status,created\n"
        "ORD-A,it@fabrikam.example,IT,1,paid,2026-11-02T10:00:00+00:00\n",
        orders={"payment_link": "https://buy.stripe.com/test_x"},
    )
    a, b = new_serial(), new_serial()
    app.mailbox.deliver(  # type: ignore[attr-defined]
        mail("it@fabrikam.example", f"Moving to a new PC.\nold: {a}\nnew: {b}\n")
    )
    [done] = Worker(app).poll_once()
    assert (done.outcome, done.reason) == (Outcome.ESCALATED, Reason.TRANSFER_REVIEW)
    assert query(app.store, "SELECT license_no FROM licenses") == []
    assert query(app.store, "SELECT id FROM pending_payments") == []


def test_mails_a_group_had_no_time_for_are_decided_in_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A group ends after GROUP_SECONDS; the mails already fetched for it are carried over to
    the next group, not dropped from the pass."""
    from mailbot.services import worker as worker_module

    monkeypatch.setattr(worker_module, "GROUP_SECONDS", 0.0)  # one mail per group
    env = make_env(
        tmp_path, [order_row(f"ORD-{i}", f"c{i}@northwind.example", 1) for i in range(30)]
    )
    for i in range(30):
        env.deliver(request(f"c{i}@northwind.example", new_serial()))
    done = env.poll()
    assert len(done) == 30 and {p.outcome for p in done} == {Outcome.ISSUED}
    assert not list((env.mailbox.path / "new").iterdir())
