"""The boundary matcher answers exactly as the feed parser's own compiled pattern would, for
any boundary and any line; other patterns are compiled as they always were; and a mail parses
the same with it as without it."""

from __future__ import annotations

import email.feedparser
import re
from email import policy
from email.parser import BytesParser
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from mailbot.mail.parse import boundaries
from mailbot.mail.parse.boundaries import BoundaryMatcher, separator_of

CORPUS = Path(__file__).parent.parent / "data" / "corpus"


def _pattern(separator: str) -> str:
    """The feed parser's boundary pattern, as it builds it."""
    return (
        "(?P<sep>" + re.escape(separator) + r")(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$"
    )


_boundary = st.text(
    st.characters(min_codepoint=32, max_codepoint=126) | st.sampled_from("é\\"), max_size=70
)
_tail = st.lists(
    st.sampled_from(["--", "-", " ", "\t", "\r\n", "\n", "\r", "x", "--\r\n", "\\", "$"]),
    max_size=6,
).map("".join)


@given(_boundary, _tail, st.booleans())
def test_the_matcher_answers_as_the_compiled_pattern(boundary: str, tail: str, cut: bool) -> None:
    separator = "--" + boundary
    line = separator[:-1] + tail if cut and separator else separator + tail
    assert separator_of(_pattern(separator)) == separator
    real = re.compile(_pattern(separator)).match(line)
    ours = BoundaryMatcher(separator).match(line)
    assert (real is None) == (ours is None)
    if real is not None and ours is not None:
        for group in ("end", "ws", "linesep"):
            assert ours.group(group) == real.group(group)


def test_other_patterns_are_compiled_as_ever() -> None:
    boundaries.install()
    feed_re = email.feedparser.re  # type: ignore[attr-defined]
    for pattern in [r"(\r\n|\r|\n)\Z", "(?P<sep>a)", _pattern("--x") + "x", "(?P<sep>[)"]:
        if pattern == "(?P<sep>[)":
            assert separator_of(pattern) is None
            continue
        assert separator_of(pattern) is None
        assert isinstance(feed_re.compile(pattern), re.Pattern)
    assert isinstance(feed_re.compile(_pattern("--b1")), BoundaryMatcher)
    assert feed_re.escape("a.b") == re.escape("a.b")


def test_real_mail_parses_the_same_with_the_matcher() -> None:
    """Every mail of the corpus (real clients' mail, the torture test, broken MIME): the same
    tree, payloads and defects with the matcher as with the compiled patterns."""
    mails = sorted(CORPUS.rglob("*.eml"))
    assert len(mails) > 20

    def parsed(raw: bytes) -> list[tuple[object, ...]]:
        tree = BytesParser(policy=policy.compat32).parsebytes(raw)
        return [
            (
                part.get_content_type(),
                None if part.is_multipart() else part.get_payload(),
                part.preamble,
                part.epilogue,
                [type(d) for d in part.defects],
            )
            for part in tree.walk()
        ]

    saved = email.feedparser.re  # type: ignore[attr-defined]
    try:
        email.feedparser.re = re  # type: ignore[attr-defined]
        before = [parsed(path.read_bytes()) for path in mails]
        boundaries.install()
        after = [parsed(path.read_bytes()) for path in mails]
    finally:
        email.feedparser.re = saved  # type: ignore[attr-defined]
    assert after == before
