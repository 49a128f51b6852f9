"""The composed message: threading headers, the auto-reply markers, text and HTML parts."""

from __future__ import annotations

import email
import email.policy

from mailbot.mail.compose import compose, reply_subject
from tests.builders import T0


def test_composed_reply_headers() -> None:
    c = compose(
        from_address="support@amphis.example",
        from_name="Amphis Support",
        to="zoe@example.com",
        subject="Ihre Lizenz für Amphis",
        text="Grüße\n",
        html="<p>Grüße</p>",
        now=T0,
        message_id="mailbot.1@amphis.example",
        in_reply_to="orig@example.com",
        references=("a@x", "orig@example.com"),
    )
    msg = email.message_from_bytes(c.raw, policy=email.policy.default)
    assert msg["Subject"] == "Ihre Lizenz für Amphis"
    assert msg["Message-ID"] == "<mailbot.1@amphis.example>"
    assert msg["In-Reply-To"] == "<orig@example.com>"
    assert msg["References"] == "<a@x> <orig@example.com>"
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert msg.get_body(preferencelist=("plain",)).get_content().rstrip() == "Grüße"
    assert "Grüße" in msg.get_body(preferencelist=("html",)).get_content()


def test_no_control_character_reaches_a_header_we_write() -> None:
    """A stranger's subject with a lone CR, a LF or a NUL comes back in our Re: subject."""
    c = compose(
        from_address="support@amphis.example",
        from_name="Amphis\r\nBcc: x@y",
        to="zoe@example.com",
        subject="Re: cr \r alone\n and \x00 nul",
        text="hi\n",
        html=None,
        now=T0,
        message_id="m.1@amphis.example",
        in_reply_to="orig\r\nBcc: evil@example.com",
        references=("a@x\r\n",),
    )
    head = c.raw.split(b"\r\n\r\n", 1)[0].decode()
    assert "\x00" not in head and "Bcc" not in head.split("From:")[0]
    msg = email.message_from_bytes(c.raw, policy=email.policy.default)
    assert msg["Subject"] == "Re: cr alone and nul"
    assert msg.get_all("Bcc") is None
    assert msg["In-Reply-To"] == "<origBcc:evil@example.com>"


# -- the bytes we write, for any text -------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from mailbot.mail.compose import header, one_line  # noqa: E402

free_text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=300
)


@settings(max_examples=150, deadline=None)
@given(subject=free_text, text=free_text, html=st.one_of(st.none(), free_text), name=free_text)
def test_any_text_reads_back_the_same_from_the_bytes_we_write(
    subject: str, text: str, html: str | None, name: str
) -> None:
    c = compose(
        from_address="support@amphis.example",
        from_name=name,
        to="zoe@example.com",
        subject=subject,
        text=text,
        html=html,
        now=T0,
        message_id="m.1@amphis.example",
        in_reply_to="orig@example.com",
        references=[f"r{i}@example.com" for i in range(30)],
    )
    assert c.raw.isascii()  # 7-bit: quoted-printable bodies, encoded-word headers
    lines = c.raw.split(b"\r\n")
    assert all(b"\r" not in line and b"\n" not in line for line in lines)
    assert max(len(line) for line in lines) <= 998  # RFC 5322 2.1.1's hard limit
    msg = email.message_from_bytes(c.raw, policy=email.policy.default)
    assert msg.defects == []
    assert msg["Subject"] == one_line(subject) == c.subject
    assert msg["To"] == "zoe@example.com"
    assert msg["From"].addresses[0].addr_spec == "support@amphis.example"
    if one_line(name):
        assert msg["From"].addresses[0].display_name == one_line(name)
    assert len(msg["References"].split()) == 11

    def lines_of(value: str) -> list[str]:
        return value.replace("\r\n", "\n").replace("\r", "\n").rstrip("\n").split("\n")

    plain = msg.get_body(preferencelist=("plain",))
    assert lines_of(plain.get_content()) == lines_of(text)
    if html:
        assert msg.get_content_type() == "multipart/alternative"
        assert lines_of(msg.get_body(preferencelist=("html",)).get_content()) == lines_of(html)
    else:
        assert msg.get_content_type() == "text/plain"


def test_long_header_values_fold_at_whitespace_within_78() -> None:
    written = header("Subject", " ".join(["word"] * 60)).decode()
    assert written.endswith("\r\n")
    lines = written[:-2].split("\r\n")
    assert len(lines) > 1 and all(len(line) <= 78 for line in lines)
    assert all(line.startswith(" ") for line in lines[1:])
    unfolded = "".join(lines)
    assert unfolded == "Subject: " + " ".join(["word"] * 60)


def test_a_word_too_long_for_a_line_is_written_as_encoded_words() -> None:
    subject = "Re: " + "x" * 2000 + " tail"
    written = header("Subject", subject)
    assert max(len(line) for line in written.split(b"\r\n")) <= 78
    msg = email.message_from_bytes(written + b"\r\n", policy=email.policy.default)
    assert msg["Subject"] == subject


def test_an_address_with_non_ascii_characters_is_written_as_utf8_not_encoded_words() -> None:
    """RFC 6532: an encoded word is not allowed inside an address; the SMTP sender adds
    SMTPUTF8 for it."""
    c = compose(
        from_address="support@amphis.example",
        from_name="Amphis",
        to="jörg@exämple.de",
        subject="Lizenz",
        text="hi\n",
        html=None,
        now=T0,
        message_id="m.1@amphis.example",
    )
    assert b"\r\nTo: j\xc3\xb6rg@ex\xc3\xa4mple.de\r\n" in c.raw


def test_a_reply_subject_threads_without_growing() -> None:
    assert reply_subject("License request", "x") == "Re: License request"
    assert reply_subject("AW: Ihre Lizenz", "x") == "AW: Ihre Lizenz"
    assert reply_subject("RE[2]: again", "x") == "RE[2]: again"
    assert reply_subject("Fwd: my key", "x") == "Re: Fwd: my key"
    assert reply_subject(" \r\n ", "Fallback") == "Fallback"
    assert reply_subject("two\r\nlines", "x") == "Re: two lines"
