"""Reply by mail: the token that binds a staff notification's Reply-To to one escalation, and how
a staff member's answer is read. Pure: the secret comes in as bytes, addresses and text as str.

A notification about escalation 12 carries `Reply-To: support+esc-12-<token>@amphis.example`
(the support address with a sub-address). The token is HMAC-SHA256 over a purpose label and the
escalation id, keyed with a secret only mailbot knows, cut to 80 bits and written in lower-case
base32 (16 characters): 80 bits cannot be guessed by mail, and lower case survives mail systems
that fold the case of local parts. The purpose label keeps this MAC from ever meaning anything
else made with the same secret. A token is checked with `hmac.compare_digest`, so the time a
wrong guess takes says nothing about how close it was.

Who may use a token, and what an answer does, is decided by `services/reply_by_mail.py`; see
docs/reply-by-mail.md.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass

PURPOSE = b"mailbot staff reply to an escalation, v1\n"
TOKEN_BYTES = 10  # 80 bits of the MAC: 16 base32 characters
MIN_SECRET_BYTES = 16
TAG_PREFIX = "esc-"
# The sub-address after the separator: "esc-<id>-<token>". Anything else starting "esc-" is
# still a reply attempt (a client that cut the address short), so it is refused, not answered.
_TAG = re.compile(r"esc-(\d{1,18})-([a-z0-9]{1,64})")

# Keywords a staff member may put alone on the first line of an answer.
RESOLVE = "resolve"  # send the answer to the customer and resolve the escalation
NOTE = "note"  # keep the text as an internal note; nothing goes to the customer
_KEYWORD = re.compile(r"#?\s*(resolve|note)\s*[:.!]?", re.IGNORECASE)
# The first line of every notification that can be answered: a mail client that quotes without
# marking the quote ("> ") still leaves this line, and nothing from it on is the answer.
ANSWER_MARKER = "##- Reply above this line to answer the customer -##"
_MARKER = re.compile(r"reply above this line", re.IGNORECASE)
_SIGNATURE = re.compile(r"--\s*")  # RFC 3676 4.3 "-- ", and "--" where a client ate the space


@dataclass(frozen=True)
class ReplyTag:
    """What a reply address names: an escalation (0 when unreadable) and the token it carries."""

    escalation_id: int
    token: str


@dataclass(frozen=True)
class StaffAnswer:
    """A staff member's answer: the keyword of its first line ("" for none) and the text."""

    keyword: str
    text: str


def make_token(secret: bytes, escalation_id: int) -> str:
    """The token for this escalation under this secret."""
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"the reply secret must be at least {MIN_SECRET_BYTES} bytes")
    mac = hmac.new(secret, PURPOSE + str(escalation_id).encode("ascii"), hashlib.sha256)
    return base64.b32encode(mac.digest()[:TOKEN_BYTES]).decode("ascii").lower()


def token_matches(secret: bytes, escalation_id: int, token: str) -> bool:
    """Whether `token` is the one this secret makes for this escalation (constant time)."""
    expected = make_token(secret, escalation_id).encode("ascii")
    return hmac.compare_digest(expected, token.strip().lower().encode("utf-8"))


def reply_address(base: str, separator: str, escalation_id: int, token: str) -> str:
    """`base` with the escalation's tag as its sub-address: local+esc-12-token@domain."""
    local, _, domain = base.rpartition("@")
    return f"{local}{separator}{TAG_PREFIX}{escalation_id}-{token}@{domain}"


def find_reply_tag(recipients: Iterable[str], base: str, separator: str) -> ReplyTag | None:
    """The tag of the first recipient that is `base` with an "esc-..." sub-address, or None.

    Only the sub-addresses of our own address count: a tag at another domain is no reply to
    us. A tag that does not read ("esc-12", "esc-x-y") is returned with escalation 0 or an
    empty token, so the caller refuses it instead of treating the mail as a customer's."""
    local, _, domain = base.lower().rpartition("@")
    prefix = f"{local}{separator}{TAG_PREFIX}"
    for address in recipients:
        a_local, _, a_domain = address.strip().lower().rpartition("@")
        if a_domain != domain or not a_local.startswith(prefix):
            continue
        tag = a_local[len(local) + len(separator) :]
        match = _TAG.fullmatch(tag)
        if match is None:
            number = re.match(r"esc-(\d{1,18})", tag)
            return ReplyTag(int(number.group(1)) if number else 0, "")
        return ReplyTag(int(match.group(1)), match.group(2))
    return None


def read_answer(text: str) -> StaffAnswer:
    """The answer in the new text of a staff member's mail (quotes already split off by the
    parser): up to the notification's marker line or a signature, the keyword line taken off."""
    lines: list[str] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if _MARKER.search(line) or _SIGNATURE.fullmatch(line):
            break
        lines.append(line)
    while lines and not lines[0].strip():
        lines.pop(0)
    keyword = ""
    if lines:
        match = _KEYWORD.fullmatch(lines[0].strip())
        if match is not None:
            keyword = match.group(1).lower()
            lines.pop(0)
    return StaffAnswer(keyword, "\n".join(lines).strip())
