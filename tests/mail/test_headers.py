"""mailbot.mail.parse.headers: header values decoded, addresses, Message-IDs, dates."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mailbot.mail.parse import parse_message
from mailbot.mail.parse.headers import (
    MAX_HEADER_CHARS,
    addresses,
    decode_header_text,
    mailbox,
    message_id_lines,
    message_ids,
    parse_date,
    unfolded,
)
from tests.cpu import within_budget
from tests.mail.mails import mail


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
    raw = mail("x").replace(b"From: Customer", "From: Jürgen Weiß".encode())
    raw = raw.replace(b"Subject: license", "Subject: Grüße".encode("latin-1"))
    inbound = parse_message(raw)
    assert inbound.sender_name == "Jürgen Weiß"
    assert inbound.subject == "Grüße"


def test_dates_are_timezone_aware_or_none() -> None:
    assert parse_message(mail("x")).date == datetime(2024, 1, 1, 10, tzinfo=UTC)
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
    inbound = within_budget(lambda: parse_message(raw), 0.5)
    assert any("cut short" in p for p in inbound.problems)


def test_unfolded_joins_lines_and_caps_the_length() -> None:
    assert unfolded("a\r\n\tb\n c") == "a b c"
    assert len(unfolded("x" * (MAX_HEADER_CHARS * 3))) == MAX_HEADER_CHARS


def test_decode_header_text_encoded_words() -> None:
    assert (
        decode_header_text("subject", "=?iso-8859-1?q?Gr=FC=DFe?= aus\n Bern") == "Grüße aus Bern"
    )


def test_addresses_are_lower_cased_with_their_display_names() -> None:
    assert addresses("from", "Fred <Fred@Example.COM>") == [("Fred", "fred@example.com")]
    assert addresses("to", "a@x.example, B <b@y.example>") == [
        ("", "a@x.example"),
        ("B", "b@y.example"),
    ]
    assert addresses("from", "") == []


def test_message_ids_bracketed_bare_and_in_returned_headers() -> None:
    assert message_ids("<a@x> <b@y>") == ["a@x", "b@y"]
    assert message_ids("bare@id.example trailing") == ["bare@id.example"]
    assert message_ids("  ") == []
    assert message_id_lines("To: x\n  Message-ID: <r@z>\nX-Message-ID: <no@z>") == ["r@z"]


def test_parse_date() -> None:
    assert parse_date("Tue, 2 Jan 2024 03:04:05 +0100") == datetime(2024, 1, 2, 2, 4, 5, tzinfo=UTC)
    assert parse_date("not a date") is None


@pytest.mark.parametrize(
    ("value", "name", "address"),
    [
        ("Mueller, Hans <hans@example.com>", "Mueller, Hans", "hans@example.com"),
        ('"Mueller, Hans" <Hans@Example.com>', "Mueller, Hans", "hans@example.com"),
        ("hans@example.com (Hans Mueller)", "Hans Mueller", "hans@example.com"),
        ("=?utf-8?q?M=C3=BCller?= <hans@example.com>", "Müller", "hans@example.com"),
        ("J\udcc3\udcbcrgen <j@example.com>", "Jürgen", "j@example.com"),  # raw 8-bit name
        ("eve@evil.example <bob@bank.example>", "eve@evil.example", "bob@bank.example"),
        ('"<b@x.com>" <a@y.com>', "<b@x.com>", "a@y.com"),
        ("plain@example.com", "", "plain@example.com"),
        ("hans@müller.example", "", "hans@müller.example"),
    ],
)
def test_a_from_is_read_as_a_receiving_server_reads_it(value: str, name: str, address: str) -> None:
    shown, addr, problem, _ = mailbox("From", value)
    assert (shown, addr, problem) == (name, address, "")


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("a@x.example, b@y.example", "several"),
        ("Hans <hans@example.com>, Eve <eve@evil.example>", "several"),
        ("Bob <bob@example.com> <eve@evil.example>", "several"),
        ("x <a@b.example> y@z.example", "several"),
        ("Team: a@x.example, b@y.example;", "several"),
        ("<=?utf-8?q?evil=40x.com?=>", "not an address"),
        ("a@b@c.example", "not an address"),
        ("root@localhost", "not an address"),
        ("<>", "not an address"),
        ("undisclosed-recipients:;", "no readable"),
    ],
)
def test_a_from_without_one_usable_address_gives_none(value: str, problem: str) -> None:
    shown, addr, said, _ = mailbox("From", value)
    assert addr == "" and problem in said


def test_a_bare_machine_sender_is_remembered_for_classification_only() -> None:
    assert mailbox("From", "MAILER-DAEMON")[1:] == ("", "no readable From address", "mailer-daemon")
