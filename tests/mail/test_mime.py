"""mailbot.mail.parse.mime: the walk over the MIME tree, attachments, reports, budgets."""

from __future__ import annotations

import base64

from mailbot.mail.parse import parse_message
from tests.cpu import within_budget
from tests.mail.mails import S1, S2, S3, S4, S5, load, mail, normalized


def test_csv_attachment_serials_are_found_and_names_recorded() -> None:
    inbound = load("csv-attachment.eml")
    assert normalized(inbound.serials) == [S1, S2, S3, S4, S5]
    assert inbound.attachments == ("serials.csv", "logo.png")
    assert "User 1" not in inbound.text  # attachment content is searched, not shown as text
    assert inbound.order_refs == ("ORD-7731",)


def test_forward_as_attached_message() -> None:
    inbound = load("forwarded-attachment.eml")
    assert normalized(inbound.serials) == [S5]
    assert inbound.attachments == ("serial.eml",)
    assert "lukas@kanzlei-roth.example" in inbound.text


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


def test_base64_and_quoted_printable_bodies() -> None:
    b64 = base64.b64encode(f"my serial: {S1}\n".encode()).decode()
    inbound = parse_message(mail(b64, headers="Content-Transfer-Encoding: base64\n"))
    assert normalized(inbound.serials) == [S1]
    qp = f"serial=3A {S2}=\n and more\n"
    inbound = parse_message(mail(qp, headers="Content-Transfer-Encoding: quoted-printable\n"))
    assert normalized(inbound.serials) == [S2]
    assert "serial: AMC" in inbound.text


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
    inbound = within_budget(lambda: parse_message(raw))
    assert normalized(inbound.serials) == [S1]
    assert any("not read" in p for p in inbound.problems)
    assert inbound.size == len(raw)
