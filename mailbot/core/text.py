"""Text a stranger wrote, made inert for a terminal or a log line."""

from __future__ import annotations

import re

# C0 controls but tab and newline, DEL, C1 controls, and the Unicode controls that reorder or
# hide text (bidi embeddings, overrides and isolates, the byte-order mark).
_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]"
)


def _shown(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str) -> str:
    """Control characters shown as \\x1b, \\u202e, ...: nothing in it can move a cursor,
    recolour a terminal or reorder a line."""
    return _UNSAFE.sub(_shown, text)
