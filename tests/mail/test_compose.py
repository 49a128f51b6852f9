"""The composed message: threading headers, the auto-reply markers, text and HTML parts."""

from __future__ import annotations

import email
import email.policy

from mailbot.mail.compose import compose
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
