"""Bytes to text that everything downstream can store: charset lookup, decoding, scrubbing.

Real mail lies about its charset: UTF-8 labelled iso-8859-1, Windows quotes labelled Latin-1,
labels nobody knows (x-foo, unknown-8bit), raw 8-bit bytes in headers. Text is decoded with a
fallback chain (declared charset, UTF-8, then cp1252 with replacement), so a wrong or unknown
label costs accents, never the mail. What comes out is scrubbed (no lone surrogates, no NULs)
and tidied (line ends and blank lines evened out) so SQLite, JSON and terminals take it as is.
"""

from __future__ import annotations

import codecs
import functools
import re

# Labels whose real-world content is routinely the larger superset (the WHATWG encoding spec
# maps them the same way): a mail labelled iso-8859-1 written on Windows holds cp1252 quotes.
_SUPERSETS = {
    "iso8859-1": "cp1252",
    "ascii": "cp1252",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "shift_jis": "cp932",
    "euc_kr": "cp949",
    "iso8859-9": "cp1254",
    "big5": "big5hkscs",
}


def codec_for(label: str | None) -> str | None:
    """The Python codec for a charset label, or None when unknown (x-foo, unknown-8bit)."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    try:
        name = codecs.lookup(label).name
    except (LookupError, ValueError, TypeError):
        return None
    return _SUPERSETS.get(name, name)


@functools.lru_cache(maxsize=64)
def _single_byte(codec: str) -> bool:
    """True for Latin-1-like codecs, where any bytes decode: the labels often put on UTF-8 text
    by mistake."""
    if codec.startswith("utf"):
        return False
    try:
        return len(bytes(range(256)).decode(codec, errors="replace")) == 256
    except Exception:  # noqa: BLE001 - a codec that cannot decode bytes at all
        return False


def decode_bytes(data: bytes, declared: str | None) -> tuple[str, str | None]:
    """Decode text whatever its label says. Returns (text, a problem note or None).

    Valid UTF-8 with non-ASCII in it is taken as UTF-8 when the label is a single-byte one or
    unknown: UTF-8 mislabelled as us-ascii or iso-8859-1 is common, Latin-1 text that happens to
    be valid UTF-8 is not. Multi-byte labels (Shift_JIS, GBK, ...) are trusted first.
    """
    codec = codec_for(declared)
    latin_like = codec is None or codec == "utf-8" or _single_byte(codec)
    if latin_like and data.isascii():
        return data.decode("ascii"), None
    label = declared or "undeclared"
    if latin_like:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            if codec == "utf-8" or not declared:
                return text, None
            return text, f"charset {label!r} read as UTF-8"
    if codec and codec != "utf-8":
        try:
            return data.decode(codec), None
        except Exception:  # noqa: BLE001 - UnicodeDecodeError, or a codec that cannot do bytes
            pass
    # UTF-8 with a stray broken byte stays UTF-8; Latin-1 text fails on nearly every accent,
    # so it decodes to (almost) no valid non-ASCII characters at all.
    text = data.decode("utf-8", errors="replace")
    broken = text.count("\ufffd")
    valid = sum(1 for ch in text if ch > "\x7f") - broken
    if valid >= 3 * broken:
        return text, f"charset {label}: damaged UTF-8, read with replacements"
    if codec and not latin_like:
        try:
            return data.decode(codec, errors="replace"), f"damaged {label} text"
        except Exception:  # noqa: BLE001
            pass
    return data.decode("cp1252", errors="replace"), f"charset {label} did not fit, read as cp1252"


_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")  # a raw byte the parser surrogate-escaped


def fix_8bit(value: str) -> str:
    """Header text carrying raw 8-bit bytes (surrogate-escaped by the parser) made readable."""
    if value.isascii() or not _ESCAPED_BYTE.search(value):
        return value
    data = value.encode("utf-8", errors="surrogateescape")
    return decode_bytes(data, None)[0]


def scrub(text: str) -> str:
    """No lone surrogates or NULs: everything downstream (SQLite, JSON, terminals) can store it."""
    return text.encode("utf-8", errors="replace").decode("utf-8").replace("\x00", "")


_BLANKS = re.compile(r"\n{3,}")


def tidy(text: str) -> str:
    """Lines stripped, table cells one tab apart, at most one blank line in a row."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\xa0", " ")
    lines = []
    for line in text.split("\n"):
        if "\t" in line:  # split, not a regex: " *\t" backtracks quadratically on long spaces
            line = "\t".join(cell for cell in (c.strip(" ") for c in line.split("\t")) if cell)
        lines.append(line.strip(" \t"))
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip("\n")
