"""Composing our mail: a text part, an HTML alternative, and the headers that keep other robots
from answering (RFC 3834) and mail clients threading.

Written out directly as bytes rather than through `email.generator`: every reply has the same
shape (one or two UTF-8 parts in quoted-printable, a dozen headers we choose), and the
generator's generic folding and re-encoding made composing the slowest step of a backlog. What
the generator did for us is done here on purpose: header values on one line and folded at
whitespace, non-ASCII subjects and names as RFC 2047 encoded words, bodies in quoted-printable
with CRLF line ends (readable in a raw .eml file, 7-bit on the wire), and a boundary that
quoted-printable can never produce ("=_" is always written "=3D_").
"""

from __future__ import annotations

import binascii
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.utils import format_datetime, formataddr

from mailbot.mail.parse.quotes import is_reply_subject

LOOP_HEADER = "X-Mailbot-Loop"
FOLD_AT = 78  # RFC 5322 2.1.1: lines SHOULD be at most 78 characters,
MAX_LINE = 998  # and MUST be at most 998


@dataclass(frozen=True)
class Composed:
    """A mail ready for the outbox."""

    message_id: str  # without angle brackets
    to: str
    subject: str
    raw: bytes


def new_message_id(from_address: str) -> str:
    domain = from_address.rpartition("@")[2] or "mailbot.invalid"
    return f"mailbot.{secrets.token_hex(16)}@{domain}"


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
    # Header values partly come from what strangers wrote (their subject, their Message-ID):
    # no CR, LF, NUL or other control character may reach a header we write.
    subject, to, from_name = one_line(subject), one_line(to), one_line(from_name)
    head = [
        header(
            "From", formataddr((from_name, from_address), "utf-8") if from_name else from_address
        ),
        header("To", to),
        header("Subject", subject),
        header("Date", format_datetime(now)),
        header("Message-ID", f"<{one_line(message_id)}>"),
    ]
    in_reply_to = _message_id(in_reply_to)
    if in_reply_to:
        head.append(header("In-Reply-To", f"<{in_reply_to}>"))
        refs = [_message_id(r) for r in references][-10:] + [in_reply_to]
        head.append(header("References", " ".join(f"<{r}>" for r in dict.fromkeys(refs) if r)))
    if automatic:
        # RFC 3834: other robots must not answer us; Exchange reads the second header.
        head.append(b"Auto-Submitted: auto-replied\r\n")
        head.append(b"X-Auto-Response-Suppress: All\r\n")
    head.append(header(LOOP_HEADER, from_address))
    for name, value in (extra_headers or {}).items():
        head.append(header(name, one_line(value)))
    head.append(b"MIME-Version: 1.0\r\n")
    if not html:
        body = _part_headers("plain") + b"\r\n" + _qp(text)
    else:
        boundary = f"=_mailbot_{secrets.token_hex(16)}".encode()
        head.append(b'Content-Type: multipart/alternative;\r\n boundary="' + boundary + b'"\r\n')
        body = b"".join(
            (
                b"\r\n--" + boundary + b"\r\n",
                _part_headers("plain"),
                b"\r\n",
                _qp(text),
                b"\r\n--" + boundary + b"\r\n",
                _part_headers("html"),
                b"\r\n",
                _qp(html),
                b"\r\n--" + boundary + b"--\r\n",
            )
        )
    return Composed(message_id, to, subject, b"".join(head) + body)


def header(name: str, value: str) -> bytes:
    """One header field, CRLF-terminated. ASCII values are folded at whitespace; a subject or
    other free text with non-ASCII characters becomes RFC 2047 encoded words; an address with
    them (RFC 6532, sent with SMTPUTF8) is written as UTF-8, since encoded words are not
    allowed in an address."""
    line = f"{name}: {value}"
    if value.isascii():
        if len(line) <= FOLD_AT:
            return f"{line}\r\n".encode("ascii")
        folded = _fold(line)
        if max(len(piece) for piece in folded.split("\r\n")) <= MAX_LINE:
            return (folded + "\r\n").encode("ascii")
        # A word too long for any line (a stranger's subject can be one): encoded words
        # may be split anywhere, so such a value is written as them.
    elif "@" in value and name in ("To", "Cc", "Reply-To", LOOP_HEADER):
        return f"{line}\r\n".encode()
    encoded = Header(value, "utf-8", header_name=name).encode(linesep="\r\n")
    return f"{name}: {encoded}\r\n".encode("ascii")


def _fold(line: str) -> str:
    """Break a long header line before whitespace so that each piece fits in FOLD_AT where it
    can (a single word longer than that stays whole: folding may only happen at whitespace)."""
    pieces: list[str] = []
    current = ""
    for word in line.split(" "):
        if current and len(current) + 1 + len(word) > FOLD_AT:
            pieces.append(current)
            current = " " + word
        else:
            current = f"{current} {word}" if current else word
    pieces.append(current)
    return "\r\n".join(pieces)


def _part_headers(subtype: str) -> bytes:
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: quoted-printable\r\n"
    ).encode("ascii")


def _qp(text: str) -> bytes:
    """The text as UTF-8 in quoted-printable, CRLF line ends, ending with one."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n")
    if not lines.endswith("\n"):
        lines += "\n"
    # binascii keeps CRLF line ends of the input and encodes trailing blanks (=20).
    return binascii.b2a_qp(lines.replace("\n", "\r\n").encode("utf-8"), istext=True)


_CONTROLS = re.compile(r"[\x00-\x1f\x7f]+")


def one_line(value: str) -> str:
    """A header value on one line: control characters (CR, LF, NUL, ...) become a space."""
    return " ".join(_CONTROLS.sub(" ", value).split())


def _message_id(value: str) -> str:
    """A Message-ID as we write it back: one token, no brackets, no spaces or controls."""
    return "".join(one_line(value).strip("<>").split())


def reply_subject(original: str, fallback: str) -> str:
    """`Re: <their subject>`; theirs as it is when it already answers ("Re:", "AW:", "SV:"
    and the rest of `is_reply_subject`), so a thread never grows `Re: Re:`; FALLBACK when
    they wrote none."""
    original = one_line(original)
    if not original:
        return fallback
    if is_reply_subject(original):
        return original
    return f"Re: {original}"
