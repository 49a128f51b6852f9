"""Raw mail bytes -> Inbound. Pure, and it never raises.

Real mail is messy: broken MIME, lying charset labels, HTML-only bodies, replies quoting our own
earlier mail, forwards, bounces carrying the original, and the occasional multi-megabyte monster.
Every one of them must come out as an Inbound so the worker can record an outcome and move on;
whatever went wrong on the way is written into `problems` for staff. Work is capped (decoded
text, HTML source, header length, MIME parts and nesting, raw size), so hostile mail costs
bounded time.

The modules, from the bottom up (each imports only those above it):
- `charsets`: bytes to text whatever the label says; scrubbing and tidying text.
- `headers`: header values decoded (RFC 2047), addresses, Message-IDs, dates.
- `quotes`: new text versus quoted history in plain text; reply and forward subjects.
- `html`: HTML bodies to text, quote elements set apart.
- `refs`: text as the serial finder reads it; order references.
- `parts`: MIME part accessors that never raise.
- `mime`: the walk over the MIME tree, with its budgets.
- `message`: `parse_message()`, assembling the Inbound.
"""

from mailbot.mail.parse.charsets import decode_bytes
from mailbot.mail.parse.headers import decode_header_text
from mailbot.mail.parse.html import html_to_text
from mailbot.mail.parse.message import parse_message
from mailbot.mail.parse.quotes import is_reply_subject, split_quotes
from mailbot.mail.parse.refs import find_order_refs, searchable

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
