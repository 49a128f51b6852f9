"""Raw mail bytes -> Inbound: moved to the package `mailbot.mail.parse`."""

# Temporary: removed when the package is rewired (issue 9).
from .mail.parse import (
    decode_bytes,
    decode_header_text,
    find_order_refs,
    html_to_text,
    is_reply_subject,
    parse_message,
    searchable,
    split_quotes,
)

__all__ = [
    "decode_bytes",
    "decode_header_text",
    "find_order_refs",
    "html_to_text",
    "is_reply_subject",
    "parse_message",
    "searchable",
    "split_quotes",
]
