"""A mail's HTML body made safe to look at: an allow-list of tags and attributes, nothing else.

The console shows an HTML mail in a sandboxed frame with a CSP of its own (no script, no
remote anything); this is the second wall. It keeps layout (tables, paragraphs, lists,
emphasis, inline style without url()) and drops everything that acts or fetches: scripts,
styles sheets, forms, frames, objects, event attributes, remote images and link targets. Links
keep their text and lose their href, so nothing in the frame navigates anywhere. The source is
the HTML part the parser reads (same structure parser, same caps, `defuse` first).
"""

from __future__ import annotations

import re
from email.message import Message
from html import escape
from html.parser import HTMLParser

from mailbot.mail.parse.charsets import decode_bytes, scrub
from mailbot.mail.parse.html import defuse
from mailbot.mail.parse.message import _bounded, _structure
from mailbot.mail.parse.mime import MAX_HTML_CHARS, MAX_PARTS

_KEEP = frozenset(
    "a abbr b big blockquote br caption center code dd div dl dt em font h1 h2 h3 h4 h5 h6 hr "
    "i img li ol p pre s small span strike strong sub sup table tbody td tfoot th thead tr tt u "
    "ul".split()
)
_VOID = frozenset({"br", "hr", "img"})
# Their content is not text a person should see, nor anything safe to keep.
_DROP_WITH_CONTENT = frozenset(
    "script style title head template svg math xml iframe frame frameset object embed applet "
    "noscript noframes textarea select option button audio video canvas".split()
)
_ATTRS = frozenset(
    "align valign width height colspan rowspan border cellpadding cellspacing bgcolor color "
    "face size alt title style start type".split()
)
# Inline style may lay out, never fetch or run: no url(), no expression(), no @import, no
# escapes that could spell them.
_BAD_STYLE = re.compile(r"url\s*\(|expression|@import|javascript|behavior|-moz-binding|\\", re.I)
_DATA_IMAGE = re.compile(r"data:image/(png|gif|jpeg|webp);base64,[a-z0-9+/=\s]+\Z", re.I)
_MAX_OPEN = 500


class _Sanitizer(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.open: list[str] = []
        self.dropping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROP_WITH_CONTENT:
            if tag not in _VOID:
                self.dropping += 1
            return
        if self.dropping or tag not in _KEEP:
            return
        kept = []
        for name, value in attrs:
            value = value or ""
            if name == "src" and tag == "img" and _DATA_IMAGE.match(value.strip()):
                kept.append((name, value.strip()))
            elif name in _ATTRS and not (name == "style" and _BAD_STYLE.search(value)):
                kept.append((name, value))
        if tag == "img" and not any(n == "src" for n, _ in kept):
            alt = next((v for n, v in attrs if n == "alt" and v), "")
            self.out.append(escape(f"[image{': ' + alt if alt else ''} (not loaded)]"))
            return
        self.out.append(
            f"<{tag}" + "".join(f' {n}="{escape(v, quote=True)}"' for n, v in kept) + ">"
        )
        if tag not in _VOID and len(self.open) < _MAX_OPEN:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROP_WITH_CONTENT:
            return
        self.handle_starttag(tag, attrs)
        if tag not in _VOID and self.open and self.open[-1] == tag:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROP_WITH_CONTENT:
            self.dropping = max(0, self.dropping - 1)
            return
        if self.dropping or tag not in self.open:
            return
        while self.open:  # close what the mail left open inside it
            inner = self.open.pop()
            self.out.append(f"</{inner}>")
            if inner == tag:
                break

    def handle_data(self, data: str) -> None:
        if not self.dropping:
            self.out.append(escape(data, quote=False))

    def result(self) -> str:
        self.close()
        self.out.extend(f"</{tag}>" for tag in reversed(self.open))
        return "".join(self.out)


def sanitize_html(html: str) -> str:
    """HTML with only the allowed tags and attributes, every text escaped again."""
    sanitizer = _Sanitizer()
    try:
        sanitizer.feed(defuse(html[:MAX_HTML_CHARS]))
        return sanitizer.result()
    except Exception:  # noqa: BLE001 - html.parser is lenient; if it ever fails, show nothing
        return ""


def _is_attachment(part: Message) -> bool:
    try:
        return str(part.get("Content-Disposition", "")).lower().startswith("attachment")
    except Exception:  # noqa: BLE001
        return True


def html_body(raw: bytes) -> str | None:
    """The first HTML body of a mail (not an attachment), decoded; None when it has none."""
    problems: list[str] = []
    msg = _structure(_bounded(raw, problems), problems)
    for index, part in enumerate(msg.walk()):
        if index >= MAX_PARTS:
            return None
        if part.get_content_type() != "text/html" or _is_attachment(part):
            continue
        try:
            data = part.get_payload(decode=True)
            charset = part.get_content_charset()
        except Exception:  # noqa: BLE001
            continue
        if not isinstance(data, bytes):
            continue
        text, _ = decode_bytes(data[: MAX_HTML_CHARS * 4], charset)
        return scrub(text)[:MAX_HTML_CHARS]
    return None
