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
    if "=?" not in value:
        # Nothing encoded: the header registry would only cost time (it was half the parse).
        return scrub(value)
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
    if "=?" not in value and '"' not in value and "(" not in value:
        # The common plain list ("a@x, B <b@y>"): the lenient old parser reads it alike, at
        # a tenth of the header registry's cost.
        for display, addr in email.utils.getaddresses([value]):
            addr = addr.strip().strip("<>").lower()
            if addr and "@" in addr:
                found.append((scrub(display), scrub(addr)))
        if found:
            return found
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


_ANGLE = re.compile(r"<([^<>]*)>")
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
_COMMENT = re.compile(r"\([^()]*\)")
# What an address we may write to looks like: one @, no spaces, no structure characters, no
# encoded-word, a domain with a dot. Letters beyond ASCII are allowed (SMTPUTF8, IDN).
_LOCAL = re.compile(r"^[^\s@<>()\[\]\\,;:\"]+$")
_DOMAIN = re.compile(r"^(?:[^\W_](?:[\w-]*[^\W_])?\.)+[^\W\d_][\w-]*[^\W_]$")


def _masked(text: str) -> str:
    """text with quoted strings and comments blanked out (same length), so commas, angle
    brackets and @ inside them are not taken for structure."""
    text = _QUOTED.sub(lambda m: '"' + "x" * (len(m.group()) - 2) + '"', text)
    for _ in range(5):  # comments nest; five levels is plenty for real mail
        text = _COMMENT.sub(lambda m: " " * len(m.group()), text)
    return text


def valid_address(addr: str) -> bool:
    """Whether addr is a single address we could write to."""
    if "=?" in addr or addr.count("@") != 1 or len(addr) > 254:
        return False
    local, _, domain = addr.partition("@")
    return bool(_LOCAL.match(local)) and bool(_DOMAIN.match(domain)) and len(local) <= 64


def mailbox(name: str, value: str) -> tuple[str, str, str, str]:
    """One sender from a From (or Reply-To) value, read as a receiving server reads it:
    (display name, lower-cased address, "" or what is wrong with it, what it claims).

    The address in angle brackets wins whatever the display name holds (`Mueller, Hans
    <hans@...>` is Hans; `eve@evil.example <bob@bank.example>` is bob@bank.example); without
    brackets the one address-like word. Several addresses, none, or something that is not an
    address we could write to (two @, an encoded-word, no domain) give "" and the problem.
    """
    text = unfolded(value)
    masked = _masked(text)
    angles = list(_ANGLE.finditer(masked))
    several = f"{name} holds several addresses"
    if len(angles) > 1:
        return "", "", several, ""
    if angles:
        m = angles[0]
        addr = text[m.start(1) : m.end(1)].strip()
        display = text[: m.start()].strip()
        after = masked[m.end() :]
        if "@" in after or "," in after:
            return "", "", several, ""
    else:
        words = [w for w in re.split(r"[\s,;]+", masked) if "@" in w]
        if len(words) > 1:
            return "", "", several, ""
        if not words:
            bare = masked.strip()
            claimed = bare.lower() if bare and " " not in bare else ""
            return "", "", f"no readable {name} address", scrub(claimed)
        start = masked.find(words[0])
        addr = text[start : start + len(words[0])]
        comments = [c.strip("() ") for c in _COMMENT.findall(text)]
        display = " ".join(c for c in comments if c)
    addr = scrub(addr.strip().strip('"').lower())
    if not valid_address(addr):
        return "", "", f"{name} {addr[:80]!r} is not an address that can be answered", addr
    display = display.strip()
    if len(display) >= 2 and display[0] == display[-1] == '"':
        display = display[1:-1].replace('\\"', '"')
    return decode_header_text("subject", display) if display else "", addr, "", addr


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
        when = email.utils.parsedate_to_datetime(value)
    except Exception:  # noqa: BLE001 - the registry below reads a few more broken forms
        when = None
    if when is None:
        try:
            when = _DEFAULT.header_factory("date", value).datetime
        except Exception:  # noqa: BLE001
            return None
    if when is not None and when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # "-0000": zone unknown, UTC is the convention
    return when
