"""mailbot.mail.parse.refs: text as the serial finder reads it, order references."""

from __future__ import annotations

from mailbot.mail.parse import find_order_refs, parse_message, searchable
from tests.mail.mails import S5, mail, normalized


def test_order_refs() -> None:
    text = (
        "Paid via cs_live_a1B2c3D4e5F6g7H8i9J0 (pi_3MtwBwLkdIwHu7ix28a3tqPa,"
        " ch_3MtwBwLkdIwHu7ix2ZzZ) receipt number 1939-3215, see #2024-0001 and our order"
        " ord-55x1 / ORD-2024-17. py_1AbCdEfGhIjK"
    )
    refs = find_order_refs(text)
    assert refs == (
        "cs_live_a1B2c3D4e5F6g7H8i9J0",
        "pi_3MtwBwLkdIwHu7ix28a3tqPa",
        "ch_3MtwBwLkdIwHu7ix2ZzZ",
        "py_1AbCdEfGhIjK",
        "1939-3215",
        "2024-0001",
        "ORD-55X1",
        "ORD-2024-17",
    )
    assert find_order_refs("xpi_123456789 words") == ()


def test_lookalike_characters_are_read() -> None:
    fancy = S5.replace("-", "\u2011")  # non-breaking hyphens from a word processor
    inbound = parse_message(mail(f"serial: {fancy}\u200b"))
    assert normalized(inbound.serials) == [S5]


def test_searchable_undoes_lookalikes() -> None:
    assert searchable("AMC\u2011ＡＢＣＤ\u00ad-1\u200b2") == "AMC-ABCD-12"
