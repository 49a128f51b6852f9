"""Staff hear about new escalations without polling: an immediate notification in the same
transaction, or a digest on a schedule (tested with a frozen clock), or nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mailbot.app import build
from mailbot.config import load
from mailbot.scheduler import periodic_jobs as scheduled_jobs
from mailbot.services import notify
from mailbot.services.delivery import deliver_outbox
from mailbot.store import iso
from mailbot.store.rows import NewEscalation
from tests.clock import FrozenClock
from tests.db import execute, one
from tests.staff_env import T0, Env, mail, make_env, new_serial, order_row, request, text_of

STAFF = "licensing-team@amphis.example"
ORDERS = [order_row("ORD-A", "alice@northwind.example", 1)]


def stranger(env: Env, n: int = 1) -> int:
    """A request from someone without an order: one escalation; returns its id."""
    env.send(request(f"someone{n}@stranger.example", new_serial()))
    return int(env.escalations()[-1]["id"])


def test_immediate_notification_says_why_and_how_to_resolve(tmp_path: Path) -> None:
    env = make_env(tmp_path, ORDERS, staff={"notify": "immediate"})
    esc = stranger(env)
    notes = env.outbox("notification")
    assert len(notes) == 1
    note = notes[0]
    assert note["to_addr"] == STAFF and note["escalation_id"] == esc
    text = text_of(note["raw"])
    assert "no_order" in text and "someone1@stranger.example" in text
    assert f"mailbot queue reply {esc} --text-file answer.txt" in text
    assert f"mailbot queue show {esc}" in text
    assert "please send the license" in text  # the customer's words, for triage
    assert "AMC1-" not in text  # never a license string in staff mail
    assert env.escalations()[0]["notified_at"] == iso(T0)
    assert f"#{esc}" in note["subject"]
    # The digest job finds nothing left to tell.
    assert notify.send_digest(env.app, env.clock.now()) == 0
    # And the outbox job delivers it like any other mail.
    env.poll()

    deliver_outbox(env.app)
    assert one(env.store, "SELECT state FROM outbox WHERE id = ?", [note["id"]]) == {
        "state": "sent"
    }


def test_the_notification_is_part_of_the_escalations_transaction(tmp_path: Path) -> None:
    env = make_env(tmp_path, ORDERS, staff={"notify": "immediate"})

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        with env.store.transaction() as store:
            esc = store.add_escalation(
                NewEscalation(reason="question", detail="x", sender="a@b.example"), "mailbot", T0
            )
            notify.escalation_created(env.app, store, esc, T0)
            assert len(env.outbox("notification")) == 1
            raise Boom
    assert env.escalations() == [] and env.outbox() == []


def test_off_sends_nothing(tmp_path: Path) -> None:
    env = make_env(tmp_path, ORDERS, staff={"notify": "off"})
    stranger(env)
    env.clock.advance(days=1)
    assert notify.send_digest(env.app, env.clock.now()) == 0
    assert env.outbox("notification") == [] and env.outbox("digest") == []


def test_no_staff_address_sends_nothing(tmp_path: Path) -> None:
    env = make_env(tmp_path, ORDERS, outbox={"staff_address": ""})
    stranger(env)
    assert env.outbox("notification") == []


def test_digest_timing_with_a_frozen_clock(tmp_path: Path) -> None:
    env = make_env(tmp_path, ORDERS, staff={"notify": "digest", "digest_minutes": 60})
    first = stranger(env, 1)  # 09:00
    assert env.outbox("notification") == []  # nothing immediate in digest mode
    env.clock.advance(minutes=10)
    second = stranger(env, 2)  # 09:10
    env.clock.advance(minutes=49)  # 09:59: the oldest has waited 59 minutes
    assert notify.send_digest(env.app, env.clock.now()) == 0
    env.clock.advance(minutes=1)  # 10:00
    assert notify.send_digest(env.app, env.clock.now()) == 2
    digests = env.outbox("digest")
    assert len(digests) == 1 and digests[0]["to_addr"] == STAFF
    text = text_of(digests[0]["raw"])
    assert f"Escalation #{first}" in text and f"Escalation #{second}" in text
    assert "2 new escalations" in digests[0]["subject"]
    assert {e["notified_at"] for e in env.escalations()} == {"2026-11-29T10:00:00+00:00"}
    env.clock.advance(minutes=1)
    assert notify.send_digest(env.app, env.clock.now()) == 0  # nothing new

    env.clock.advance(minutes=9)  # 10:10
    third = stranger(env, 3)
    # One resolved before the digest: it is not announced.
    env.clock.advance(minutes=5)
    fourth = stranger(env, 4)
    from mailbot.services.escalations import resolve

    resolve(env.store, fourth, "ann", env.clock.now(), "handled at once")
    env.clock.advance(minutes=54)  # 11:09: the third has waited 59 minutes
    assert notify.send_digest(env.app, env.clock.now()) == 0
    env.clock.advance(minutes=1)  # 11:10
    assert notify.send_digest(env.app, env.clock.now()) == 1
    second_digest = text_of(env.outbox("digest")[-1]["raw"])
    assert f"Escalation #{third}" in second_digest and f"#{fourth}:" not in second_digest
    assert f"Escalation #{first}" not in second_digest
    assert len(env.outbox("digest")) == 2


def test_the_digest_job_is_scheduled(tmp_path: Path) -> None:
    env = make_env(tmp_path, ORDERS, staff={"notify": "digest", "digest_minutes": 15})
    jobs = {name: (job, seconds) for name, job, seconds in scheduled_jobs(env.app)}
    job, seconds = jobs["staff-digest"]
    assert seconds <= 60
    stranger(env)
    env.clock.advance(minutes=15)
    job()
    assert len(env.outbox("digest")) == 1


def test_escalations_that_bypass_the_hook_are_caught_up_in_immediate_mode(tmp_path: Path) -> None:
    env = make_env(tmp_path, ORDERS, staff={"notify": "immediate"})
    serial = new_serial()
    # As an older release wrote them: no hook, serials as bare strings.
    with env.store.transaction() as store:
        esc = store.add_escalation(
            NewEscalation(
                reason="payment_expired",
                detail="pay-link request was not paid",
                sender="x@y.example",
            ),
            "mailbot",
            T0,
        )
        execute(
            store, "UPDATE escalations SET serials = ? WHERE id = ?", [json.dumps([serial]), esc]
        )
    assert notify.send_digest(env.app, T0) == 1
    text = text_of(env.outbox("digest")[0]["raw"])
    assert "payment_expired" in text and serial in text
    # The queue reads such an escalation like any other, and can act on its serial.
    from mailbot.services import escalations as q
    from mailbot.services.queue_view import get_escalation

    assert get_escalation(env.app, env.store, esc).escalation.serials[0].serial == serial
    assert env.cli("queue", "show", str(esc)).exit_code == 0
    q.issue(env.app, esc, "ann", T0, grant_reason="paid by bank transfer")
    assert one(env.store, "SELECT customer_email FROM licenses WHERE serial = ?", [serial]) == {
        "customer_email": "x@y.example"
    }


def test_a_broken_notification_template_never_costs_the_customers_mail(tmp_path: Path) -> None:
    overrides = tmp_path / "site" / "tpl"
    overrides.mkdir(parents=True, exist_ok=True)
    (overrides / "staff_notification.txt").write_text("{{ no_such_thing.at_all }}\n")
    env = make_env(tmp_path, ORDERS, templates={"path": "tpl"})
    processed = env.send(request("nobody@stranger.example", new_serial()))
    assert processed.outcome.value == "escalated"
    assert env.outbox("notification") == []
    assert env.escalations()[0]["notified_at"] is None
    assert len(env.outbox("reply")) == 1  # the customer's acknowledgement still goes out


def test_with_imap_the_notification_points_at_the_escalated_folder(tmp_path: Path) -> None:
    env = make_env(tmp_path, ORDERS)
    env.send(mail("q@stranger.example", "Do you sell site licenses?", "Question"))
    esc = env.escalations()[-1]["id"]
    # The same store, seen by a config whose mailbox is IMAP (nothing connects here).
    text = env.config.read_text().replace('kind = "maildir"', 'kind = "imap"')
    imap_config = env.config.with_name("imap.toml")
    imap_config.write_text(text)
    app = build(load(imap_config), clock=FrozenClock(T0), store=env.store)
    with env.store.transaction() as store:
        notify.escalation_created(app, store, esc, T0)
    assert 'IMAP folder "mailbot/escalated"' in text_of(env.outbox("notification")[-1]["raw"])
    assert json.loads(json.dumps(env.escalations()[-1]["notified_at"]))
