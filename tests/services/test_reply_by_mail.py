"""Staff answer a notification by mail: through the real worker and a Maildir, a staff account's
answer goes to the customer (quotes stripped, audit by name, resolved or kept open or noted by
keyword); forged tokens, strangers, failed DMARC, closed escalations, empty answers and robots
never reach the customer, and nothing loops."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import pytest

from mailbot.app import build
from mailbot.core.reply_by_mail import ANSWER_MARKER
from mailbot.services import escalation_retry, notify
from mailbot.services.queue_view import QueueError
from mailbot.services.worker import Worker
from tests.db import one
from tests.staff_env import T0, Env, make_env, new_serial, order_row, parsed, request, text_of

CUSTOMER = "sam@stranger.example"
MARIA = "maria@amphis.example"  # a staff account
CUSTOMER_WORDS = "please send the license"  # in the customer's mail, quoted in the notification
MX = "mx.amphis.example"

_numbers = iter(range(1, 10**9))


def site(tmp_path: Path, **sections: dict[str, object]) -> Env:
    env = make_env(tmp_path, [order_row("ORD-A", "alice@northwind.example", 1)], **sections)
    with env.store.transaction() as store:
        store.add_staff("maria", MARIA, "support", "x", T0)
    return env


def escalate(env: Env) -> int:
    """A stranger's request: escalated no_order, its notification in the outbox."""
    env.send(request(CUSTOMER, new_serial()))
    return int(env.escalations()[-1]["id"])


def notification(env: Env, esc_id: int) -> EmailMessage:
    rows = [r for r in env.outbox("notification") if r["escalation_id"] == esc_id]
    assert len(rows) == 1
    return parsed(rows[0]["raw"])


def answer(
    env: Env,
    esc_id: int,
    body: str,
    *,
    sender: str = MARIA,
    to: str | None = None,
    auth: str = "",
    quote: str = "> ",
    intro: str = "On Sun, 29 Nov 2026 at 09:00, Amphis Support <support@amphis.example> wrote:",
    signature: str = "-- \nMaria, Amphis support\n\n",
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    """What a mail client sends when `sender` answers the notification: to its Reply-To, the
    notification quoted below the answer (`quote` "" quotes without marks, as some do)."""
    note = notification(env, esc_id)
    original = text_of(bytes(note))
    msg = EmailMessage()
    msg["From"] = f"Maria <{sender}>"
    msg["To"] = to if to is not None else str(note["Reply-To"])
    msg["Subject"] = f"Re: {note['Subject']}"
    msg["Date"] = "Sun, 29 Nov 2026 10:00:00 +0000"
    msg["Message-ID"] = f"<answer-{next(_numbers)}@amphis.example>"
    msg["In-Reply-To"] = str(note["Message-ID"])
    if auth:
        msg["Authentication-Results"] = auth
    for name, value in (headers or {}).items():
        msg[name] = value
    quoted = "\n".join(quote + line for line in original.splitlines())
    msg.set_content(f"{body}\n\n{signature}{intro}\n{quoted}\n")
    return msg


def replies_to_customer(env: Env) -> list[str]:
    """The text of every reply to the customer except the bot's acknowledgement."""
    texts = [text_of(r["raw"]) for r in env.outbox("reply") if r["to_addr"] == CUSTOMER]
    return [t for t in texts if "colleague" not in t.lower()]


def processed(env: Env, msg: EmailMessage) -> tuple[str, str | None]:
    done = env.send(bytes(msg))
    return done.outcome.value, done.reason.value if done.reason else None


# -- the notification --------------------------------------------------------------------------


def test_the_notification_carries_a_reply_address_and_says_how_to_answer(tmp_path: Path) -> None:
    env = site(tmp_path)
    esc = escalate(env)
    note = notification(env, esc)
    reply_to = str(note["Reply-To"])
    assert reply_to.startswith(f"support+esc-{esc}-") and reply_to.endswith("@amphis.example")
    text = text_of(bytes(note))
    assert ANSWER_MARKER in text and "resolve" in text and "note" in text
    # And the token is not derived from anything a customer can see: a second site's secret
    # gives a different address for the same escalation number.
    other = site(tmp_path / "other")
    assert str(notification(other, escalate(other))["Reply-To"]) != reply_to


def test_digest_items_carry_their_reply_address(tmp_path: Path) -> None:
    env = site(tmp_path, staff={"notify": "digest", "digest_minutes": 10})
    esc = escalate(env)
    env.clock.advance(minutes=11)
    assert notify.send_digest(env.app, env.clock.now()) == 1
    text = text_of(env.outbox("digest")[0]["raw"])
    assert f"Answer by mail: support+esc-{esc}-" in text


def test_off_means_no_reply_address_and_answers_are_refused(tmp_path: Path) -> None:
    env = site(tmp_path)
    esc = escalate(env)
    msg = answer(env, esc, "resolve\nYour license is on its way.")
    # The admin turns it off while notifications are out.
    settings = env.app.settings
    staff = settings.staff.model_copy(update={"reply_by_mail": False})
    env.app.close()
    env.app = build(settings.model_copy(update={"staff": staff}), clock=env.clock)
    assert processed(env, msg) == ("escalated", "staff_reply_refused")
    assert replies_to_customer(env) == []
    esc2 = escalate(env)
    assert notification(env, esc2)["Reply-To"] is None


# -- a staff answer carried out ----------------------------------------------------------------


def test_resolve_sends_the_answer_to_the_customer_and_resolves(tmp_path: Path) -> None:
    env = site(tmp_path)
    esc = escalate(env)
    msg = answer(env, esc, "resolve\n\nHello Sam, we found your order; the license follows.")
    assert processed(env, msg) == ("staff_reply", None)

    [sent] = [r for r in env.outbox("reply") if "we found your order" in text_of(r["raw"])]
    assert sent["to_addr"] == CUSTOMER and sent["escalation_id"] == esc
    text = text_of(sent["raw"])
    # Only the answer: no keyword line, no signature, nothing of the quoted notification.
    assert "resolve" not in text.lower().split("we found")[0]
    assert "Maria, Amphis support" not in text
    for quoted in (ANSWER_MARKER, "Why the bot stopped", "mailbot queue", CUSTOMER_WORDS):
        assert quoted not in text
    # Threaded under the customer's own mail, like `mailbot queue reply`.
    customer_mail = one(env.store, "SELECT message_id FROM messages WHERE sender = ?", [CUSTOMER])
    assert customer_mail is not None
    assert parsed(sent["raw"])["In-Reply-To"] == f"<{customer_mail['message_id']}>"

    assert env.escalations()[0]["state"] == "resolved"
    [audit] = [a for a in env.audit(esc) if a["action"] == "replied"]
    assert audit["actor"] == "maria" and "by mail" in audit["detail"]
    # The staff mail itself made no escalation and got no answer.
    assert len(env.escalations()) == 1
    assert [r for r in env.outbox() if r["to_addr"] == MARIA] == []


def test_no_keyword_sends_and_keeps_it_open(tmp_path: Path) -> None:
    env = site(tmp_path)
    esc = escalate(env)
    msg = answer(env, esc, "We are looking into it.", signature="")  # only "> " marks the quote
    assert processed(env, msg) == ("staff_reply", None)
    [text] = replies_to_customer(env)
    assert "We are looking into it." in text
    assert CUSTOMER_WORDS not in text and "Why the bot stopped" not in text
    assert env.escalations()[0]["state"] == "open"
    assert [a["actor"] for a in env.audit(esc) if a["action"] == "replied"] == ["maria"]


def test_note_keeps_an_internal_note_and_sends_nothing(tmp_path: Path) -> None:
    env = site(tmp_path)
    esc = escalate(env)
    msg = answer(env, esc, "Note:\nLooks like a reseller; asking finance.")
    assert processed(env, msg) == ("staff_reply", None)
    assert replies_to_customer(env) == []
    assert env.escalations()[0]["state"] == "open"
    [entry] = [a for a in env.audit(esc) if a["action"] == "note"]
    assert entry["actor"] == "maria" and "asking finance" in entry["detail"]


def test_a_client_that_quotes_without_marks_is_cut_at_the_marker(tmp_path: Path) -> None:
    env = site(tmp_path)
    esc = escalate(env)
    # No "> ", no "On ... wrote:", no signature: nothing a quote splitter could lean on.
    msg = answer(env, esc, "Sorted, thanks.", quote="", intro="", signature="")
    assert processed(env, msg) == ("staff_reply", None)
    [text] = replies_to_customer(env)
    assert "Sorted, thanks." in text
    assert CUSTOMER_WORDS not in text and "Why the bot stopped" not in text


def test_with_authserv_id_a_passing_staff_sender_is_sent_on(tmp_path: Path) -> None:
    env = site(tmp_path, security={"authserv_id": MX})
    esc = escalate(env)
    msg = answer(env, esc, "Done.", auth=f"{MX}; dmarc=pass header.from=amphis.example")
    assert processed(env, msg) == ("staff_reply", None)
    assert len(replies_to_customer(env)) == 1


def test_the_reply_and_its_effects_commit_with_the_mails_outcome(tmp_path: Path) -> None:
    env = site(tmp_path)
    esc = escalate(env)
    env.deliver(bytes(answer(env, esc, "resolve\nAll done.")))
    [fetched] = list(env.mailbox.fetch_new(10**7))

    class Crash(Exception):
        pass

    with pytest.raises(Crash):
        with env.store.transaction():
            assert Worker(env.app).process(fetched).outcome.value == "staff_reply"
            assert len(replies_to_customer(env)) == 1
            raise Crash  # the process dies before the commit
    assert replies_to_customer(env) == [] and env.escalations()[0]["state"] == "open"
    assert one(env.store, "SELECT id FROM messages WHERE outcome = 'staff_reply'") is None
    # Fetched again after the crash: carried out once, and a second copy is a duplicate.
    env.poll()
    env.deliver(fetched.raw or b"")
    assert [p.reason.value if p.reason else None for p in env.poll()] == ["duplicate"]
    assert len(replies_to_customer(env)) == 1
    assert env.escalations()[0]["state"] == "resolved"


# -- everything else with a token is never sent on ---------------------------------------------


def refused(env: Env, msg: EmailMessage) -> dict[str, object]:
    """The mail was escalated as a refused answer, and nothing reached the customer."""
    before = len(env.escalations())
    assert processed(env, msg) == ("escalated", "staff_reply_refused")
    assert replies_to_customer(env) == []
    assert env.escalations()[0]["state"] == "open"
    [new] = env.escalations()[before:]
    assert new["reason"] == "staff_reply_refused"
    # Staff hear of it; the sender gets no acknowledgement (the From may be forged).
    assert [r["to_addr"] for r in env.outbox() if r["escalation_id"] == new["id"]] == [
        "licensing-team@amphis.example"
    ]
    return new


def test_a_forged_token_is_not_sent_on(tmp_path: Path) -> None:
    env = site(tmp_path)
    esc = escalate(env)
    real = str(notification(env, esc)["Reply-To"])
    local, _, domain = real.partition("@")
    flipped = local[:-1] + ("a" if local[-1] != "a" else "b")
    new = refused(env, answer(env, esc, "resolve\nHere you go.", to=f"{flipped}@{domain}"))
    assert "no valid token" in str(new["detail"])
    assert local.rpartition("-")[2] not in str(new["detail"])  # never the token itself


def test_a_token_of_another_escalation_is_not_sent_on(tmp_path: Path) -> None:
    env = site(tmp_path)
    first = escalate(env)
    second = escalate(env)
    token = str(notification(env, first)["Reply-To"]).split("-")[-1]
    to = f"support+esc-{second}-{token}"
    refused(env, answer(env, first, "resolve\nHere you go.", to=to))
    assert [e["state"] for e in env.escalations()[:2]] == ["open", "open"]


def test_a_valid_token_from_a_stranger_is_not_sent_on(tmp_path: Path) -> None:
    env = site(tmp_path)
    esc = escalate(env)
    new = refused(env, answer(env, esc, "resolve\nFree licenses!", sender="eve@evil.example"))
    assert "no staff account" in str(new["detail"])


def test_with_authserv_id_a_failing_dmarc_is_not_sent_on(tmp_path: Path) -> None:
    env = site(tmp_path, security={"authserv_id": MX})
    esc = escalate(env)
    for auth in (
        f"{MX}; dmarc=fail header.from=amphis.example",
        "mx.elsewhere.example; dmarc=pass header.from=amphis.example",  # not our server
        "",  # no verdict at all
    ):
        new = refused(env, answer(env, esc, "resolve\nHere you go.", auth=auth))
        assert "not verified" in str(new["detail"])


def test_an_answer_to_a_closed_escalation_is_not_sent_on(tmp_path: Path) -> None:
    env = site(tmp_path)
    esc = escalate(env)
    assert processed(env, answer(env, esc, "resolve\nFirst answer.")) == ("staff_reply", None)
    before = len(replies_to_customer(env))
    assert processed(env, answer(env, esc, "Second thoughts.")) == (
        "escalated",
        "staff_reply_refused",
    )
    assert len(replies_to_customer(env)) == before == 1
    assert "is resolved" in str(env.escalations()[-1]["detail"])


def test_an_empty_answer_is_not_sent_on(tmp_path: Path) -> None:
    env = site(tmp_path)
    esc = escalate(env)
    new = refused(env, answer(env, esc, "resolve"))
    assert "empty" in str(new["detail"])


def test_robots_answering_the_notification_are_ignored(tmp_path: Path) -> None:
    env = site(tmp_path)
    esc = escalate(env)
    ooo = answer(env, esc, "I am out of the office.", headers={"Auto-Submitted": "auto-replied"})
    assert processed(env, ooo) == ("ignored", "auto_reply")
    assert replies_to_customer(env) == [] and len(env.escalations()) == 1


def test_a_refusal_about_a_refusal_is_not_escalated_again(tmp_path: Path) -> None:
    env = site(tmp_path)
    esc = escalate(env)
    first = refused(env, answer(env, esc, "resolve\nHi", sender="desk@tickets.example"))
    # A ticket system answers the refusal's notification without any robot header.
    again = answer(
        env, int(str(first["id"])), "We got your request.", sender="desk@tickets.example"
    )
    assert processed(env, again) == ("ignored", "loop")
    assert len(env.escalations()) == 2 and replies_to_customer(env) == []
    assert [r for r in env.outbox() if r["to_addr"] == "desk@tickets.example"] == []


def test_a_refused_answer_is_shown_and_not_decided_again(tmp_path: Path) -> None:
    env = site(tmp_path)
    esc = escalate(env)
    new = refused(env, answer(env, esc, "resolve\nHi", sender="eve@evil.example"))
    shown = env.cli("queue", "show", str(new["id"]))
    assert shown.exit_code == 0, shown.output
    assert "staff_reply_refused" in shown.output and "not sent on" in shown.output
    assert f"mailbot queue reply {esc}" in shown.output
    with pytest.raises(QueueError, match="not sent on"):
        escalation_retry.retry(env.app, int(str(new["id"])), "maria", env.clock.now())
