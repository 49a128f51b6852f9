"""The human queue: listing, showing, every staff action, the audit trail, refusals on closed
escalations, retry after the facts changed, and resolving the demo escalations one command each."""

from __future__ import annotations

import json
import shlex
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from mailbot.cli.formats import default_actor
from mailbot.services import escalation_reply, escalation_retry
from mailbot.services import escalations as q
from mailbot.services.customers import Seats
from mailbot.services.escalations import QueueError
from mailbot.services.queue_view import get_escalation, list_escalations
from mailbot.services.suggestions import suggested_commands
from tests.apps import DEMO
from tests.db import one, query
from tests.staff_env import (
    T0,
    Env,
    mail,
    make_env,
    new_serial,
    order_row,
    parsed,
    request,
    text_of,
)

ALICE = "alice@northwind.example"
BOB = "bob@northwind.example"
SAM = "sam@stranger.example"


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return make_env(
        tmp_path,
        [
            order_row("ORD-A", ALICE, 1, name="Northwind Traders"),
            order_row("ORD-R", "tom@tailspin.example", 1, status="refunded"),
            order_row("ORD-B", BOB, 2),
        ],
    )


def escalate_no_order(env: Env, sender: str = SAM, **kw: object) -> tuple[int, str]:
    serial = new_serial()
    processed = env.send(request(sender, serial, **kw))  # type: ignore[arg-type]
    assert processed.outcome.value == "escalated"
    esc = one(
        env.store, "SELECT id FROM escalations WHERE message_row = ?", [processed.message_row]
    )
    return esc["id"], serial


# -- list and show ---------------------------------------------------------------------------


def test_list_is_oldest_first_and_filters(env: Env) -> None:
    first, _ = escalate_no_order(env, "a@one.example")
    env.clock.advance(hours=3)
    second, _ = escalate_no_order(env, "b@two.example")
    env.clock.advance(hours=1)
    question = env.send(mail(ALICE, "Do I need a license for our file server?", "Server?"))
    third = env.escalations()[-1]["id"]
    assert question.reason is not None and question.reason.value == "question"
    now = env.clock.now()

    assert [e.id for e in list_escalations(env.store)] == [first, second, third]
    assert [e.id for e in list_escalations(env.store, reason="no_order")] == [first, second]
    assert [e.id for e in list_escalations(env.store, sender="B@two.example")] == [second]
    assert [e.id for e in list_escalations(env.store, sender="@two.example")] == [second]
    assert list_escalations(env.store, sender="@%") == []  # LIKE wildcards are literal
    older = list_escalations(env.store, older_than=timedelta(hours=2), now=now)
    assert [e.id for e in older] == [first]
    newer = list_escalations(env.store, newer_than=timedelta(minutes=90), now=now)
    assert [e.id for e in newer] == [second, third]

    q.reject(env.store, first, "carol", now, "spam")
    assert [e.id for e in list_escalations(env.store)] == [second, third]
    assert [e.id for e in list_escalations(env.store, state="rejected")] == [first]
    assert len(list_escalations(env.store, state=None)) == 3


def test_list_command_table_and_json(env: Env) -> None:
    esc, serial = escalate_no_order(env)
    out = env.cli("queue", "list")
    assert out.exit_code == 0, out.output
    assert "no_order" in out.output and SAM in out.output and serial in out.output
    items = env.cli_json("queue", "list", "--older-than", "0m")
    assert [i["id"] for i in items] == [esc]
    assert items[0]["serials"][0]["serial"] == serial
    assert env.cli("queue", "list", "--older-than", "soon").exit_code == 2


def test_show_has_the_mail_the_facts_and_the_way_out(env: Env) -> None:
    # Alice's first serial takes her only seat; the second mail finds none left.
    env.send(request(ALICE, new_serial()))
    env.clock.advance(minutes=5)
    typo = new_serial()
    bad = typo[:-1] + ("0" if typo[-1] != "0" else "1")
    second = new_serial()
    processed = env.send(request(ALICE, second, bad))
    assert processed.reason is not None and processed.reason.value == "seats_exhausted"
    esc_id = env.escalations()[-1]["id"]

    view = get_escalation(env.app, env.store, esc_id)
    esc = view.escalation
    assert esc.reason == "seats_exhausted" and esc.state == "open"
    checks = {s.serial: s.status for s in esc.serials}
    assert checks[second] == "ok" and "mistyped" in checks.values()
    customer = view.customer
    assert [o.order_id for o in customer.orders] == ["ORD-A"]
    assert customer.seats == Seats(bought=1, usable=1, in_use=1, free=0)
    assert len(customer.licenses) == 1
    assert len(customer.messages) == 1  # the earlier mail, not this one
    assert view.audit[0].action == "escalated"
    assert any("reject" in c for c in suggested_commands(view))

    out = env.cli("queue", "show", str(esc_id))
    assert out.exit_code == 0, out.output
    for expected in (
        "seats_exhausted",
        second,
        "ORD-A",
        "From:",
        "Message-ID:",
        "please send the license",
        "To resolve it",
        "History",
    ):
        assert expected in out.output, expected
    shown = env.cli_json("queue", "show", str(esc_id))
    assert "please send the license" in shown["message"]["text"]
    assert shown["message"]["headers"]["From"] == ALICE
    raw = env.cli("queue", "show", str(esc_id), "--raw")
    assert raw.output.startswith("Content-Type") or "From:" in raw.output
    missing = env.cli("queue", "show", "999")
    assert missing.exit_code == 2 and "no escalation #999" in missing.output


# -- actions ---------------------------------------------------------------------------------


def test_claim_records_who_and_refuses_a_colleagues_claim(env: Env) -> None:
    esc, _ = escalate_no_order(env)
    q.claim(env.store, esc, "alice", T0)
    assert one(env.store, "SELECT claimed_by FROM escalations WHERE id = ?", [esc]) == {
        "claimed_by": "alice"
    }
    with pytest.raises(QueueError, match="claimed by alice"):
        q.claim(env.store, esc, "bob", T0)
    q.claim(env.store, esc, "bob", T0, force=True)
    q.claim(env.store, esc, "bob", T0, release=True)
    actions = [(a["actor"], a["action"]) for a in env.audit(esc)]
    assert actions[1:] == [("alice", "claimed"), ("bob", "claimed"), ("bob", "released")]
    result = env.cli("queue", "claim", str(esc), "--as", "dora")
    assert result.exit_code == 0 and "claimed by dora" in result.output


def test_issue_against_an_order_mails_the_orders_email(env: Env) -> None:
    # A colleague at the same company writes from another address: the license goes to the
    # order's address, never to the writer.
    esc, serial = escalate_no_order(env, "carol@contoso.example")
    before = len(env.outbox("reply"))
    result = q.issue(env.app, esc, "alice", env.clock.now(), order_id="ORD-B")
    assert result.state == "resolved" and len(result.license_nos) == 1
    lic = one(env.store, "SELECT * FROM licenses WHERE serial = ?", [serial])
    assert lic["state"] == "active" and lic["order_id"] == "ORD-B"
    assert lic["customer_email"] == BOB and lic["granted_by"] == "alice"
    replies = env.outbox("reply")[before:]
    assert [r["to_addr"] for r in replies] == [BOB]
    assert lic["license_string"] in text_of(replies[0]["raw"])
    original = one(
        env.store,
        "SELECT m.message_id FROM escalations e JOIN messages m ON "
        "m.id = e.message_row WHERE e.id = ?",
        [esc],
    )["message_id"]
    assert parsed(replies[0]["raw"])["In-Reply-To"] == f"<{original}>"
    last = env.audit(esc)[-1]
    assert last["actor"] == "alice" and last["action"] == "issued"
    assert (
        "ORD-B" in last["detail"]
        and BOB in last["detail"]
        and "not to the sender" in last["detail"]
    )


def test_issue_as_manual_grant_goes_to_the_sender_and_says_so(env: Env) -> None:
    esc, serial = escalate_no_order(env)
    result = q.issue(env.app, esc, "alice", env.clock.now(), grant_reason="trade fair demo")
    lic = one(env.store, "SELECT * FROM licenses WHERE serial = ?", [serial])
    assert lic["order_id"] is None and lic["grant_reason"] == "trade fair demo"
    assert lic["customer_email"] == SAM
    assert env.outbox("reply")[-1]["to_addr"] == SAM
    assert "manual grant" in env.audit(esc)[-1]["detail"]
    assert SAM in env.audit(esc)[-1]["detail"]
    assert result.outbox_ids == (env.outbox()[-1]["id"],)


def test_issue_refusals_in_plain_words(env: Env) -> None:
    esc, serial = escalate_no_order(env)
    now = env.clock.now()
    with pytest.raises(QueueError, match="either --order ORDER or --grant"):
        q.issue(env.app, esc, "alice", now)
    with pytest.raises(QueueError, match="no order 'NOPE'"):
        q.issue(env.app, esc, "alice", now, order_id="NOPE")
    with pytest.raises(QueueError, match="ORD-R is refunded"):
        q.issue(env.app, esc, "alice", now, order_id="ORD-R")
    with pytest.raises(QueueError, match="is not a AMC serial"):
        q.issue(env.app, esc, "alice", now, order_id="ORD-B", serials=["hello"])
    # Alice's one seat is taken by her own request first.
    env.send(request(ALICE, new_serial()))
    with pytest.raises(QueueError, match="ORD-A has no free seat"):
        q.issue(env.app, esc, "alice", now, order_id="ORD-A")
    # Nothing was half done: still open, no license for the serial.
    assert env.escalations()[0]["state"] == "open"
    assert one(env.store, "SELECT * FROM licenses WHERE serial = ?", [serial]) is None
    q.issue(env.app, esc, "alice", now, order_id="ORD-A", force=True)
    assert one(env.store, "SELECT order_id FROM licenses WHERE serial = ?", [serial]) == {
        "order_id": "ORD-A"
    }


def test_issue_refuses_a_serial_with_an_active_license(env: Env) -> None:
    licensed = new_serial()
    env.send(request(BOB, licensed))
    esc, _ = escalate_no_order(env)
    with pytest.raises(QueueError, match="already has an active license"):
        q.issue(env.app, esc, "alice", env.clock.now(), grant_reason="x", serials=[licensed])
    assert env.escalations(state="open")


def test_reply_with_free_text_and_templates(env: Env) -> None:
    env.send(
        mail(
            ALICE,
            "Do I need a license for our file server?",
            "Server?",
            reply_to="it@northwind.example",
        )
    )
    esc = env.escalations()[-1]["id"]
    with pytest.raises(QueueError, match="either --template NAME or --text-file"):
        escalation_reply.reply(env.app, esc, "alice", T0)
    with pytest.raises(QueueError, match="no reply template 'nope'"):
        escalation_reply.reply(env.app, esc, "alice", T0, template="nope")
    with pytest.raises(QueueError, match="carries license strings"):
        escalation_reply.reply(env.app, esc, "alice", T0, template="issued")

    answer = "No: a server where nobody runs the app needs no license."
    result = escalation_reply.reply(env.app, esc, "alice", T0, text=answer, keep_open=True)
    assert result.state == "open"
    row = env.outbox()[-1]
    assert row["kind"] == "reply" and row["to_addr"] == "it@northwind.example"
    assert answer in text_of(row["raw"])
    assert parsed(row["raw"])["Subject"] == "Re: Server?"
    assert parsed(row["raw"])["Auto-Submitted"] is None  # a person wrote it
    escalation_reply.reply(env.app, esc, "alice", T0, template="escalated")
    assert env.escalations()[-1]["state"] == "resolved"
    assert [a["action"] for a in env.audit(esc)][-2:] == ["replied", "replied"]


def test_reply_template_carries_only_the_recipients_licenses(env: Env) -> None:
    serial = new_serial()
    env.send(request(ALICE, serial))
    # Someone else asks for the same serial: escalated as licensed elsewhere.
    processed = env.send(request(SAM, serial))
    assert processed.reason is not None
    assert processed.reason.value == "serial_licensed_elsewhere"
    esc = env.escalations()[-1]["id"]
    with pytest.raises(QueueError, match="holds no active license"):
        escalation_reply.reply(env.app, esc, "alice", T0, template="resent")


def test_reject_note_reopen_and_the_audit_trail(env: Env) -> None:
    esc, _ = escalate_no_order(env)
    with pytest.raises(QueueError, match="say why"):
        q.reject(env.store, esc, "alice", T0, " ")
    q.reject(env.store, esc, "alice", T0 + timedelta(minutes=1), "not a customer")
    q.note(env.store, esc, "bob", T0 + timedelta(minutes=2), "he called, bought today")
    q.reopen(env.store, esc, "bob", T0 + timedelta(minutes=3), "order arrived")
    with pytest.raises(QueueError, match="already open"):
        q.reopen(env.store, esc, "bob", T0)
    q.resolve(env.store, esc, "bob", T0 + timedelta(minutes=4), "done by phone")
    trail = [(a["actor"], a["action"], a["at"][11:16]) for a in env.audit(esc)]
    assert trail[1:] == [
        ("alice", "rejected", "09:01"),
        ("bob", "note", "09:02"),
        ("bob", "reopened", "09:03"),
        ("bob", "resolved", "09:04"),
    ]
    out = env.cli("queue", "show", str(esc))
    for word in (
        "rejected",
        "not a customer",
        "he called, bought today",
        "reopened",
        "done by phone",
    ):
        assert word in out.output


def test_actions_on_closed_escalations_refuse_clearly(env: Env) -> None:
    esc, serial = escalate_no_order(env)
    q.reject(env.store, esc, "alice", T0, "spam")
    refusal = f"escalation #{esc} is rejected; `mailbot queue reopen {esc}` first"
    now = env.clock.now()
    attempts = [
        lambda: q.claim(env.store, esc, "bob", now),
        lambda: q.issue(env.app, esc, "bob", now, order_id="ORD-B"),
        lambda: q.issue(env.app, esc, "bob", now, grant_reason="x"),
        lambda: escalation_reply.reply(env.app, esc, "bob", now, text="hi"),
        lambda: q.reject(env.store, esc, "bob", now, "again"),
        lambda: q.resolve(env.store, esc, "bob", now),
        lambda: escalation_retry.retry(env.app, esc, "bob", now),
        lambda: q.transfer(env.app, esc, "bob", now, old_serial=serial, new_serial=serial),
    ]
    for attempt in attempts:
        with pytest.raises(QueueError) as caught:
            attempt()
        assert str(caught.value) == refusal
    # Notes still work, and nothing else happened.
    q.note(env.store, esc, "bob", now, "for the record")
    assert one(env.store, "SELECT count(*) AS n FROM licenses")["n"] == 0
    result = env.cli("queue", "issue", str(esc), "--grant", "x")
    assert result.exit_code == 2 and "reopen" in result.output


def test_retry_after_the_order_arrived_issues_and_resolves(env: Env) -> None:
    esc, serial = escalate_no_order(env)
    # Still no order: stays open, the new look is in the history.
    result = escalation_retry.retry(env.app, esc, "alice", env.clock.now())
    assert result.state == "open" and "no_order" in result.summary
    assert env.audit(esc)[-1]["action"] == "retried"
    assert "still escalated" in env.audit(esc)[-1]["detail"]

    env.write_orders([order_row("ORD-S", SAM, 1), order_row("ORD-B", BOB, 2)])
    env.clock.advance(minutes=10)
    result = escalation_retry.retry(env.app, esc, "alice", env.clock.now())
    assert result.state == "resolved" and len(result.license_nos) == 1
    lic = one(env.store, "SELECT * FROM licenses WHERE serial = ?", [serial])
    assert lic["state"] == "active" and lic["order_id"] == "ORD-S"
    row = one(
        env.store,
        "SELECT m.outcome, m.reason FROM escalations e JOIN messages m ON "
        "m.id = e.message_row WHERE e.id = ?",
        [esc],
    )
    assert row == {"outcome": "issued", "reason": None}
    assert env.audit(esc)[-1]["detail"].startswith("now issued")
    reply = env.outbox("reply")[-1]
    assert reply["to_addr"] == SAM and lic["license_string"] in text_of(reply["raw"])
    # No second escalation was created by the retry.
    assert len(env.escalations()) == 1


def test_transfer_beyond_the_limit_by_staff(tmp_path: Path) -> None:
    env = make_env(tmp_path, [order_row("ORD-A", ALICE, 1)], policy={"transfers_per_seat": 0})
    old, new = new_serial(), new_serial()
    env.send(request(ALICE, old))
    processed = env.send(
        mail(ALICE, f"New PC. Old serial: {old}\nNew serial: {new}", "Transfer to a new PC")
    )
    assert processed.reason is not None and processed.reason.value == "transfer_review"
    esc = env.escalations()[-1]["id"]
    assert any("transfer" in c for c in suggested_commands(get_escalation(env.app, env.store, esc)))

    result = q.transfer(env.app, esc, "alice", env.clock.now(), reason="mainboard died")
    assert result.state == "resolved"
    licenses = {r["serial"]: r for r in query(env.store, "SELECT * FROM licenses")}
    assert licenses[old]["state"] == "revoked"
    assert licenses[old]["replaced_by"] == licenses[new]["license_no"]
    assert licenses[new]["state"] == "active"
    assert licenses[new]["seat_key"] == licenses[old]["seat_key"]
    assert licenses[new]["order_id"] == "ORD-A"
    reply = env.outbox("reply")[-1]
    assert reply["to_addr"] == ALICE and licenses[new]["license_string"] in text_of(reply["raw"])
    assert "mainboard died" in env.audit(esc)[-1]["detail"]


def test_every_action_through_the_command_line(env: Env, tmp_path: Path) -> None:
    first, _ = escalate_no_order(env)
    second, _ = escalate_no_order(env, "dan@else.example")
    third, _ = escalate_no_order(env, "eve@else.example")
    answer = tmp_path / "answer.txt"
    answer.write_text("Please buy here: https://example.com/buy\n")

    issued = env.cli_json("queue", "issue", str(first), "--grant", "goodwill", "--as", "ann")
    assert issued["state"] == "resolved" and issued["license_nos"]
    replied = env.cli_json("queue", "reply", str(second), "--text-file", str(answer), "--as", "ann")
    assert replied["state"] == "resolved"
    env.cli_json("queue", "note", str(third), "looking", "into", "it", "--as", "ben")
    env.cli_json("queue", "reject", str(third), "--reason", "duplicate of #2", "--as", "ben")
    reopened = env.cli_json("queue", "reopen", str(third), "--as", "ben")
    assert reopened["state"] == "open"
    retried = env.cli_json("queue", "retry", str(third), "--as", "ben")
    assert retried["state"] == "open"
    resolved = env.cli_json("queue", "resolve", str(third), "--note", "phoned", "--as", "ben")
    assert resolved["state"] == "resolved"
    actors = {a["actor"] for e in (first, second, third) for a in env.audit(e)[1:]}
    assert actors == {"ann", "ben"}
    templates = env.cli("queue", "templates")
    assert "clarify" in templates.output and "staff_notification" not in templates.output
    # Without --as, the OS user acts.
    env.cli("queue", "note", str(first), "closing remark")
    assert env.audit(first)[-1]["actor"] == default_actor()


# -- the demo, one command per escalation ---------------------------------------------------


def test_each_demo_escalation_resolves_with_its_suggested_command(tmp_path: Path) -> None:
    base = tmp_path / "demo"
    base.mkdir()
    shutil.copy(DEMO / "orders.csv", base / "orders.csv")
    env = make_env(tmp_path / "x", [])
    # The demo setup: its orders and its mails.
    shutil.copy(DEMO / "orders.csv", env.base / "orders.csv")
    for src in sorted((DEMO / "maildir" / "new").iterdir()):
        if not src.name.startswith("."):
            env.deliver(src.read_bytes())
    env.poll()
    answer = tmp_path / "answer.txt"
    answer.write_text("Thank you for your mail; here is the answer.\n")

    listed = env.cli_json("queue", "list")
    assert listed, "the demo has escalations"
    for item in listed:
        shown = env.cli_json("queue", "show", str(item["id"]))
        command = shlex.split(shown["suggestions"][0], comments=True)
        assert command[0] == "mailbot"
        args = [str(answer) if a == "answer.txt" else a for a in command[1:]]
        result = env.cli(*args)
        assert result.exit_code == 0, (command, result.output)
    assert env.cli_json("queue", "list") == []
    closed = env.cli_json("queue", "list", "--all")
    assert {i["state"] for i in closed} <= {"resolved", "rejected"}
    assert json.dumps(closed)  # plain JSON for scripts


def test_retry_that_fails_again_refuses_in_plain_words(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    esc, _ = escalate_no_order(env)
    import mailbot.services.evaluate

    def broken(*_: object) -> None:
        raise RuntimeError("still broken")

    monkeypatch.setattr(mailbot.services.evaluate, "decide", broken)
    with pytest.raises(QueueError, match="failed again .*still broken"):
        escalation_retry.retry(env.app, esc, "alice", env.clock.now())
    assert env.audit(esc)[-1]["detail"] == "failed again: RuntimeError: still broken"
    assert env.escalations()[0]["state"] == "open"
