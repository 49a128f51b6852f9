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
