"""parse_message and its parts, on realistic mails (tests/data/mail/) and on hand-made edge cases."""

from __future__ import annotations

import base64
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailbot import serials
from mailbot.authenticate import authserv_id_of, read_auth_results, sender_verdict
from mailbot.model import AuthResult, SerialStatus
from mailbot.parse import (
    decode_bytes,
    find_order_refs,
    html_to_text,
    parse_message,
    split_quotes,
)

MAIL = Path(__file__).parent / "data" / "mail"
CORPUS = Path(__file__).parent / "data" / "corpus" / "flanker"


def serial(payload: str) -> str:
    return serials.format_serial(payload + serials.check_symbol(payload))


# The serials the files in tests/data/mail/ were written with.
S1 = serial("7K2M9QX4RT8VW3H")
S2 = serial("3NPB6ZD1FJ5GKCE")
S3 = serial("Q8WX2RM7TA4HN6Y")
S4 = serial("M4J9T2PA7VW5XKD")
S5 = serial("B6C8DE0FG1HJ2KM")
S6 = serial("Z9Y8X7W6V5T4S3R")
S7 = serial("A1B2C3D4E5F6G7H")


def load(name: str, **kwargs: object):
    return parse_message((MAIL / name).read_bytes(), **kwargs)  # type: ignore[arg-type]


def mail(body: str, *, headers: str = "", ctype: str = "text/plain; charset=utf-8") -> bytes:
    """A minimal well-formed mail around `body`."""
    head = (
        "From: Customer <c@customer.example>\n"
        "To: support@amphis.example\n"
        "Subject: license\n"
        "Message-ID: <m1@customer.example>\n"
        "Date: Mon, 1 Jan 2024 10:00:00 +0000\n"
        "MIME-Version: 1.0\n"
        f"Content-Type: {ctype}\n"
    )
    return (head + headers + "\n" + body).encode("utf-8")


def normalized(findings) -> list[str]:
    return [f.normalized for f in findings]


# --- the test mails ---------------------------------------------------------------------------


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
    assert inbound.auth == AuthResult(dmarc="pass", dkim="pass", spf="pass")
    assert inbound.content_type == "multipart/alternative"


def test_html_only_apple_mail_blockquote_is_quoted() -> None:
    inbound = load("html-only.eml")
    assert normalized(inbound.serials) == [S3]
    assert normalized(inbound.quoted_serials) == [S4]
    assert "second Mac user" in inbound.text
    assert "&nbsp;" not in inbound.text and "<" not in inbound.text
    assert "wrote:" in inbound.quoted_text


def test_apple_mail_plain_reply_quotes_are_not_new() -> None:
    inbound = load("apple-mail-reply.eml")
    assert inbound.serials == ()
    assert normalized(inbound.quoted_serials) == [S5]
    assert inbound.text == "Thanks, it works!\n\nTom"


def test_gmail_reply_with_wrapped_intro_quotes_our_serial() -> None:
    inbound = load("gmail-reply-quote.eml")
    assert inbound.serials == ()
    assert normalized(inbound.quoted_serials) == [S6]
    assert inbound.text.startswith("Great, thank you, it works now.")
    assert "wrote:" not in inbound.text


def test_german_quoted_printable_utf8() -> None:
    inbound = load("german-qp.eml")
    assert normalized(inbound.serials) == [S7]
    assert inbound.sender_name == "Dörte Müller"
    assert inbound.subject == "Lizenz für neuen Mitarbeiter – Seriennummer"
    assert "Jürgen Weiß" in inbound.text and "Straße" in inbound.text
    assert inbound.order_refs == ("4471-0923",)  # "Quittung #4471-0923"
    assert inbound.problems == ()


def test_latin1_body_labelled_utf8_is_read_as_cp1252() -> None:
    inbound = load("latin1-labelled-utf8.eml")
    assert normalized(inbound.serials) == [S1]
    assert "numéro de série" in inbound.text and "Hélène Lefèvre" in inbound.text
    assert inbound.sender_name == "Hélène Lefèvre"
    assert inbound.subject == "Numéro de série"
    assert any("cp1252" in p for p in inbound.problems)


def test_unknown_charset_falls_back_without_raising() -> None:
    inbound = load("unknown-charset.eml")
    assert normalized(inbound.serials) == [S2]
    assert "Björn" in inbound.text
    assert any("x-foo" in p for p in inbound.problems)
    assert inbound.subject.startswith("Seriennummer f")


def test_csv_attachment_serials_are_found_and_names_recorded() -> None:
    inbound = load("csv-attachment.eml")
    assert normalized(inbound.serials) == [S1, S2, S3, S4, S5]
    assert inbound.attachments == ("serials.csv", "logo.png")
    assert "User 1" not in inbound.text  # attachment content is searched, not shown as text
    assert inbound.order_refs == ("ORD-7731",)


def test_inline_forward_counts_as_new_text_but_its_own_quote_does_not() -> None:
    inbound = load("forwarded-request.eml")
    assert normalized(inbound.serials) == [S3]
    assert normalized(inbound.quoted_serials) == [S4]
    assert "Forwarded message" in inbound.text


def test_forward_as_attached_message() -> None:
    inbound = load("forwarded-attachment.eml")
    assert normalized(inbound.serials) == [S5]
    assert inbound.attachments == ("serial.eml",)
    assert "lukas@kanzlei-roth.example" in inbound.text


def test_outlook_forward_without_marker_uses_the_fw_subject() -> None:
    inbound = load("outlook-forward.eml")
    assert normalized(inbound.serials) == [S6]  # the forwarded mail
    assert normalized(inbound.quoted_serials) == [S7]  # that mail's own quoted history
    assert inbound.order_refs == ("ORD-5521",)


def test_dsn_records_the_returned_message_id_and_keeps_its_serial_quoted() -> None:
    inbound = load("dsn-our-reply.eml")
    assert inbound.content_type == "multipart/report"
    assert inbound.report_type == "delivery-status"
    assert inbound.bounced_message_ids == ("lic-42.20240315100000@amphis.example",)
    assert inbound.serials == ()
    assert normalized(inbound.quoted_serials) == [S2]
    assert inbound.return_path == ""
    assert inbound.headers["return-path"] == ("<>",)
    assert inbound.headers["auto-submitted"] == ("auto-replied",)


def test_five_thousand_serials_are_capped() -> None:
    raw = (MAIL / "many-serials.eml").read_bytes()
    started = time.perf_counter()
    inbound = parse_message(raw, max_serials=100)
    assert time.perf_counter() - started < 1.0
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


# --- headers ----------------------------------------------------------------------------------


def test_missing_message_id_is_synthesized_stably() -> None:
    raw = mail("hello").replace(b"Message-ID: <m1@customer.example>\n", b"")
    first, again = parse_message(raw), parse_message(raw)
    assert first.message_id == again.message_id
    assert first.message_id.startswith("missing-") and first.message_id.endswith("@mailbot.invalid")
    assert len(first.message_id.split("@")[0]) == len("missing-") + 24


def test_broken_encoded_words_do_not_break_the_subject() -> None:
    raw = mail("x", headers="").replace(
        b"Subject: license",
        b"Subject: =?utf-8?B?broken and =?x-unknown?Q?caf=E9?= =?utf-8?Q?ok=C3=A9?=",
    )
    inbound = parse_message(raw)
    assert "broken" in inbound.subject
    assert "oké" in inbound.subject


def test_raw_8bit_headers_are_decoded() -> None:
    raw = mail("x").replace(b"From: Customer", "From: Jürgen Weiß".encode("utf-8"))
    raw = raw.replace(b"Subject: license", "Subject: Grüße".encode("latin-1"))
    inbound = parse_message(raw)
    assert inbound.sender_name == "Jürgen Weiß"
    assert inbound.subject == "Grüße"


def test_dates_are_timezone_aware_or_none() -> None:
    assert parse_message(mail("x")).date == datetime(2024, 1, 1, 10, tzinfo=timezone.utc)
    unknown_zone = mail("x").replace(b"+0000", b"-0000")
    assert parse_message(unknown_zone).date.tzinfo is not None  # type: ignore[union-attr]
    assert parse_message(mail("x").replace(b"Mon, 1 Jan 2024", b"someday")).date is None


def test_addresses_and_return_path() -> None:
    raw = mail(
        "x",
        headers=(
            "Reply-To: Other <Other@Elsewhere.example>\n"
            "Return-Path: <Bounces@Customer.example>\n"
            "References: <a@x> <b@y>\n\t<c@z>\n"
        ),
    ).replace(
        b"To: support@amphis.example",
        b'To: "Support, Amphis" <Support@Amphis.example>, x@y.example',
    )
    inbound = parse_message(raw)
    assert inbound.reply_to == "other@elsewhere.example"
    assert inbound.return_path == "bounces@customer.example"
    assert inbound.to == ("support@amphis.example", "x@y.example")
    assert inbound.references == ("a@x", "b@y", "c@z")
    assert inbound.reply_address == "other@elsewhere.example"


def test_huge_header_is_cut_short_quickly() -> None:
    raw = mail("x").replace(b"Subject: license", b"Subject: " + b"=?utf-8?q?abc?=\n " * 20000)
    started = time.perf_counter()
    inbound = parse_message(raw)
    assert time.perf_counter() - started < 0.5
    assert any("cut short" in p for p in inbound.problems)


# --- bodies -----------------------------------------------------------------------------------


def test_base64_and_quoted_printable_bodies() -> None:
    b64 = base64.b64encode(f"my serial: {S1}\n".encode()).decode()
    inbound = parse_message(mail(b64, headers="Content-Transfer-Encoding: base64\n"))
    assert normalized(inbound.serials) == [S1]
    qp = f"serial=3A {S2}=\n and more\n"
    inbound = parse_message(mail(qp, headers="Content-Transfer-Encoding: quoted-printable\n"))
    assert normalized(inbound.serials) == [S2]
    assert "serial: AMC" in inbound.text


def test_format_flowed_joins_a_spaced_serial_broken_over_lines() -> None:
    spaced = S3.replace("-", " ")
    first, rest = spaced[:13], spaced[14:]
    body = f"My serial is {first} \n{rest}\n"
    inbound = parse_message(mail(body, ctype="text/plain; charset=utf-8; format=flowed"))
    assert normalized(inbound.serials) == [S3]


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


def test_lookalike_characters_are_read() -> None:
    fancy = S5.replace("-", "\u2011")  # non-breaking hyphens from a word processor
    inbound = parse_message(mail(f"serial: {fancy}\u200b"))
    assert normalized(inbound.serials) == [S5]


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


def test_encrypted_mail_is_unreadable() -> None:
    raw = mail(
        "--b\nContent-Type: application/pgp-encrypted\n\nVersion: 1\n--b\n"
        "Content-Type: application/octet-stream\n\n-----BEGIN PGP MESSAGE-----\nabc\n--b--\n",
        ctype='multipart/encrypted; protocol="application/pgp-encrypted"; boundary="b"',
    )
    inbound = parse_message(raw)
    assert inbound.readable is False
    assert any("encrypted" in p for p in inbound.problems)


def test_text_beyond_the_budget_is_skipped() -> None:
    filler = ("lorem ipsum dolor sit amet " * 40 + "\n") * 2500  # ~2.7 MB
    raw = mail(f"first {S1}\n{filler}last {S2}\n")
    started = time.perf_counter()
    inbound = parse_message(raw)
    assert time.perf_counter() - started < 1.5
    assert normalized(inbound.serials) == [S1]
    assert any("not read" in p for p in inbound.problems)
    assert inbound.size == len(raw)


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
    started = time.perf_counter()
    inbound = parse_message(raw)
    assert time.perf_counter() - started < 1.5
    assert inbound.readable


def test_multipart_alternative_prefers_plain() -> None:
    raw = mail(
        f"--b\nContent-Type: text/plain\n\nplain {S1}\n--b\nContent-Type: text/html\n\n"
        f"<p>html {S2}</p>\n--b--\n",
        ctype='multipart/alternative; boundary="b"',
    )
    inbound = parse_message(raw)
    assert normalized(inbound.serials) == [S1]
    assert inbound.text == f"plain {S1}"


def test_other_attachments_are_named_only() -> None:
    pdf = base64.b64encode(f"%PDF-1.4 {S1}".encode()).decode()
    raw = mail(
        f"--b\nContent-Type: text/plain\n\nsee attached\n--b\n"
        "Content-Type: application/pdf\n"
        'Content-Disposition: attachment; filename="=?utf-8?Q?Rechnung_M=C3=A4rz.pdf?="\n'
        f"Content-Transfer-Encoding: base64\n\n{pdf}\n--b--\n",
        ctype='multipart/mixed; boundary="b"',
    )
    inbound = parse_message(raw)
    assert inbound.attachments == ("Rechnung März.pdf",)
    assert inbound.serials == ()


# --- HTML -------------------------------------------------------------------------------------


def test_html_to_text_tables_scripts_entities_and_breaks() -> None:
    html = (
        "<html><head><title>T AMC</title><style>td {color: red}</style></head><body>"
        "<script>var s = 'AMC-0000-0000-0000-0000';</script>"
        "<table><tr><td>Name</td><td>Serial</td></tr><tr><td>Fred</td><td>"
        f"{S1}</td></tr></table>caf&eacute; &amp; more<br>line two<div>block</div>"
        "<p>para&nbsp;graph</p></body></html>"
    )
    new, quoted = html_to_text(html)
    assert quoted == ""
    lines = new.split("\n")
    assert "Name\tSerial" in lines
    assert f"Fred\t{S1}" in lines
    assert "café & more" in lines and "line two" in lines and "block" in lines
    assert "para graph" in lines
    assert "AMC-0000" not in new and "color" not in new and "T AMC" not in new


def test_html_gmail_quote_and_forward() -> None:
    reply = (
        '<div dir="ltr">ok thanks</div><div class="gmail_quote"><div class="gmail_attr">'
        f"On Mon wrote:</div><blockquote class=\"gmail_quote\">{S1}</blockquote></div>"
    )
    assert html_to_text(reply) == ("ok thanks", f"On Mon wrote:\n\n{S1}")
    forward = (
        '<div dir="ltr">see below</div><div class="gmail_quote"><div class="gmail_attr">'
        "---------- Forwarded message ---------<br>From: A &lt;a@x&gt;<br></div>"
        f"<div>serial {S2}</div><div class=\"gmail_quote\">old {S3}</div></div>"
    )
    new, quoted = html_to_text(forward)
    assert S2 in new and S3 not in new
    assert quoted == f"old {S3}"


def test_html_apple_forward_marker_before_blockquote() -> None:
    html = (
        "<div>FYI</div><div><br><div>Begin forwarded message:</div><br>"
        '<blockquote type="cite"><div><b>From: </b>Lukas</div>'
        f"<div>serial {S4}</div></blockquote></div>"
    )
    new, quoted = html_to_text(html)
    assert S4 in new and quoted == ""


def test_html_outlook_conditional_comments_are_dropped() -> None:
    html = (
        "<p>serial</p><!--[if gte mso 9]><xml><o:OfficeDocumentSettings>AMC-0000-0000-0000-0000"
        f"</o:OfficeDocumentSettings></xml><![endif]--><p>{S1}</p><![if !supportLists]>-<![endif]>"
    )
    assert html_to_text(html) == (f"serial\n\n{S1}\n-", "")


def test_html_without_body_tag_and_line_breaks() -> None:
    new, _ = html_to_text(f"<html><head><title>t</title><p>serial {S1}<br/>line<br>end")
    assert new == f"serial {S1}\nline\nend"


def test_html_unclosed_and_broken_markup() -> None:
    new, _ = html_to_text(f"<div><p>serial <b>{S1}<td><blockquote type=cite>old {S2}")
    assert S1 in new and S2 not in new
    assert html_to_text("<<<>>><!-- <p") is not None


# --- quotes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "intro",
    [
        "On Mon, 1 Jan 2024 at 10:00, Amphis Support <support@amphis.example> wrote:",
        "Am 01.01.2024 um 10:00 schrieb Amphis Support <support@amphis.example>:",
        "Le lun. 1 janv. 2024 à 10:00, Amphis Support <support@amphis.example> a écrit :",
        "-----Original Message-----",
        "-----Ursprüngliche Nachricht-----",
    ],
)
def test_reply_intros_start_the_quote(intro: str) -> None:
    new, quoted = split_quotes(f"Thanks!\n\n{intro}\nyour license for {S1}\n")
    assert new == "Thanks!"
    assert S1 in quoted


def test_outlook_header_block_and_underscore_rule() -> None:
    text = (
        "Thanks\n\n________________________________\nFrom: Support <s@a.example>\n"
        f"Sent: Monday, 1 January 2024 10:00\nTo: me\nSubject: license\n\n{S1}\n"
    )
    new, quoted = split_quotes(text)
    assert new == "Thanks" and S1 in quoted
    german = (
        f"Danke\n\nVon: Support <s@a.example>\nGesendet: Montag, 1. Januar 2024\nAn: mich\n\n{S1}"
    )
    assert split_quotes(german)[0] == "Danke"


def test_interleaved_answers_after_an_intro_stay_new() -> None:
    text = (
        "On Mon, 1 Jan 2024 at 10:00, Support <s@a.example> wrote:\n"
        "> Which serial does the new PC show?\n"
        f"{S2}\n"
        "> Thanks\n"
    )
    new, quoted = split_quotes(text)
    assert new == S2
    assert "Which serial" in quoted


def test_a_wrapped_intro_before_interleaved_answers() -> None:
    text = (
        "On Mon, Jan 1, 2024 at 10:00 AM Amphis Support <support@amphis.example>\n"
        "wrote:\n"
        "> Which serial?\n"
        f"{S2}\n"
    )
    assert split_quotes(text) == (S2, "\n".join(text.split("\n")[:3]))


def test_a_sentence_that_looks_like_an_intro_is_not_a_quote() -> None:
    text = f"On my new PC I wrote down the serial:\n{S3}\n"
    assert split_quotes(text) == (text.strip("\n"), "")


def test_signature_underscores_without_headers_are_not_a_quote() -> None:
    text = f"serial {S3}\n\n____________________\nACME Ltd, London\n"
    assert split_quotes(text)[1] == ""


def test_forward_markers_are_not_quotes() -> None:
    for marker in ("---------- Forwarded message ---------", "Begin forwarded message:"):
        text = f"fyi\n\n{marker}\nFrom: A <a@x>\nDate: today\nSubject: s\nTo: b@y\n\n{S1}\n"
        new, quoted = split_quotes(text)
        assert S1 in new and quoted == ""


# --- order references -------------------------------------------------------------------------


def test_order_refs() -> None:
    text = (
        "Paid via cs_live_a1B2c3D4e5F6g7H8i9J0 (pi_3MtwBwLkdIwHu7ix28a3tqPa,"
        " ch_3MtwBwLkdIwHu7ix2ZzZ) receipt number 1939-3215, see #2024-0001 and our order"
        " ord-55x1 / ORD-2024-17. py_1AbCdEfGhIjK"
    )
    refs = find_order_refs(text)
    assert refs == (
        "cs_live_a1B2c3D4e5F6g7H8i9J0",
        "pi_3MtwBwLkdIwHu7ix28a3tqPa",
        "ch_3MtwBwLkdIwHu7ix2ZzZ",
        "py_1AbCdEfGhIjK",
        "1939-3215",
        "2024-0001",
        "ORD-55X1",
        "ORD-2024-17",
    )
    assert find_order_refs("xpi_123456789 words") == ()


# --- charsets ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "label", "expected"),
    [
        ("Grüße".encode("utf-8"), "utf-8", "Grüße"),
        ("Grüße".encode("latin-1"), "utf-8", "Grüße"),
        ("Grüße".encode("latin-1"), "x-foo", "Grüße"),
        ("Grüße".encode("utf-8"), "x-foo", "Grüße"),
        ("“quotes”".encode("cp1252"), "iso-8859-1", "“quotes”"),
        ("Grüße".encode("latin-1"), "us-ascii", "Grüße"),
        ("日本語".encode("cp932"), "shift_jis", "日本語"),
        ("Grüße".encode("utf-8"), None, "Grüße"),
        ("Grüße".encode("utf-8"), "iso-8859-1", "Grüße"),  # UTF-8 mislabelled as Latin-1
        ("Grüße".encode("utf-8"), "us-ascii", "Grüße"),
        ("zażółć".encode("iso-8859-2"), "iso-8859-2", "zażółć"),
        ("中文".encode("gbk"), "gb2312", "中文"),
        (b"caf\xc3\xa9 with one bad byte \xff here and \xc3\xa9\xc3\xa9\xc3\xa9", "utf-8", None),
    ],
)
def test_decode_bytes_fallbacks(data: bytes, label: str | None, expected: str | None) -> None:
    text, _ = decode_bytes(data, label)
    if expected is None:
        assert text.startswith("café with one bad byte") and text.count("\ufffd") == 1
    else:
        assert text == expected


def test_decode_bytes_never_raises_on_odd_labels() -> None:
    odd = ("base64", "rot13", "zlib", "utf-16", "", "utf-8\x00", "../../etc", "unknown-8bit")
    for label in odd:
        text, _ = decode_bytes(b"plain \xff bytes", label)
        assert isinstance(text, str)


# --- Authentication-Results ------------------------------------------------------------------


def test_auth_results_only_from_our_server_and_only_the_topmost() -> None:
    values = (
        "mx.amphis.example; dkim=fail header.d=x; dkim=pass (good sig) header.d=y;"
        ' spf=softfail smtp.mailfrom="a;b@x" (comment; with ; semicolons);'
        " dmarc=fail (p=reject) header.from=customer.example",
        "mx.amphis.example; dmarc=pass",  # lower down: forged or older, not ours
        "evil.example; dmarc=pass; dkim=pass; spf=pass",
    )
    assert read_auth_results(values, "MX.Amphis.Example") == AuthResult(
        dmarc="fail", dkim="pass", spf="softfail"
    )
    assert read_auth_results(values[2:], "mx.amphis.example") == AuthResult()
    assert read_auth_results(values, "") == AuthResult()


def test_auth_results_tolerant_forms() -> None:
    assert authserv_id_of("(comment) mx.amphis.example 1; none") == "mx.amphis.example"
    assert authserv_id_of("spf=none (sender IP is ) smtp.mailfrom=<>;") == ""
    assert read_auth_results(["mx.amphis.example; none"], "mx.amphis.example") == AuthResult()
    assert read_auth_results(
        ["mx.amphis.example;\r\n\tdmarc = pass (p=none) header.from=x; spf/1=pass"],
        "mx.amphis.example",
    ) == AuthResult(dmarc="pass", spf="pass")
    assert read_auth_results(['mx.amphis.example; "unterminated (', ")"], "mx.amphis.example")


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


@pytest.mark.parametrize(
    ("header", "require", "verdict"),
    [
        ("mx.amphis.example; dmarc=pass", False, None),
        ("mx.amphis.example; dmarc=pass", True, None),
        ("mx.amphis.example; dmarc=fail", False, "DMARC failed"),
        ("mx.amphis.example; dmarc=none", False, None),
        ("mx.amphis.example; dmarc=none", True, "did not pass (result: none)"),
        ("mx.amphis.example; spf=pass", True, "not reported"),
        ("forged.example; dmarc=pass", True, "not reported"),
    ],
)
def test_sender_verdict(header: str, require: bool, verdict: str | None) -> None:
    inbound = parse_message(mail("x", headers=f"Authentication-Results: {header}\n"))
    result = sender_verdict(inbound, require, "mx.amphis.example")
    if verdict is None:
        assert result is None
    else:
        assert result is not None and verdict in result


# --- never raises -----------------------------------------------------------------------------


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
                [b"\n--", b"=?utf-8?B?", b"Content-Type: multipart/mixed; boundary=x\n", b"<",
                 b"\r\n\r\n", b"charset=x-foo", b"Content-Transfer-Encoding: base64\n", b"\xff\xfe"]
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
