"""Composing our mail: a text part, an HTML alternative, and the headers that keep other robots
from answering (RFC 3834) and mail clients threading."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import format_datetime, formataddr

LOOP_HEADER = "X-Mailbot-Loop"
SMTP_POLICY = compat32.clone(linesep="\r\n")
# Quoted-printable keeps replies readable in a raw .eml file (base64 is the utf-8 default).
_QP_UTF8 = Charset("utf-8")
_QP_UTF8.body_encoding = QP


@dataclass(frozen=True)
class Composed:
    """A mail ready for the outbox."""

    message_id: str  # without angle brackets
    to: str
    subject: str
    raw: bytes


def new_message_id(from_address: str) -> str:
    domain = from_address.rpartition("@")[2] or "mailbot.invalid"
    return f"mailbot.{uuid.uuid4().hex}@{domain}"


def compose(
    *,
    from_address: str,
    from_name: str,
    to: str,
    subject: str,
    text: str,
    html: str | None,
    now: datetime,
    message_id: str,
    in_reply_to: str = "",
    references: Sequence[str] = (),
    automatic: bool = True,
    extra_headers: Mapping[str, str] | None = None,
) -> Composed:
    # Built with the compat32 MIME classes: the modern EmailMessage API re-parses every header
    # through its registry and made composing the slowest step of the whole pipeline.
    # typeshed types _charset as str; the stdlib takes a Charset too (email.mime.text).
    text_part = MIMEText(text, "plain", _QP_UTF8)  # type: ignore[arg-type]
    msg: Message = text_part
    if html:
        msg = MIMEMultipart("alternative")
        msg.attach(text_part)
        msg.attach(MIMEText(html, "html", _QP_UTF8))  # type: ignore[arg-type]
    # Header values partly come from what strangers wrote (their subject, their Message-ID):
    # no CR, LF, NUL or other control character may reach a header we write.
    subject, to, from_name = one_line(subject), one_line(to), one_line(from_name)
    msg["From"] = (
        formataddr((from_name, from_address), charset="utf-8") if from_name else from_address
    )
    msg["To"] = to
    msg["Subject"] = Header(subject, "utf-8").encode() if not subject.isascii() else subject
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = f"<{one_line(message_id)}>"
    in_reply_to = _message_id(in_reply_to)
    if in_reply_to:
        msg["In-Reply-To"] = f"<{in_reply_to}>"
        refs = [_message_id(r) for r in references][-10:] + [in_reply_to]
        msg["References"] = " ".join(f"<{r}>" for r in dict.fromkeys(refs) if r)
    if automatic:
        # RFC 3834: other robots must not answer us; Exchange reads the second header.
        msg["Auto-Submitted"] = "auto-replied"
        msg["X-Auto-Response-Suppress"] = "All"
    msg[LOOP_HEADER] = from_address
    for name, value in (extra_headers or {}).items():
        msg[name] = one_line(value)
    return Composed(message_id, to, subject, msg.as_bytes(policy=SMTP_POLICY))


_CONTROLS = re.compile(r"[\x00-\x1f\x7f]+")


def one_line(value: str) -> str:
    """A header value on one line: control characters (CR, LF, NUL, ...) become a space."""
    return " ".join(_CONTROLS.sub(" ", value).split())


def _message_id(value: str) -> str:
    """A Message-ID as we write it back: one token, no brackets, no spaces or controls."""
    return "".join(one_line(value).strip("<>").split())


def reply_subject(original: str, fallback: str) -> str:
    if not original:
        return fallback
    if original.lower().startswith(("re:", "aw:", "sv:")):
        return original
    return f"Re: {original}"
