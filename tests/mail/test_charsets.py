"""mailbot.mail.parse.charsets: bytes to text whatever the label says, scrubbing and tidying."""

from __future__ import annotations

import pytest

from mailbot.mail.parse.charsets import codec_for, decode_bytes, fix_8bit, scrub, tidy
from tests.mail.mails import S1, S2, load, normalized


def test_latin1_body_labelled_utf8_is_read_as_cp1252() -> None:
    inbound = load("latin1-labelled-utf8.eml")
    assert normalized(inbound.serials) == [S1]
    assert "numéro de série" in inbound.text and "Hélène Lefèvre" in inbound.text
    assert inbound.sender_name == "Hélène Lefèvre"
    assert inbound.subject == "Numéro de série"
    assert any("cp1252" in p for p in inbound.problems)


def test_unknown_charset_falls_back_without_raising() -> None:
    inbound = load("unknown-charset.eml")
    assert normalized(inbound.serials) == [S2]
    assert "Björn" in inbound.text
    assert any("x-foo" in p for p in inbound.problems)
    assert inbound.subject.startswith("Seriennummer f")


@pytest.mark.parametrize(
    ("data", "label", "expected"),
    [
        ("Grüße".encode(), "utf-8", "Grüße"),
        ("Grüße".encode("latin-1"), "utf-8", "Grüße"),
        ("Grüße".encode("latin-1"), "x-foo", "Grüße"),
        ("Grüße".encode(), "x-foo", "Grüße"),
        ("“quotes”".encode("cp1252"), "iso-8859-1", "“quotes”"),
        ("Grüße".encode("latin-1"), "us-ascii", "Grüße"),
        ("日本語".encode("cp932"), "shift_jis", "日本語"),
        ("Grüße".encode(), None, "Grüße"),
        ("Grüße".encode(), "iso-8859-1", "Grüße"),  # UTF-8 mislabelled as Latin-1
        ("Grüße".encode(), "us-ascii", "Grüße"),
        ("zażółć".encode("iso-8859-2"), "iso-8859-2", "zażółć"),
        ("中文".encode("gbk"), "gb2312", "中文"),
        (b"caf\xc3\xa9 with one bad byte \xff here and \xc3\xa9\xc3\xa9\xc3\xa9", "utf-8", None),
    ],
)
def test_decode_bytes_fallbacks(data: bytes, label: str | None, expected: str | None) -> None:
    text, _ = decode_bytes(data, label)
    if expected is None:
        assert text.startswith("café with one bad byte") and text.count("\ufffd") == 1
    else:
        assert text == expected


def test_decode_bytes_never_raises_on_odd_labels() -> None:
    odd = ("base64", "rot13", "zlib", "utf-16", "", "utf-8\x00", "../../etc", "unknown-8bit")
    for label in odd:
        text, _ = decode_bytes(b"plain \xff bytes", label)
        assert isinstance(text, str)


def test_codec_for_maps_labels_to_their_real_world_supersets() -> None:
    assert codec_for("ISO-8859-1") == "cp1252"
    assert codec_for(' "us-ascii" ') == "cp1252"
    assert codec_for("gb2312") == "gb18030"
    assert codec_for("utf8") == "utf-8"
    assert codec_for("x-foo") is None and codec_for(None) is None and codec_for("") is None


def test_fix_8bit_reads_surrogate_escaped_header_bytes() -> None:
    raw = "Grüße".encode().decode("ascii", errors="surrogateescape")
    assert fix_8bit(raw) == "Grüße"
    assert fix_8bit("plain") == "plain"


def test_scrub_and_tidy() -> None:
    assert scrub("a\udcffb\x00c") == "a?bc"
    assert tidy("  a \r\n\r\n\r\n\r\n b\xa0\n x \t  y\t\t z  ") == "a\n\nb\nx\ty\tz"
