"""Customers serving themselves by mail, through the worker on a Maildir: the list goes only to
the order's address with only that customer's serials; a release revokes, frees the seat for
another serial, and is refused past the per-seat limit it shares with transfers; a forged From
with a failing DMARC check gets nothing."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

from mailbot.core.model import Outcome, Reason
from tests.builders import new_serial
from tests.db import query
from tests.staff_env import Env, mail, make_env, order_row, parsed, request

ALICE = "alice@northwind.example"
BOB = "bob@contoso.example"
MX = "mx.amphis.example"


def text_of(row: dict[str, object]) -> str:
    msg: EmailMessage = parsed(row["raw"])  # type: ignore[arg-type]
    body = msg.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def site(tmp_path: Path, **sections: dict[str, object]) -> Env:
    return make_env(
        tmp_path,
        [order_row("ORD-A", ALICE, 2), order_row("ORD-B", BOB, 1)],
        **sections,  # type: ignore[arg-type]
    )


def license_state(env: Env, serial: str) -> list[str]:
    rows = query(
        env.store, "SELECT state FROM licenses WHERE serial = ? ORDER BY license_no", [serial]
    )
    return [r["state"] for r in rows]


def test_every_license_mail_says_how_to_serve_yourself(tmp_path: Path) -> None:
    env = site(tmp_path)
    env.send(request(ALICE, new_serial()))
    [reply] = env.outbox("reply")
    assert '"which licenses do I have"' in text_of(reply)
    assert '"release"' in text_of(reply)


def test_the_list_goes_only_to_the_orders_address_with_only_that_customers_serials(
    tmp_path: Path,
) -> None:
    env = site(tmp_path)
    a1, a2, b1 = new_serial(), new_serial(), new_serial()
    env.send(request(ALICE, a1, a2))
    env.send(request(BOB, b1))
    before = len(env.outbox("reply"))
    done = env.send(
        mail(ALICE, "Hello,\n\nwhich licenses do I have?\n\nAlice", reply_to="eve@evil.example")
    )
    assert done.outcome is Outcome.LISTED
    [listing] = env.outbox("reply")[before:]
    assert listing["to_addr"] == ALICE
    text = text_of(listing)
    assert a1 in text and a2 in text and "active" in text
    assert b1 not in text
    assert "AMC1-" not in text  # serials and states, never license strings
    [row] = env.cli_json("messages", "list", "--outcome", "listed")
    assert row["sender"] == ALICE


def test_a_sender_on_no_order_gets_no_list(tmp_path: Path) -> None:
    env = site(tmp_path)
    env.send(request(ALICE, new_serial()))
    done = env.send(mail("eve@evil.example", "Which licenses do I have?"))
    assert (done.outcome, done.reason) == (Outcome.ESCALATED, Reason.NO_ORDER)
    for row in env.outbox("reply")[1:]:
        assert row["to_addr"] == "eve@evil.example"
        assert "AMC-" not in text_of(row)


def test_release_revokes_and_frees_the_seat_for_a_new_serial(tmp_path: Path) -> None:
    env = site(tmp_path)
    a1, a2, a3 = new_serial(), new_serial(), new_serial()
    env.send(request(ALICE, a1, a2))
    full = env.send(request(ALICE, a3))  # both seats in use
    assert (full.outcome, full.reason) == (Outcome.ESCALATED, Reason.SEATS_EXHAUSTED)

    done = env.send(mail(ALICE, f"Hi,\n\nplease release {a1}, that laptop is gone.\n"))
    assert done.outcome is Outcome.RELEASED
    assert license_state(env, a1) == ["revoked"]
    confirmation = env.outbox("reply")[-1]
    assert confirmation["to_addr"] == ALICE and a1 in text_of(confirmation)
    assert env.cli_json("licenses", "revoked")  # on the signed list's source

    again = env.send(request(ALICE, a3))
    assert again.outcome is Outcome.ISSUED
    assert license_state(env, a3) == ["active"]


def test_releases_share_the_per_seat_limit_with_transfers(tmp_path: Path) -> None:
    """Release and license again, twice: the same seat moved twice; the third release waits for
    a person, and so does a transfer of that seat."""
    env = site(tmp_path, policy={"transfers_per_seat": 2})
    s1, s2, s3, s4 = (new_serial() for _ in range(4))
    env.send(request(ALICE, s1))
    for old, new in ((s1, s2), (s2, s3)):
        assert env.send(mail(ALICE, f"Please release {old}")).outcome is Outcome.RELEASED
        assert env.send(request(ALICE, new)).outcome is Outcome.ISSUED
    refused = env.send(mail(ALICE, f"Please release {s3}"))
    assert (refused.outcome, refused.reason) == (Outcome.ESCALATED, Reason.RELEASE_REVIEW)
    assert license_state(env, s3) == ["active"]
    moved = env.send(mail(ALICE, f"New PC.\nold: {s3}\nnew: {s4}\n"))
    assert (moved.outcome, moved.reason) == (Outcome.ESCALATED, Reason.TRANSFER_REVIEW)
    [item] = [e for e in env.escalations() if e["reason"] == "release_review"]
    shown = env.cli("queue", "show", str(item["id"]))
    assert "release" in shown.output and s3 in shown.output


def test_the_release_limit_counts_transfers_of_the_seat(tmp_path: Path) -> None:
    env = site(tmp_path, policy={"transfers_per_seat": 1})
    s1, s2 = new_serial(), new_serial()
    env.send(request(ALICE, s1))
    assert env.send(mail(ALICE, f"New PC.\nold: {s1}\nnew: {s2}\n")).outcome is Outcome.TRANSFERRED
    refused = env.send(mail(ALICE, f"Bitte die Lizenz {s2} freigeben."))
    assert (refused.outcome, refused.reason) == (Outcome.ESCALATED, Reason.RELEASE_REVIEW)
    assert license_state(env, s2) == ["active"]


def test_a_release_of_another_customers_serial_is_refused(tmp_path: Path) -> None:
    env = site(tmp_path)
    theirs = new_serial()
    env.send(request(BOB, theirs))
    done = env.send(mail(ALICE, f"Please deactivate {theirs}"))
    assert (done.outcome, done.reason) == (Outcome.ESCALATED, Reason.SERIAL_LICENSED_ELSEWHERE)
    assert license_state(env, theirs) == ["active"]
    assert all(r["to_addr"] != BOB for r in env.outbox("reply")[1:])


def forged(sender: str, body: str) -> bytes:
    raw = mail(sender, body)
    return (
        f"Authentication-Results: {MX}; dmarc=fail header.from=northwind.example\n".encode() + raw
    )


def test_a_forged_from_with_failing_dmarc_gets_nothing(tmp_path: Path) -> None:
    env = site(tmp_path, security={"authserv_id": MX})
    s1 = new_serial()
    env.send(request(ALICE, s1))
    before = len(env.outbox())
    for body in (f"Please release {s1}", "Which licenses do I have?"):
        done = env.send(forged(ALICE, body))
        assert (done.outcome, done.reason) == (Outcome.ESCALATED, Reason.SENDER_UNVERIFIED)
    assert license_state(env, s1) == ["active"]
    assert [r for r in env.outbox()[before:] if r["kind"] == "reply"] == []


def test_unclear_release_wording_goes_to_a_person_and_releases_nothing(tmp_path: Path) -> None:
    env = site(tmp_path)
    s1 = new_serial()
    env.send(request(ALICE, s1))
    done = env.send(mail(ALICE, f"Please don't deactivate {s1}, we still need it!"))
    assert (done.outcome, done.reason) == (Outcome.ESCALATED, Reason.RELEASE_REVIEW)
    assert license_state(env, s1) == ["active"]


def test_asking_to_release_twice_releases_once(tmp_path: Path) -> None:
    env = site(tmp_path)
    s1 = new_serial()
    env.send(request(ALICE, s1))
    assert env.send(mail(ALICE, f"Please release {s1}")).outcome is Outcome.RELEASED
    again = env.send(mail(ALICE, f"Please release {s1}"))
    assert (again.outcome, again.reason) == (Outcome.ESCALATED, Reason.RELEASE_REVIEW)
    assert license_state(env, s1) == ["revoked"]
    assert len(query(env.store, "SELECT license_no FROM seat_releases")) == 1


def test_the_list_respects_the_hourly_reply_limit(tmp_path: Path) -> None:
    env = site(tmp_path, policy={"max_replies_per_hour": 2})
    env.send(request(ALICE, new_serial()))
    assert env.send(mail(ALICE, "Which licenses do I have?")).outcome is Outcome.LISTED
    limited = env.send(mail(ALICE, "Which licenses do I have?"))
    assert (limited.outcome, limited.reason) == (Outcome.IGNORED, Reason.RATE_LIMITED)
    assert len(env.outbox("reply")) == 2


def test_a_robot_asking_for_the_list_in_a_loop_is_stopped(tmp_path: Path) -> None:
    """Answers to our mail that bring nothing new are not progress: after `loop_after` in a
    row one `reply_loop` escalation, then silence."""
    env = site(tmp_path, policy={"loop_after": 2, "max_replies_per_hour": 100})
    env.send(request(ALICE, new_serial()))
    outcomes = []
    for _ in range(4):
        last = env.outbox("reply")[-1]
        raw = mail(ALICE, "which licenses do I have", subject="Re: Your licenses")
        answer = raw.replace(
            b"Subject:", f"In-Reply-To: <{last['message_id']}>\nSubject:".encode(), 1
        )
        outcomes.append(env.send(answer).reason)
    assert Reason.REPLY_LOOP in outcomes
    assert outcomes[-1] is Reason.LOOP


def test_a_released_serial_asked_for_again_goes_to_a_person(tmp_path: Path) -> None:
    """Like any revoked serial: staff may license it again, the bot does not."""
    env = site(tmp_path)
    s1 = new_serial()
    env.send(request(ALICE, s1))
    env.send(mail(ALICE, f"Please release {s1}"))
    again = env.send(request(ALICE, s1))
    assert (again.outcome, again.reason) == (Outcome.ESCALATED, Reason.SERIAL_REVOKED)
    assert "released" in text_of(env.outbox("reply")[-1])
    assert license_state(env, s1) == ["revoked"]


def test_explain_tells_what_a_release_would_do_and_releases_nothing(tmp_path: Path) -> None:
    env = site(tmp_path)
    s1 = new_serial()
    env.send(request(ALICE, s1))
    path = tmp_path / "release.eml"
    path.write_bytes(mail(ALICE, f"Please release {s1}"))
    [item] = env.cli_json("explain", str(path))
    assert item["outcome"] == "released"
    assert license_state(env, s1) == ["active"]
