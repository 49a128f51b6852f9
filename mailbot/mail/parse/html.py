"""HTML bodies to plain text, with the quote elements of webmail and desktop clients set apart.

Many mails are HTML only, and some senders put the serial only in the HTML alternative (a table
the plain version flattened away), so HTML is converted, not skipped. The converter is the
standard library's `html.parser`, which is pure Python and, before Python 3.13.4, quadratic on
some unclosed constructs: the source is defused first, and the number of open elements and the
depth of quotes are capped, so hostile markup costs time in proportion to its size.
"""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser

from mailbot.mail.parse.charsets import tidy
from mailbot.mail.parse.quotes import is_forward_marker, starts_with_forward

_BLOCK_TAGS = frozenset(
    "p div br tr li ul ol table tbody thead tfoot caption h1 h2 h3 h4 h5 h6 blockquote pre hr "
    "dl dt dd section article header footer center address form fieldset main nav aside "
    "figure figcaption".split()
)
_CELL_TAGS = frozenset({"td", "th"})
_SKIP_TAGS = frozenset({"script", "style", "title", "template", "svg", "xml"})
_HEAD_TAGS = frozenset({"meta", "link", "base", "noscript", "object", "o:officedocumentsettings"})
_QUOTE_CLASSES = frozenset(
    {"gmail_quote", "gmail_quote_container", "yahoo_quoted", "protonmail_quote", "zmail_extra"}
)
_SPACES = re.compile(r"\s+")
_TAG = re.compile(r"<[^<>]*>")
# Hostile HTML (thousands of unclosed quote divs) must not make closing them quadratic.
_MAX_OPEN = 500
_MAX_QUOTE_DEPTH = 12


def _is_quote_element(tag: str, attrs: list[tuple[str, str | None]]) -> bool:
    values = {k.lower(): (v or "") for k, v in attrs}
    if tag == "blockquote" and values.get("type", "").lower() == "cite":
        return True  # Apple Mail, Thunderbird
    return bool(_QUOTE_CLASSES.intersection(values.get("class", "").split()))


class _Quote(str):
    """A chunk of converted HTML that belongs to a quote (kept in place until the end)."""


class _HtmlText(HTMLParser):
    """Visible text of an HTML body, with quote elements (Gmail, Apple, Yahoo) set apart.

    Table cells are separated by tabs and rows by newlines so a serial in a cell stays a word of
    its own. A quote element is decided when it closes: forwarded content (a forward marker at
    its start, or just before it as Apple Mail writes) goes back into the text, anything else
    into `quoted`. Inner quotes are decided first, so a forwarded mail keeps its own history
    quoted.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.buffers: list[list[str]] = [[]]  # plain str: text; _Quote: a decided quote
        self.open: list[tuple[str, bool]] = []  # div/blockquote elements: (tag, is_quote)
        self.skip = 0
        self.in_head = False
        self.pre = 0

    def _emit(self, text: str) -> None:
        self.buffers[-1].append(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Open an element: skip, break, cell separator or the start of a quote."""
        if tag in _SKIP_TAGS:
            self.skip += 1
            return
        if tag == "head":
            self.in_head = True
            return
        if tag == "body":
            self.in_head = False
            self.skip = 0
            return
        if self.in_head and tag not in _HEAD_TAGS:
            self.in_head = False  # body content without <body> (or without </head>)
        if tag == "pre":
            self.pre += 1
        if tag in _CELL_TAGS:
            self._emit("\t")
        elif tag in _BLOCK_TAGS:
            self._emit("\n")
        if tag in ("div", "blockquote") and len(self.open) < _MAX_OPEN:
            quote = len(self.buffers) < _MAX_QUOTE_DEPTH and _is_quote_element(tag, attrs)
            if quote:
                self.buffers.append([])
            self.open.append((tag, quote))

    def handle_endtag(self, tag: str) -> None:
        """Close an element, deciding the quotes it closes (unclosed inner ones included)."""
        if tag in _SKIP_TAGS:
            self.skip = max(0, self.skip - 1)
            return
        if tag == "head":
            self.in_head = False
            return
        if tag == "pre":
            self.pre = max(0, self.pre - 1)
        if tag in ("div", "blockquote"):
            for index in range(len(self.open) - 1, -1, -1):
                if self.open[index][0] == tag:
                    while len(self.open) > index:
                        _, quote = self.open.pop()
                        if quote:
                            self._close_quote()
                    break
        if tag in _CELL_TAGS:
            self._emit("\t")
        elif tag in _BLOCK_TAGS and tag not in ("br", "hr"):  # <br/> is one break, not two
            self._emit("\n")

    def handle_data(self, data: str) -> None:
        """Visible text, whitespace collapsed outside <pre>."""
        if self.skip or self.in_head:
            return
        self._emit(data if self.pre else _SPACES.sub(" ", data))

    def _close_quote(self) -> None:
        if len(self.buffers) < 2:
            return
        pieces = self.buffers.pop()
        own = tidy("".join(p for p in pieces if not isinstance(p, _Quote)))
        before = tidy(_tail(self.buffers[-1], 400))
        last_line = before.rsplit("\n", 1)[-1] if before else ""
        if starts_with_forward(own) or is_forward_marker(last_line):
            # Forwarded content is new text; quotes inside it stay quotes.
            self.buffers[-1].append("\n")
            self.buffers[-1].extend(pieces)
            self.buffers[-1].append("\n")
        else:
            whole = tidy("".join(pieces))
            if whole:
                self.buffers[-1].append(_Quote(whole))

    def finish(self) -> tuple[str, str]:
        """(new text, quoted text) once the whole document is fed; closes what is still open."""
        self.close()
        while self.open:
            _, quote = self.open.pop()
            if quote:
                self._close_quote()
        while len(self.buffers) > 1:
            self._close_quote()
        root = self.buffers[0]
        new = tidy("".join(p for p in root if not isinstance(p, _Quote)))
        return new, "\n\n".join(p for p in root if isinstance(p, _Quote))


def _tail(pieces: list[str], size: int) -> str:
    """The last `size` characters of a buffer without joining all of it (quadratic on big HTML)."""
    taken: list[str] = []
    total = 0
    for piece in reversed(pieces):
        if isinstance(piece, _Quote):
            continue
        taken.append(piece)
        total += len(piece)
        if total >= size:
            break
    return "".join(reversed(taken))[-size:]


def _cut_spans(html: str, start: str, end: str) -> str:
    """`html` without the start...end spans; an unclosed one runs to the end, as in browsers."""
    out: list[str] = []
    i = 0
    while True:
        j = html.find(start, i)
        if j < 0:
            out.append(html[i:])
            break
        out.append(html[i:j])
        k = html.find(end, j + len(start))
        if k < 0:
            break
        out.append(" ")
        i = k + len(end)
    return "".join(out)


def defuse(html: str) -> str:
    """HTML without the constructs that make html.parser quadratic (Python < 3.13.4 rescans the
    rest of the document for every unclosed comment, marked section or tag at its end): comments
    and <![...]> sections go (Outlook's conditional comments among them), and a "<" after the
    last ">" is text."""
    html = _cut_spans(_cut_spans(html, "<!--", "-->"), "<![", "]>")
    last = html.rfind(">")
    if html.find("<", last + 1) >= 0:
        html = html[: last + 1] + html[last + 1 :].replace("<", "&lt;")
    return html


def html_to_text(html: str) -> tuple[str, str]:
    """(visible new text, quoted text) of an HTML body."""
    try:
        converter = _HtmlText()
        converter.feed(defuse(html))
        return converter.finish()
    except Exception:  # noqa: BLE001 - html.parser is lenient, but stay safe: strip tags
        return tidy(unescape(_TAG.sub(" ", html))), ""
