"""Signed webhooks to a real receiver on 127.0.0.1: every event arrives once, signed, after the
change committed; a receiver that is down gets everything once it is back; a rolled-back mail
reports nothing; no license string and no secret leave where they should not."""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from mailbot.core.events import EVENT_TYPES, LICENSE_RENEWED, signature_valid
from mailbot.services import apply, escalations, events, licenses
from mailbot.services.finance_flags import flag_overused
from mailbot.services.orders import refresh_local_orders
from mailbot.services.webhooks import deliver_events
from tests.apps import REPO
from tests.db import query
from tests.servers.webhook_receiver import Posted, WebhookReceiver
from tests.staff_env import Env, make_env, new_serial, order_row, request

ALICE = "alice@contoso.example"
SECRET = "whsec-test-7c1f0e93a5b2d4"
SECRET_ENV = "MAILBOT_TEST_WEBHOOK_SECRET"


def hooked_env(
    tmp_path: Path, receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch, **more: Any
) -> Env:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    return make_env(
        tmp_path,
        [order_row("ORD-A", ALICE, 3)],
        webhooks={"url": receiver.url, "secret_env": SECRET_ENV, **more},
    )


def readme_verify() -> Any:
    """The receiver snippet of the README, run as a receiver would run it."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("**Checking the signature.**", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    scope: dict[str, Any] = {}
    exec(code.group(1), scope)  # noqa: S102 - our own README, the point of the test
    return scope["verify"]


def bodies(posts: list[Posted]) -> list[dict[str, Any]]:
    return [json.loads(p.body) for p in posts]


def stored_events(env: Env) -> list[dict[str, Any]]:
    return query(env.store, "SELECT * FROM events ORDER BY id")


def test_every_kind_of_change_arrives_once_signed_and_without_license_strings(
    tmp_path: Path, webhook_receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = hooked_env(tmp_path, webhook_receiver, monkeypatch)
    first, second, third = new_serial(), new_serial(), new_serial()
    env.send(request(ALICE, first))  # license.issued
    env.send(request(ALICE, first))  # license.resent
    now = env.clock.now()
    licenses.transfer(env.app, first, second, "ann", now, reason="new PC")
    granted, _ = licenses.grant(env.app, third, "", "", "ann", now, order_id="ORD-A")
    licenses.revoke(env.app, granted.license_no, "left the company", "ann", now)
    stranger = env.send(request("eve@fabrikam.example", new_serial()))  # escalation.created
    assert stranger.outcome.value == "escalated"
    esc_id = env.escalations()[0]["id"]
    escalations.resolve(env.store, esc_id, "ann", now, "answered by phone")
    env.write_orders([order_row("ORD-A", ALICE, 3, refunded=3)])
    refresh_local_orders(env.app)
    assert flag_overused(env.app, env.store, now)  # order.flagged (and its escalation)

    assert webhook_receiver.posts == []  # nothing is posted by the changes themselves
    report = deliver_events(env.app)
    assert (report.delivered, report.retrying, report.failed) == (9, 0, 0)

    posts = webhook_receiver.received()
    sent = bodies(posts)
    assert [b["type"] for b in sent] == [
        "license.issued",
        "license.resent",
        "license.transferred",
        "license.issued",
        "license.revoked",
        "escalation.created",
        "escalation.resolved",
        "escalation.created",
        "order.flagged",
    ]
    ids = [b["id"] for b in sent]
    assert len(ids) == len(set(ids)) == len(stored_events(env))
    verify = readme_verify()
    for post, body in zip(posts, sent, strict=True):
        header = post.headers["Mailbot-Signature"]
        stamp = int(now.timestamp())
        assert signature_valid(SECRET.encode(), header, post.body, stamp)
        assert verify(SECRET.encode(), header, post.body, now=stamp)
        assert not verify(b"another secret", header, post.body, now=stamp)
        assert not verify(SECRET.encode(), header, post.body + b" ", now=stamp)
        assert not verify(SECRET.encode(), header, post.body, now=stamp + 301)  # a replay
        assert post.headers["Mailbot-Event-Id"] == body["id"]
        assert post.headers["Mailbot-Event-Type"] == body["type"]
        assert post.path == "/hooks/mailbot"
    # No license string in any payload, nor anywhere in what was posted.
    strings = [r["license_string"] for r in query(env.store, "SELECT license_string FROM licenses")]
    assert len(strings) == 3
    for post in posts:
        for s in strings:
            assert s not in post.body.decode()
            assert s[:20] not in post.body.decode()
        assert "AMC1-" not in post.body.decode()

    by_type = {b["type"]: b["data"] for b in sent}
    moved = by_type["license.transferred"]
    assert (moved["old_license"]["serial"], moved["old_license"]["state"]) == (first, "revoked")
    assert (moved["license"]["serial"], moved["license"]["state"]) == (second, "active")
    assert moved["by"] == "ann"
    assert by_type["license.resent"]["to"] == ALICE
    assert by_type["license.revoked"]["license"]["revoked_reason"] == "left the company"
    assert by_type["escalation.resolved"]["escalation"]["state"] == "resolved"
    flagged = by_type["order.flagged"]
    assert flagged["order"]["order_id"] == "ORD-A"
    assert flagged["order"]["usable_seats"] == 0
    assert flagged["reason"] == "refunded_order"

    # Delivered once: another pass posts nothing more.
    assert deliver_events(env.app).delivered == 0
    assert len(webhook_receiver.posts) == 9


def test_a_receiver_that_is_down_gets_everything_once_when_it_is_back(
    tmp_path: Path, webhook_receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = hooked_env(tmp_path, webhook_receiver, monkeypatch)
    webhook_receiver.stop()  # connection refused
    for _ in range(3):
        env.send(request(ALICE, new_serial()))

    # Down: one try per pass (the rest wait, using no tries), then backoff.
    report = deliver_events(env.app)
    assert (report.delivered, report.retrying) == (0, 1)
    assert "cannot connect to http://127.0.0.1:" in report.errors[0]
    assert "/hooks" not in report.errors[0]  # the url's path may hold a receiver's token
    tried = stored_events(env)
    assert [e["attempts"] for e in tried] == [1, 0, 0]
    assert tried[0]["state"] == "pending" and tried[0]["next_attempt_at"] > tried[0]["created_at"]

    # Up but failing (HTTP 500): still retried, with growing waits.
    webhook_receiver.start()
    webhook_receiver.answer(500)
    for _ in range(6):
        env.clock.advance(minutes=1)
        deliver_events(env.app)
    failing = stored_events(env)
    assert all(e["state"] == "pending" for e in failing)
    assert "answered HTTP 500" in failing[0]["last_error"]
    assert webhook_receiver.received() == []
    first_tries = failing[0]["attempts"]
    assert 2 <= first_tries < 7  # backoff: not once a minute

    webhook_receiver.answer(200)
    env.clock.advance(hours=2)
    report = deliver_events(env.app)
    assert report.delivered == 3
    got = bodies(webhook_receiver.received())
    assert Counter(b["type"] for b in got) == {"license.issued": 3}
    assert len({b["id"] for b in got}) == 3
    assert all(e["state"] == "delivered" and e["last_error"] is None for e in stored_events(env))
    env.clock.advance(hours=2)
    assert deliver_events(env.app).delivered == 0
    assert len(webhook_receiver.received()) == 3


def test_an_event_is_posted_only_after_its_change_committed(
    tmp_path: Path, webhook_receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = hooked_env(tmp_path, webhook_receiver, monkeypatch)
    serial = new_serial()
    seen: list[int] = []

    def look(post: Posted) -> None:
        # Another connection, as the vendor's system would read: the license is there.
        with sqlite3.connect(env.base / "mailbot.db") as conn:
            seen.append(
                conn.execute("SELECT count(*) FROM licenses WHERE serial = ?", [serial]).fetchone()[
                    0
                ]
            )

    webhook_receiver.on_post = look
    env.deliver(request(ALICE, serial))
    result = env.cli("run", "--once")
    assert result.exit_code == 0, result.output
    assert "webhooks delivered: 1" in result.output
    assert seen == [1]
    assert bodies(webhook_receiver.received())[0]["data"]["license"]["serial"] == serial


def test_a_mail_that_fails_half_way_reports_nothing_of_it(
    tmp_path: Path, webhook_receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = hooked_env(tmp_path, webhook_receiver, monkeypatch)

    def crash(*args: Any, **kwargs: Any) -> int:
        raise RuntimeError("the disk went away while composing the reply")

    monkeypatch.setattr(apply, "_reply", crash)  # after the license was issued in the mail
    processed = env.send(request(ALICE, new_serial()))
    assert processed.reason is not None and processed.reason.value == "internal_error"
    assert query(env.store, "SELECT * FROM licenses") == []
    # The license's event went with its rolled-back savepoint; the escalation staff now see
    # is the only change, and the only event.
    kinds = [
        (e["type"], json.loads(e["payload"])["escalation"]["reason"]) for e in stored_events(env)
    ]
    assert kinds == [("escalation.created", "internal_error")]


def test_only_the_configured_types_and_nothing_without_a_url(
    tmp_path: Path, webhook_receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = hooked_env(
        tmp_path / "some", webhook_receiver, monkeypatch, events=["escalation.created"]
    )
    env.send(request(ALICE, new_serial()))
    env.send(request("eve@fabrikam.example", new_serial()))
    assert [e["type"] for e in stored_events(env)] == ["escalation.created"]

    plain = make_env(tmp_path / "none", [order_row("ORD-A", ALICE, 3)])
    plain.send(request(ALICE, new_serial()))
    assert stored_events(plain) == []
    assert deliver_events(plain.app).delivered == 0
    with pytest.raises(ValueError, match="not one of EVENT_TYPES"):
        events.emit(plain.store, "license.sent", {}, plain.clock.now())


def test_renewals_can_report_through_emit(
    tmp_path: Path, webhook_receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = hooked_env(tmp_path, webhook_receiver, monkeypatch)
    assert LICENSE_RENEWED in EVENT_TYPES
    with env.store.transaction() as store:
        event_id = events.emit(
            store, LICENSE_RENEWED, {"license": {"serial": "X"}}, env.clock.now()
        )
    assert event_id is not None and re.fullmatch(r"evt_[0-9a-f]{20}", event_id)
    deliver_events(env.app)
    assert bodies(webhook_receiver.received())[0]["id"] == event_id


def test_give_up_list_and_resend_from_the_command_line_never_showing_the_secret(
    tmp_path: Path,
    webhook_receiver: WebhookReceiver,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    env = hooked_env(tmp_path, webhook_receiver, monkeypatch, max_attempts=2)
    env.send(request(ALICE, new_serial()))
    webhook_receiver.answer(503)
    deliver_events(env.app)
    env.clock.advance(hours=1)
    report = deliver_events(env.app)
    assert report.failed == 1
    (event,) = stored_events(env)
    assert (event["state"], event["attempts"]) == ("failed", 2)

    listed = env.cli_json("webhooks", "list", "--state", "failed")
    assert [(e["id"], e["type"], e["attempts"]) for e in listed] == [
        (event["event_id"], "license.issued", 2)
    ]
    assert "HTTP 503" in listed[0]["last_error"]
    table = env.cli("webhooks", "list")
    assert event["event_id"] in table.output and "failed" in table.output
    shown = env.cli("webhooks", "show", event["event_id"])
    assert shown.exit_code == 0 and ALICE in shown.output
    missing = env.cli("webhooks", "resend", "evt_nope")
    assert missing.exit_code == 2 and "no event 'evt_nope'" in missing.output

    webhook_receiver.answer(200)
    again = env.cli("webhooks", "resend", event["event_id"])
    assert again.exit_code == 0, again.output
    assert "queued again" in again.output
    sent = env.cli("webhooks", "send")
    assert sent.exit_code == 0 and "webhooks delivered: 1" in sent.output
    assert [json.loads(p.body)["id"] for p in webhook_receiver.received()] == [event["event_id"]]
    doctor = env.cli("doctor")
    assert "events go to http://127.0.0.1" in doctor.output

    outputs = [table.output, shown.output, again.output, sent.output, doctor.output]
    outputs += [json.dumps(listed), caplog.text]
    for text in outputs:
        assert SECRET not in text


def test_doctor_and_run_name_a_missing_secret_and_nothing_is_lost(
    tmp_path: Path, webhook_receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = hooked_env(tmp_path, webhook_receiver, monkeypatch)
    env.send(request(ALICE, new_serial()))
    monkeypatch.delenv(SECRET_ENV)
    doctor = env.cli("doctor", "--json")
    assert doctor.exit_code == 1
    (check,) = [c for c in json.loads(doctor.output) if c["name"] == "webhooks"]
    assert not check["ok"] and SECRET_ENV in check["detail"]
    run = env.cli("run", "--once")
    assert run.exit_code == 2 and "the webhook secret is not set" in run.output
    # The event waits, its tries unused, until the secret is there.
    (event,) = stored_events(env)
    assert (event["state"], event["attempts"]) == ("pending", 0)


def test_a_renewal_and_a_release_by_mail_are_reported(
    tmp_path: Path, webhook_receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The changes of the other parts of issue 13 report too: re-signed licenses as
    `license.renewed`, a seat a customer released by mail as `license.revoked`."""
    from mailbot.services.order_sync import sync_orders
    from tests.services.test_renewals import row, write_terms
    from tests.staff_env import mail

    monkeypatch.setenv(SECRET_ENV, SECRET)
    env = make_env(tmp_path, [], webhooks={"url": webhook_receiver.url, "secret_env": SECRET_ENV})
    write_terms(env, row("SUB-1", ALICE, 2, "2026-12-31"))
    first, second = new_serial(), new_serial()
    env.send(request(ALICE, first, second))
    write_terms(env, row("SUB-1", ALICE, 2, "2027-12-31"))
    assert sync_orders(env.app).renewals == ["SUB-1"]
    done = env.send(mail(ALICE, f"Hi,\n\nplease release {first}, that laptop is gone.\n"))
    assert done.outcome.value == "released"
    deliver_events(env.app)
    sent = bodies(webhook_receiver.received())
    renewed = [b for b in sent if b["type"] == "license.renewed"]
    assert sorted(b["data"]["license"]["serial"] for b in renewed) == sorted([first, second])
    assert all(b["data"]["paid_until"] == "2027-12-31" for b in renewed)
    [revoked] = [b for b in sent if b["type"] == "license.revoked"]
    assert revoked["data"]["license"]["serial"] == first
    assert all("license_string" not in json.dumps(b) for b in sent)
