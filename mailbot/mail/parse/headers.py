"""Header values as people and the pipeline read them: text, addresses, Message-IDs, dates.

Header values are decoded one by one through `email.policy.default`'s header registry (RFC 2047
encoded-words, address lists, dates), with the older lenient `email.utils` functions as the
fallback when the registry chokes on a broken header. Every function takes the raw value as the
compat32 parser left it (folded, maybe with raw 8-bit bytes) and never raises.
"""

from __future__ import annotations

import email.header
import email.policy
import email.utils
import hashlib
import re
from datetime import UTC, datetime

from mailbot.mail.parse.charsets import decode_bytes, fix_8bit, scrub

# A 200 KB Subject of encoded words (the corpus has one) takes the header registry a second;
# nothing a person wrote is that long.
MAX_HEADER_CHARS = 8192

_DEFAULT = email.policy.default
_FOLD = re.compile(r"\r?\n[ \t]*")
_MSG_ID = re.compile(r"<([^<>\s]+)>")
# A "Message-ID: <...>" line in text that holds returned headers (a bounce's quoted original).
_HEADER_MSG_ID = re.compile(
    r"^[ \t]*message-id[ \t]*:\s*<([^<>\s]+)>", re.IGNORECASE | re.MULTILINE
)


def unfolded(value: str) -> str:
    """A raw value on one line, 8-bit bytes made readable, cut to MAX_HEADER_CHARS (not decoded).

    The cut comes before the unfolding regex runs, so a hostile header costs no more than a
    long one.
    """
    value = fix_8bit(value)
    return _FOLD.sub(" ", value[: MAX_HEADER_CHARS * 2]).strip()[:MAX_HEADER_CHARS]


def decode_header_text(name: str, value: str) -> str:
    """One header value as people read it: unfolded, RFC 2047 decoded, even when broken."""
    value = unfolded(value)
    try:
        return scrub(str(_DEFAULT.header_factory(name, value)))
    except Exception:  # noqa: BLE001 - the header registry chokes on some broken headers
        pass
    try:
        pieces = []
        for chunk, charset in email.header.decode_header(value):
            if isinstance(chunk, bytes):
                pieces.append(decode_bytes(chunk, charset)[0])
            else:
                pieces.append(chunk)
        return scrub("".join(pieces))
    except Exception:  # noqa: BLE001
        return scrub(value)


def addresses(name: str, value: str) -> list[tuple[str, str]]:
    """(display name, lower-cased address) pairs; [] when nothing address-like is there."""
    value = unfolded(value)
    found: list[tuple[str, str]] = []
    try:
        header = _DEFAULT.header_factory(name, value)
        for address in header.addresses:
            addr = address.addr_spec.strip().strip("<>").lower()
            if addr:
                found.append((scrub(address.display_name or ""), scrub(addr)))
    except Exception:  # noqa: BLE001 - fall back to the old, lenient parser below
        found = []
    if found:
        return found
    try:
        for display, addr in email.utils.getaddresses([value]):
            addr = addr.strip().strip("<>").lower()
            if addr:
                found.append((decode_header_text("subject", display), scrub(addr)))
    except Exception:  # noqa: BLE001
        pass
    return found


def return_path(value: str) -> str:
    """The envelope sender of a Return-Path value, lower-cased; "" for the null sender <>."""
    return scrub(unfolded(value).strip().strip("<>").strip().lower())


def message_ids(value: str) -> list[str]:
    """The Message-IDs of a Message-ID, In-Reply-To or References value, without brackets."""
    value = unfolded(value)
    ids = _MSG_ID.findall(value)
    if not ids and value.strip():
        ids = [value.split()[0].strip("<>")]  # a bare id without brackets, as some MUAs write
    return [scrub(i) for i in ids if i]


def message_id_lines(text: str) -> list[str]:
    """The ids of the "Message-ID: <...>" lines in text holding returned headers."""
    return _HEADER_MSG_ID.findall(text)


def synthetic_id(raw: bytes) -> str:
    """A stable made-up Message-ID for a mail without one, from a hash of its start."""
    return f"missing-{hashlib.sha256(raw[:65536]).hexdigest()[:24]}@mailbot.invalid"


def parse_date(value: str) -> datetime | None:
    """A Date value as a timezone-aware datetime, or None when unreadable."""
    value = unfolded(value)
    when: datetime | None = None
    try:
        when = _DEFAULT.header_factory("date", value).datetime
    except Exception:  # noqa: BLE001
        when = None
    if when is None:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except Exception:  # noqa: BLE001
            return None
    if when is not None and when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # "-0000": zone unknown, UTC is the convention
    return when
