"""mailbot.mail.parse.message: parse_message() on whole mails, its caps, and that it never raises."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailbot.core.model import AuthResult, SerialStatus
from mailbot.mail.parse import parse_message
from tests.cpu import within_budget
from tests.mail.mails import CORPUS, MAIL, S1, S2, S3, S4, S7, load, mail, normalized


def test_outlook_html_table_serial_is_found_and_the_quoted_thread_is_not() -> None:
    inbound = load("outlook-html-table.eml", authserv_id="mx.amphis.example")
    # The plain alternative lost the table; the HTML one has the serial in a cell.
    assert normalized(inbound.serials) == [S1]
    assert normalized(inbound.quoted_serials) == [S2]  # our earlier reply, quoted by Outlook
    assert "AMC-0000" not in inbound.text  # <style> content is dropped
    assert "Sent: 16 January 2024" in inbound.quoted_text
    assert inbound.sender == "fred@miller-consulting.example"
    assert inbound.sender_name == "Fred Miller"
    assert inbound.in_reply_to == "lic-1.20240116091200@amphis.example"
    assert inbound.references == ("lic-1.20240116091200@amphis.example",)
    assert set(inbound.order_refs) == {"ORD-20240117-3", "2231-4410"}
    assert inbound.auth == AuthResult(
        dmarc="pass", dkim="pass", spf="pass", dmarc_domain="miller-consulting.example"
    )
    assert inbound.content_type == "multipart/alternative"


def test_german_quoted_printable_utf8() -> None:
    inbound = load("german-qp.eml")
    assert normalized(inbound.serials) == [S7]
    assert inbound.sender_name == "Dörte Müller"
    assert inbound.subject == "Lizenz für neuen Mitarbeiter – Seriennummer"
    assert "Jürgen Weiß" in inbound.text and "Straße" in inbound.text
    assert inbound.order_refs == ("4471-0923",)  # "Quittung #4471-0923"
    assert inbound.problems == ()


def test_five_thousand_serials_are_capped() -> None:
    raw = (MAIL / "many-serials.eml").read_bytes()
    inbound = within_budget(lambda: parse_message(raw, max_serials=100))
    assert inbound.too_many_serials
    assert len(inbound.serials) == 100
    assert all(f.status is SerialStatus.OK for f in inbound.serials)
    small = parse_message(raw, max_serials=10_000)
    assert not small.too_many_serials and len(small.serials) == 5000


def test_mail_without_from() -> None:
    inbound = load("no-from.eml")
    assert inbound.sender == "" and inbound.sender_name == ""
    assert inbound.readable
    assert normalized(inbound.serials) == [S3]
    assert any("From" in p for p in inbound.problems)


def test_out_of_office_headers_are_kept() -> None:
    inbound = load("out-of-office.eml")
    assert inbound.headers["auto-submitted"] == ("auto-replied",)
    assert inbound.headers["precedence"] == ("auto_reply",)
    assert "received" not in inbound.headers  # only the listed headers are kept


def test_mistyped_and_unreadable_serials_are_kept() -> None:
    mistyped = S1[:-1] + ("0" if S1[-1] != "0" else "1")
    inbound = parse_message(mail(f"{mistyped}\nand AMC-1234-5678-9ABC\n"))
    statuses = {f.status for f in inbound.serials}
    assert statuses == {SerialStatus.MISTYPED, SerialStatus.UNREADABLE}


def test_serial_in_a_fresh_subject_counts_but_not_in_a_reply_subject() -> None:
    def with_subject(subject: str) -> bytes:
        return mail("thanks").replace(b"Subject: license", f"Subject: {subject}".encode())

    fresh = parse_message(with_subject(S4))
    assert normalized(fresh.serials) == [S4]
    reply = parse_message(with_subject(f"Re: {S4}"))
    assert reply.serials == () and normalized(reply.quoted_serials) == [S4]


def test_empty_and_garbage_mail_is_unreadable_not_an_exception() -> None:
    assert parse_message(b"").readable is False
    assert parse_message(b"   \r\n\r\n").readable is False
    garbage = parse_message(bytes(range(256)) * 4)
    assert garbage.readable is False
    assert garbage.message_id.endswith("@mailbot.invalid")


def test_wrong_input_type_is_reported_not_raised() -> None:
    inbound = parse_message("not bytes")  # type: ignore[arg-type]
    assert inbound.readable is False
    assert "bytes" in inbound.problems[0]


@pytest.mark.parametrize(
    ("body", "ctype"),
    [
        (b"<!--" * 100_000, "text/html"),  # html.parser before 3.13.4 rescans per comment
        (b"<![CDATA[" * 50_000, "text/html"),
        (b"<a x=" * 100_000, "text/html"),
        (b'<div class="gmail_quote">x' * 40_000, "text/html"),
        (b"a" + b" " * 2_000_000 + b"b", "text/plain"),  # a regex with " *\t" was quadratic
        (b"receipt" + b" " * 1_000_000 + b"x", "text/plain"),
        ((b"On 1 x wrote" + b" " * 1000 + b":\n") * 1500, "text/plain"),
    ],
    ids=["comments", "marked", "tags", "quotes", "spaces", "receipt", "intros"],
)
def test_hostile_bodies_stay_fast(body: bytes, ctype: str) -> None:
    raw = mail("", ctype=ctype) + body
    inbound = within_budget(lambda: parse_message(raw))
    assert inbound.readable


def test_parse_reads_auth_with_the_configured_id() -> None:
    raw = mail(
        "x",
        headers=(
            "Authentication-Results: mx.amphis.example; dmarc=fail header.from=customer.example\n"
            "Authentication-Results: relay.customer.example; dmarc=pass\n"
        ),
    )
    assert parse_message(raw, authserv_id="mx.amphis.example").auth.dmarc == "fail"
    assert parse_message(raw, authserv_id="relay.customer.example").auth.dmarc == "pass"
    assert parse_message(raw).auth == AuthResult()


def _crashed(inbound) -> bool:
    """parse_message catches everything; an internal exception shows up as this problem."""
    return any(p.startswith("could not parse the mail") for p in inbound.problems)


SAMPLES = sorted(MAIL.glob("*.eml")) + sorted(
    p for p in CORPUS.rglob("*.eml") if p.stat().st_size < 100_000
)


FUZZ = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


@FUZZ
@given(st.binary(max_size=4000))
def test_never_raises_on_random_bytes(raw: bytes) -> None:
    inbound = parse_message(raw)
    assert inbound.size == len(raw)
    assert isinstance(inbound.message_id, str) and inbound.message_id
    assert not _crashed(inbound)


@FUZZ
@given(
    st.sampled_from(SAMPLES),
    st.lists(
        st.tuples(
            st.sampled_from(["flip", "insert", "delete", "truncate", "dup"]),
            st.floats(0, 1),
            st.binary(min_size=1, max_size=40)
            | st.sampled_from(
                [
                    b"\n--",
                    b"=?utf-8?B?",
                    b"Content-Type: multipart/mixed; boundary=x\n",
                    b"<",
                    b"\r\n\r\n",
                    b"charset=x-foo",
                    b"Content-Transfer-Encoding: base64\n",
                    b"\xff\xfe",
                ]
            ),
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_never_raises_on_mutated_real_mail(
    path: Path, edits: list[tuple[str, float, bytes]]
) -> None:
    data = bytearray(path.read_bytes())
    for op, where, chunk in edits:
        at = int(where * len(data))
        if op == "flip" and data:
            data[min(at, len(data) - 1)] ^= chunk[0] or 0x55
        elif op == "insert":
            data[at:at] = chunk
        elif op == "delete":
            del data[at : at + len(chunk) * 10]
        elif op == "truncate":
            del data[at:]
        elif op == "dup":
            data[at:at] = data[max(0, at - 200) : at]
    inbound = parse_message(bytes(data))
    assert inbound.size == len(data)
    assert not _crashed(inbound)
    # Everything downstream (SQLite, JSON) must be able to store what came out.
    texts = (inbound.text, inbound.quoted_text, inbound.subject, inbound.sender, *inbound.problems)
    for text in texts:
        text.encode("utf-8")


def test_recipients_are_to_cc_and_the_envelope_recipient() -> None:
    raw = (
        b"From: maria@amphis.example\r\nTo: Support <support+esc-1-abc@amphis.example>\r\n"
        b"Cc: team@amphis.example, Bob <BOB@amphis.example>\r\n"
        b"Delivered-To: support+esc-2-def@amphis.example\r\nSubject: x\r\n\r\nhi\r\n"
    )
    inbound = parse_message(raw)
    assert inbound.to == ("support+esc-1-abc@amphis.example",)
    assert inbound.recipients == (
        "support+esc-1-abc@amphis.example",
        "team@amphis.example",
        "bob@amphis.example",
        "support+esc-2-def@amphis.example",
    )
