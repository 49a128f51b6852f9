"""classify(): the ordered checks, on parsed mails."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.core import serials
from mailbot.core.classify import CHECKS, Classification, Kind, classify
from mailbot.core.model import Policy, Reason
from mailbot.mail.parse import parse_message
from tests.apps import DATA

MAIL = DATA / "mail"
POLICY = Policy(our_addresses=frozenset({"support@amphis.example", "licensing@amphis.example"}))


def serial(payload: str) -> str:
    return serials.format_serial(payload + serials.check_symbol(payload))


A = serial("7K2M9QX4RT8VW3H")
B = serial("3NPB6ZD1FJ5GKCE")
C = serial("Q8WX2RM7TA4HN6Y")
MISTYPED = A[:-1] + ("0" if A[-1] != "0" else "1")


def mail(
    body: str,
    *,
    subject: str = "license",
    sender: str = "c@customer.example",
    headers: str = "",
    ctype: str = "text/plain; charset=utf-8",
) -> bytes:
    return (
        f"From: Customer <{sender}>\n"
        "To: support@amphis.example\n"
        f"Subject: {subject}\n"
        "Message-ID: <m1@customer.example>\n"
        "Date: Mon, 1 Jan 2024 10:00:00 +0000\n"
        "MIME-Version: 1.0\n"
        f"Content-Type: {ctype}\n"
        f"{headers}\n{body}"
    ).encode()


def run(raw: bytes, policy: Policy = POLICY) -> Classification:
    return classify(parse_message(raw, max_serials=policy.max_serials_per_mail), policy)


def load(name: str) -> Classification:
    return run((MAIL / name).read_bytes())


def test_the_table_is_ordered_and_named() -> None:
    names = [name for name, _ in CHECKS]
    assert names[:6] == ["unreadable", "own_mail", "loop", "bounce", "machine_report", "auto_reply"]
    assert names.index("too_many_serials") < names.index("transfer") < names.index("request")
    assert names[-1] == "anything_else"


# --- the test mails ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind", "reason"),
    [
        ("outlook-html-table.eml", Kind.REQUEST, None),
        ("html-only.eml", Kind.REQUEST, None),
        ("apple-mail-reply.eml", Kind.ESCALATE, Reason.QUESTION),
        ("gmail-reply-quote.eml", Kind.ESCALATE, Reason.QUESTION),
        ("german-qp.eml", Kind.REQUEST, None),
        ("latin1-labelled-utf8.eml", Kind.REQUEST, None),
        ("unknown-charset.eml", Kind.REQUEST, None),
        ("csv-attachment.eml", Kind.REQUEST, None),
        ("forwarded-request.eml", Kind.REQUEST, None),
        ("forwarded-attachment.eml", Kind.REQUEST, None),
        ("outlook-forward.eml", Kind.REQUEST, None),
        ("out-of-office.eml", Kind.IGNORE, Reason.AUTO_REPLY),
        ("exchange-oof.eml", Kind.IGNORE, Reason.AUTO_REPLY),
        ("dsn-our-reply.eml", Kind.IGNORE, Reason.BOUNCE),
        ("many-serials.eml", Kind.ESCALATE, Reason.TOO_LARGE),
        ("no-from.eml", Kind.REQUEST, None),
        ("transfer-new-pc.eml", Kind.TRANSFER, None),
    ],
)
def test_test_mails(name: str, kind: Kind, reason: Reason | None) -> None:
    result = load(name)
    assert (result.kind, result.reason) == (kind, reason), result.explanation
    assert result.explanation and all(isinstance(w, str) and w for w in result.explanation)


def test_transfer_mail_names_old_and_new() -> None:
    result = load("transfer-new-pc.eml")
    assert result.old_serial == serial("B6C8DE0FG1HJ2KM")  # "My old serial was ..."
    assert result.new_serial == serial("M4J9T2PA7VW5XKD")  # "The new laptop shows ..."


# --- machine mail -----------------------------------------------------------------------------


def test_unreadable_comes_first() -> None:
    result = classify(parse_message(b""), POLICY)
    assert (result.kind, result.reason) == (Kind.ESCALATE, Reason.UNREADABLE)


def test_own_mail_is_ignored_even_with_serials() -> None:
    result = run(mail(f"license for {A}", sender="Support@Amphis.example"))
    assert (result.kind, result.reason) == (Kind.IGNORE, Reason.OWN_MAIL)


@pytest.mark.parametrize(
    "header",
    ["X-Loop: licensing@amphis.example", "X-Mailbot-Loop: 1", "X-Loop: <SUPPORT@amphis.example>"],
)
def test_loops(header: str) -> None:
    result = run(mail(f"serial {A}", headers=header + "\n"))
    assert (result.kind, result.reason) == (Kind.IGNORE, Reason.LOOP)


def test_foreign_x_loop_is_not_our_loop() -> None:
    raw = mail(f"serial {A}", headers="X-Loop: helpdesk@customer.example\n")
    assert run(raw).kind is Kind.REQUEST


@pytest.mark.parametrize(
    ("sender", "subject", "headers", "body"),
    [
        ("MAILER-DAEMON@mx.example", "hello", "", f"{A}"),
        ("mail-delivery-subsystem@example.com", "hello", "", f"{A}"),
        ("someone@example.com", "Undeliverable: Your license", "", f"{A}"),
        ("someone@example.com", "Delivery Status Notification (Failure)", "", f"{A}"),
        ("someone@example.com", "Mail delivery failed: returning message to sender", "", ""),
        ("someone@example.com", "Returned mail: see transcript for details", "", ""),
        ("someone@example.com", "hi", "X-Failed-Recipients: x@y.example\n", f"{A}"),
        ("postmaster@example.com", "hi", "", "Your message could not be delivered."),
        ("relay@example.com", "hi", "Return-Path: <>\n", f"Mail to x could not be delivered: {A}"),
    ],
)
def test_bounces(sender: str, subject: str, headers: str, body: str) -> None:
    result = run(mail(body, sender=sender, subject=subject, headers=headers))
    assert (result.kind, result.reason) == (Kind.IGNORE, Reason.BOUNCE), result.explanation


def test_delivery_words_from_a_customer_are_not_a_bounce() -> None:
    # No null Return-Path recorded (a maildir file without one): a person writing about a
    # failed delivery, with an app version that looks like an SMTP status code.
    body = f"My last mail could not be delivered. Running version 4.2.1, serial {A}"
    assert run(mail(body)).kind is Kind.REQUEST
    assert run(mail(body, sender="postmaster@customer.example")).kind is Kind.IGNORE
    assert run(mail(f"serial {A}", sender="postmaster@customer.example")).kind is Kind.REQUEST


def test_dsn_structure_is_a_bounce_whatever_the_sender() -> None:
    raw = mail(
        "--b\nContent-Type: text/plain\n\nfailed\n--b\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; x\n\nFinal-Recipient: rfc822; a@b\nAction: failed\n"
        "Status: 5.0.0\n--b--\n",
        ctype='multipart/report; report-type=delivery-status; boundary="b"',
    )
    assert run(raw).reason is Reason.BOUNCE


@pytest.mark.parametrize(
    ("report_type", "words"),
    [("feedback-report", "complaint"), ("disposition-notification", "read receipt")],
)
def test_complaints_and_read_receipts_are_auto_replies(report_type: str, words: str) -> None:
    raw = mail(
        f"--b\nContent-Type: text/plain\n\nreport {A}\n--b\nContent-Type: message/{report_type}\n\n"
        "Feedback-Type: abuse\n--b--\n",
        ctype=f'multipart/report; report-type={report_type}; boundary="b"',
    )
    result = run(raw)
    assert (result.kind, result.reason) == (Kind.IGNORE, Reason.AUTO_REPLY)
    assert words in result.explanation[0]


@pytest.mark.parametrize(
    ("headers", "subject"),
    [
        ("Auto-Submitted: auto-replied\n", "license"),
        ("Auto-Submitted: auto-generated; owner-email=x@y\n", "license"),
        ("X-Autoreply: yes\n", "license"),
        ("X-Autorespond: yes\n", "license"),
        ("X-Autogenerated: Reply\n", "license"),
        ("Precedence: bulk\n", "license"),
        ("Precedence: junk\n", "license"),
        ("Precedence: list\n", "license"),
        ("List-Id: <users.lists.example>\n", "license"),
        ("List-Unsubscribe: <mailto:u@lists.example>\n", "license"),
        ("X-MS-Exchange-Generated-Message-Source: Mailbox Rules Agent\n", "license"),
        ("", "Out of Office: license"),
        ("", "Automatic reply: license"),
        ("", "Abwesenheitsnotiz: Lizenz"),
        ("", "Réponse automatique : licence"),
        ("", "Auto: license"),
        ("", "Automatische Antwort: Lizenz"),
    ],
)
def test_auto_replies(headers: str, subject: str) -> None:
    result = run(mail(f"I am away. {A}", headers=headers, subject=subject))
    assert (result.kind, result.reason) == (Kind.IGNORE, Reason.AUTO_REPLY), result.explanation


def test_auto_submitted_no_is_a_person() -> None:
    assert run(mail(f"serial {A}", headers="Auto-Submitted: no\n")).kind is Kind.REQUEST


def test_too_many_serials() -> None:
    policy = replace(POLICY, max_serials_per_mail=2)
    result = run(mail(f"{A}\n{B}\n{C}\n"), policy)
    assert (result.kind, result.reason) == (Kind.ESCALATE, Reason.TOO_LARGE)
    assert run(mail(f"{A}\n{B}\n"), policy).kind is Kind.REQUEST


# --- transfers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "old", "new"),
    [
        (f"Please move my license from {A} to {B}.", A, B),
        (f"I want to transfer {A} to my new PC {B}", A, B),
        (f"New PC: {B}\nOld PC: {A}", A, B),
        (f"My new computer shows {B}, the old one was {A}.", A, B),
        (f"{B} (new laptop)\n{A} (old laptop)", A, B),
        (f"Ich habe einen neuen Rechner. Alte Seriennummer: {A}, neue: {B}", A, B),
        (f"Bitte die Lizenz übertragen.\nBisher: {A}\nNeu: {B}", A, B),
        (f"Replacing my PC. Current serial {A}, replacement {B}", A, B),
        (f"Transfer please:\n{A}\n{B}", A, B),  # nothing said: the first is the old one
    ],
)
def test_transfer_old_and_new(body: str, old: str, new: str) -> None:
    result = run(mail(body))
    assert result.kind is Kind.TRANSFER, result.explanation
    assert (result.old_serial, result.new_serial) == (old, new), result.explanation


def test_transfer_wording_in_the_subject() -> None:
    result = run(mail(f"{A}\n{B}", subject="Moving to a new laptop"))
    assert (result.kind, result.old_serial, result.new_serial) == (Kind.TRANSFER, A, B)


def test_our_reply_subject_is_not_transfer_wording() -> None:
    result = run(mail(f"two more users: {A} {B}", subject="Re: Your license was transferred"))
    assert result.kind is Kind.REQUEST


def test_lookalike_serials_still_get_old_and_new() -> None:
    fancy = B.replace("-", "\u2011")  # non-breaking hyphens: found via the normalized text
    result = run(mail(f"Moving to a new PC.\n{A}\n{fancy} (the old one)"))
    assert (result.kind, result.old_serial, result.new_serial) == (Kind.TRANSFER, B, A)


def test_transfer_with_three_serials_goes_to_a_person() -> None:
    result = run(mail(f"Transfer from {A} to {B} and {C}"))
    assert (result.kind, result.reason) == (Kind.ESCALATE, Reason.TRANSFER_REVIEW)
    # Two good serials and a third one cut short (unreadable): still three serials.
    with_typo = run(mail(f"Transfer from {A} to {B}, or maybe {MISTYPED[:-1]}"))
    assert (with_typo.kind, with_typo.reason) == (Kind.ESCALATE, Reason.TRANSFER_REVIEW)


def test_two_ok_and_one_mistyped_is_a_review() -> None:
    c_typo = C[:-1] + ("0" if C[-1] != "0" else "1")
    result = run(mail(f"new PC. old {A} new {B} ({c_typo})"))
    assert (result.kind, result.reason) == (Kind.ESCALATE, Reason.TRANSFER_REVIEW)


def test_transfer_needs_two_valid_serials() -> None:
    assert run(mail(f"new PC, here is the serial {A}")).kind is Kind.REQUEST
    assert run(mail(f"new PC: {A} replaces {MISTYPED}")).kind is Kind.REQUEST


def test_a_bank_transfer_is_not_a_license_transfer() -> None:
    result = run(mail(f"I paid by bank transfer yesterday. Our two users: {A} and {B}"))
    assert result.kind is Kind.REQUEST
    german = run(mail(f"Wir haben per Überweisung bezahlt. {A} {B}"))
    assert german.kind is Kind.REQUEST


def test_serials_only_in_the_quote_do_not_make_a_transfer() -> None:
    body = (
        "thanks, moved to the new PC, all fine\n\n"
        f"On Mon, 1 Jan 2024, Support wrote:\n> {A}\n> {B}\n"
    )
    result = run(mail(body))
    assert (result.kind, result.reason) == (Kind.ESCALATE, Reason.QUESTION)


# --- requests and the rest --------------------------------------------------------------------


def test_any_serial_status_is_a_request() -> None:
    assert run(mail(f"my serial {MISTYPED}")).kind is Kind.REQUEST
    assert run(mail("my serial AMC-1234-5678-9ABC")).kind is Kind.REQUEST


def test_follow_up_with_only_quoted_serials() -> None:
    result = run(mail(f"Thanks, it works!\n\n> here is your license for {A}\n"))
    assert (result.kind, result.reason) == (Kind.ESCALATE, Reason.QUESTION)
    assert "quoted" in result.explanation[0]


def test_data_server_question_faq_rule_6() -> None:
    body = "We keep the database on a separate server where nobody runs the program. License needed"
    result = run(mail(body))
    assert (result.kind, result.reason) == (Kind.ESCALATE, Reason.QUESTION)
    assert "FAQ" in result.explanation[0]


def test_questions_and_missing_serials() -> None:
    assert run(mail("How many licenses do I need for three users?")).reason is Reason.QUESTION
    assert run(mail("Please send me my license string.")).reason is Reason.NO_SERIAL
    assert run(mail("")).reason is Reason.NO_SERIAL
    assert run(mail("-- \n")).reason is Reason.NO_SERIAL
    greeting = mail("Happy new year from all of us!", subject="Greetings")
    assert run(greeting).reason is Reason.QUESTION


def test_classification_is_pure_and_repeatable() -> None:
    inbound = parse_message((MAIL / "transfer-new-pc.eml").read_bytes())
    assert classify(inbound, POLICY) == classify(inbound, POLICY)


@settings(max_examples=100, deadline=None, database=None)
@given(
    st.text(max_size=300),
    st.text(max_size=60).filter(lambda s: "\n" not in s and "\r" not in s),
    st.sampled_from(["", "Return-Path: <>\n", "Precedence: bulk\n", "Auto-Submitted: no\n"]),
)
def test_classify_always_answers(body: str, subject: str, headers: str) -> None:
    words = f"{body} {A} transfer {B}" if len(body) % 3 == 0 else body
    result = run(mail(words, subject=subject, headers=headers))
    assert isinstance(result.kind, Kind)
    assert result.explanation
    if result.kind is Kind.TRANSFER:
        assert result.old_serial and result.new_serial and result.old_serial != result.new_serial
    if result.kind in (Kind.IGNORE, Kind.ESCALATE):
        assert result.reason is not None
