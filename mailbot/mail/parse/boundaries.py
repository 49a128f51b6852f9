"""Matching MIME boundaries without compiling a regular expression for each one.

The standard library's `email.feedparser` compiles a regular expression for every multipart
boundary it meets: `(?P<sep>--BOUNDARY)(?P<end>--)?(?P<ws>[ \\t]*)(?P<linesep>\\r\\n|\\r|\\n)?$`
with the boundary escaped into it. Boundaries are random, so Python's cache of compiled
patterns never helps, and compiling one costs about 250 microseconds on a 2-core machine: a
tenth of what parsing a typical mail costs (more for one with nested parts).

`install` gives the feed parser, through the one name it looks the module up by
(`email.feedparser.re`), the `re` module with a `compile` that recognises exactly that pattern
and returns a matcher doing the same job as the compiled pattern would: the boundary as a
plain prefix of the line, then the one fixed tail, compiled once. Every other pattern, and any
boundary pattern whose literal cannot be read back exactly, goes to `re.compile` unchanged.
The matcher's `match(line)` answers as the pattern's would, with the groups the feed parser
reads (`end`, `ws`, `linesep`); tests/mail/test_boundaries.py holds the two to the same
answers. Nothing else in the process uses this parser's `re`.
"""

from __future__ import annotations

import email.feedparser
import re
from types import ModuleType
from typing import Any

_HEAD = "(?P<sep>"
_TAIL_PATTERN = r"(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$"
_TAIL_AFTER_SEP = ")" + _TAIL_PATTERN
_TAIL = re.compile(_TAIL_PATTERN)
_ESCAPED = re.compile(r"\\(.)", re.DOTALL)


class BoundaryMatcher:
    """What `re.compile(boundary pattern)` would give the feed parser, for one boundary."""

    def __init__(self, separator: str) -> None:
        self.separator = separator

    def match(self, line: str) -> re.Match[str] | None:
        if not line.startswith(self.separator):
            return None
        return _TAIL.match(line, len(self.separator))


def separator_of(pattern: str) -> str | None:
    """The boundary line's literal start ("--" + boundary) when PATTERN is the feed parser's
    boundary pattern, else None."""
    if not (pattern.startswith(_HEAD) and pattern.endswith(_TAIL_AFTER_SEP)):
        return None
    escaped = pattern[len(_HEAD) : -len(_TAIL_AFTER_SEP)]
    literal = _ESCAPED.sub(r"\1", escaped)
    return literal if re.escape(literal) == escaped else None


class _FeedParserRe(ModuleType):
    """The `re` module as the feed parser sees it."""

    def __init__(self) -> None:
        super().__init__("re")

    def __getattr__(self, name: str) -> Any:
        return getattr(re, name)

    @staticmethod
    def compile(pattern: Any, flags: int = 0) -> Any:
        if isinstance(pattern, str) and not flags:
            separator = separator_of(pattern)
            if separator is not None:
                return BoundaryMatcher(separator)
        return re.compile(pattern, flags)


def install() -> None:
    """Give the feed parser the boundary matcher (once per process; idempotent)."""
    # By name: the module's `re` is not part of its typed interface.
    if not isinstance(getattr(email.feedparser, "re", None), _FeedParserRe):
        setattr(email.feedparser, "re", _FeedParserRe())  # noqa: B010
