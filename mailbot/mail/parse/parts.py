"""Reading a MIME part without its exceptions: payload, raw header values, parameters, names.

`email.message.Message` raises on broken input in places one would not expect (a NUL in a
charset label, a malformed RFC 2231 parameter), and compat32 hands out `Header` objects instead
of strings for 8-bit values. These accessors return plain strings or nothing, never raise.
"""

from __future__ import annotations

from email.message import Message

from mailbot.mail.parse.headers import decode_header_text

MAX_NAME = 200  # attachment file names


def safe_payload(part: Message) -> object:
    """get_payload() without its exceptions (a NUL in the charset label raises ValueError)."""
    try:
        return part.get_payload()
    except Exception:  # noqa: BLE001
        return None


def raw_values(part: Message, name: str) -> list[str]:
    """A header's values as the raw strings (compat32's get() hands out Header objects for
    8-bit values, which are not strings)."""
    name = name.lower()
    try:
        return [str(v).strip() for k, v in part.raw_items() if str(k).lower() == name]
    except Exception:  # noqa: BLE001
        return []


def param(part: Message, name: str, lower: bool = True) -> str:
    """A Content-Type parameter as a plain string ("" when absent or unreadable)."""
    try:
        value = part.get_param(name)
    except Exception:  # noqa: BLE001
        return ""
    if isinstance(value, tuple):  # RFC 2231 (charset, language, value)
        value = value[-1]
    text = str(value or "").strip().strip('"')
    return text.lower() if lower else text


def filename(part: Message) -> str:
    """An attachment's file name, decoded and cut to MAX_NAME ("" when it has none)."""
    try:
        name = part.get_filename() or part.get_param("name") or ""
    except Exception:  # noqa: BLE001
        return ""
    if isinstance(name, tuple):  # RFC 2231 leftovers
        name = name[-1]
    name = decode_header_text("subject", str(name))
    return name.replace("\n", " ").strip()[:MAX_NAME]
