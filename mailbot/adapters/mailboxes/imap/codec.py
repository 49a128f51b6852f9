"""Pure IMAP codecs: mail keys, UID sets, folder names and the reading of server answers.

Everything here works on values only (no socket, no clock, no logging), so the rules the IMAP
adapter relies on can be tested on plain bytes and strings:

- A mail's key is ``imap:<folder>:<uidvalidity>:<uid>``. A UID means nothing without the
  folder's UIDVALIDITY, so both are in the key; the folder comes first and may itself contain
  ":", which is why keys are split from the right.
- UIDs are sent to the server as compressed sets ("1:4,7,9:10"), split so no command line
  grows past what servers accept.
- Config writes folder hierarchy with "/"; the server may use another delimiter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mailbot.config import MailboxSettings
from mailbot.core.model import Outcome
from mailbot.mail.parse.headers import message_ids

KEYWORD = "$MailbotDone"  # with move = false, the keyword that marks a mail as done
SEEN = b"\\Seen"
DELETED = b"\\Deleted"
UID_SET_MAX_CHARS = 4000  # well below common command-line limits (Dovecot: 64 KiB)

# Outcomes filed in processed_folder; escalated and ignored mail have folders of their own.
PROCESSED_OUTCOMES = frozenset(
    {
        Outcome.ISSUED,
        Outcome.RESENT,
        Outcome.TRANSFERRED,
        Outcome.AWAITING_PAYMENT,
        Outcome.CLARIFY,
        Outcome.STAFF_REPLY,  # a colleague's answer, carried out
        Outcome.LISTED,  # a customer's own list of licenses, answered
        Outcome.RELEASED,  # a customer's own release, carried out
    }
)

_KEY_PREFIX = "imap:"


@dataclass(frozen=True)
class FolderInfo:
    """A folder the mailbox uses, as the doctor reports it."""

    role: str  # "inbox", "processed", "escalated", "ignored", "sent"
    name: str  # the server's name for it
    exists: bool


def mail_key(folder: str, uidvalidity: int, uid: int) -> str:
    """The key the worker stores for one mail: ``imap:<folder>:<uidvalidity>:<uid>``."""
    return f"{_KEY_PREFIX}{folder}:{uidvalidity}:{uid}"


def parse_mail_key(key: str) -> tuple[str, int, int] | None:
    """(folder, uidvalidity, uid) from a key; None for keys that are not ours."""
    if not key.startswith(_KEY_PREFIX):
        return None
    parts = key[len(_KEY_PREFIX) :].rsplit(":", 2)  # the folder itself may contain ":"
    if len(parts) != 3:
        return None
    folder, validity, uid = parts
    if not (validity.isdigit() and uid.isdigit()):
        return None
    return folder, int(validity), int(uid)


def uid_sets(uids: Iterable[int], max_chars: int = UID_SET_MAX_CHARS) -> list[str]:
    """Compress UIDs into IMAP sets ("1:4,7,9:10"), split so no set exceeds max_chars."""
    ordered = sorted(set(uids))
    ranges: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        ranges.append(str(ordered[i]) if i == j else f"{ordered[i]}:{ordered[j]}")
        i = j + 1
    sets: list[str] = []
    current: list[str] = []
    length = 0
    for part in ranges:
        if current and length + len(part) + 1 > max_chars:
            sets.append(",".join(current))
            current, length = [], 0
        current.append(part)
        length += len(part) + 1
    if current:
        sets.append(",".join(current))
    return sets


def target_folder(settings: MailboxSettings, outcome: Outcome) -> str:
    """The configured folder (config spelling) a mail with this outcome is filed in."""
    if outcome is Outcome.ESCALATED:
        return settings.escalated_folder
    if outcome is Outcome.IGNORED:
        return settings.ignored_folder
    if outcome in PROCESSED_OUTCOMES:
        return settings.processed_folder
    raise ValueError(f"no folder for outcome {outcome!r}")


def server_folder_name(configured: str, delimiter: str | None) -> str:
    """Config writes hierarchy with "/"; the server may use another delimiter."""
    if delimiter and delimiter != "/":
        return configured.replace("/", delimiter)
    return configured


MESSAGE_ID_FIELD = "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"
MESSAGE_ID_ANSWER = b"BODY[HEADER.FIELDS (MESSAGE-ID)]"
_MESSAGE_ID_LINE = re.compile(
    r"^message-id[ \t]*:(.*(?:\r?\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE
)


def _message_id(fields: Any) -> str:
    """The Message-ID, without angle brackets, from the answer to MESSAGE_ID_FIELD (the raw
    header line); "" when the mail has none.

    Read the same way as the mail's own parse reads it, so the two always agree. Asked as a
    header field rather than ENVELOPE: the server sends it as one literal, which the client
    library takes whole, where an ENVELOPE is parsed a token at a time (the slowest part of
    listing a large mailbox)."""
    if not isinstance(fields, bytes | bytearray) or not fields:
        return ""
    match = _MESSAGE_ID_LINE.search(bytes(fields).decode("utf-8", "replace"))
    if match is None:
        return ""
    ids = message_ids(match.group(1))
    return ids[0] if ids else ""


def _aware(value: Any) -> datetime | None:
    """An INTERNALDATE as an aware UTC datetime; None when the server sent none.

    A naive datetime is taken to be UTC, so every received_at compares with every other."""
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _said(exc: BaseException) -> str:
    """The server's words from an imaplib error, without Python's bytes repr around them."""
    text = str(exc)
    match = re.fullmatch(r"""b(['"])(.*)\1""", text, re.S)
    return match.group(2) if match else text


def _is_new_mail(response: Any) -> bool:
    """Is this untagged response an ``* <n> EXISTS`` (the folder has grown)?"""
    return isinstance(response, tuple) and len(response) >= 2 and response[1] == b"EXISTS"


def _is_bye(response: Any) -> bool:
    """Is this untagged response a ``* BYE`` (the server is closing the connection)?"""
    return (
        isinstance(response, tuple)
        and bool(response)
        and isinstance(response[0], bytes)
        and response[0].upper() == b"BYE"
    )
