"""The reply-by-mail token and address, and reading a staff member's answer: pure functions."""

from __future__ import annotations

import hmac

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.core import reply_by_mail as rbm
from mailbot.core.reply_by_mail import (
    ANSWER_MARKER,
    ReplyTag,
    StaffAnswer,
    find_reply_tag,
    make_token,
    read_answer,
    reply_address,
    token_matches,
)

SECRET = bytes(range(32))
BASE = "support@amphis.example"


def test_a_token_verifies_for_its_escalation_only() -> None:
    token = make_token(SECRET, 12)
    assert len(token) == 16 and token == token.lower() and token.isalnum()
    assert token_matches(SECRET, 12, token)
    assert token_matches(SECRET, 12, token.upper())  # mail systems may fold the case
    assert not token_matches(SECRET, 13, token)  # another escalation
    assert not token_matches(bytes(32), 12, token)  # another secret (a replaced one)
    assert not token_matches(SECRET, 12, "")
    assert not token_matches(SECRET, 12, token[:-1])


# No deadline: a loaded machine (suites side by side) is no failure of the token.
@settings(deadline=None)
@given(st.integers(min_value=0, max_value=15), st.sampled_from("abcdefghijklmnopqrstuvwxyz234567"))
def test_any_changed_symbol_fails(position: int, symbol: str) -> None:
    token = make_token(SECRET, 7)
    tampered = token[:position] + symbol + token[position + 1 :]
    assert token_matches(SECRET, 7, tampered) == (tampered == token)


def test_the_token_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(rbm.hmac, "compare_digest", spy)
    assert not token_matches(SECRET, 3, "a" * 16)
    assert calls and calls[0][1] == b"a" * 16


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="at least"):
        make_token(b"short", 1)


def test_the_reply_address_is_a_sub_address_of_the_base() -> None:
    token = make_token(SECRET, 12)
    address = reply_address(BASE, "+", 12, token)
    assert address == f"support+esc-12-{token}@amphis.example"
    assert find_reply_tag([address], BASE, "+") == ReplyTag(12, token)
    dashed = reply_address(BASE, "-", 12, token)
    assert find_reply_tag(["someone@else.example", dashed.upper()], BASE, "-") == ReplyTag(
        12, token
    )


def test_only_our_own_sub_addresses_are_tags() -> None:
    token = make_token(SECRET, 12)
    assert find_reply_tag([f"support+esc-12-{token}@other.example"], BASE, "+") is None
    assert find_reply_tag([f"sales+esc-12-{token}@amphis.example"], BASE, "+") is None
    assert find_reply_tag(["support+orders@amphis.example", BASE], BASE, "+") is None
    assert find_reply_tag([], BASE, "+") is None


def test_a_tag_that_does_not_read_is_still_a_reply_attempt() -> None:
    # Refused by the service rather than answered as a customer's mail.
    assert find_reply_tag(["support+esc-12@amphis.example"], BASE, "+") == ReplyTag(12, "")
    assert find_reply_tag(["support+esc-x-abc@amphis.example"], BASE, "+") == ReplyTag(0, "")


def test_the_answer_loses_its_keyword_line_signature_and_what_follows_the_marker() -> None:
    text = "\n\nResolve:\nHello Sam,\n\nit is done.\n-- \nMaria\n"
    assert read_answer(text) == StaffAnswer("resolve", "Hello Sam,\n\nit is done.")
    assert read_answer("note\nreseller?") == StaffAnswer("note", "reseller?")
    assert read_answer("#NOTE\nreseller?") == StaffAnswer("note", "reseller?")
    assert read_answer(f"Thanks!\n{ANSWER_MARKER}\nThe mail:\n  secret") == StaffAnswer(
        "", "Thanks!"
    )
    assert read_answer("Thanks!\n--\nsig") == StaffAnswer("", "Thanks!")
    assert read_answer("resolve") == StaffAnswer("resolve", "")


def test_a_keyword_must_stand_alone_on_the_first_line() -> None:
    # "Note: ..." in a sentence is an answer to the customer, not an internal note.
    assert read_answer("Note: the key is below.\nAMC1-...") == StaffAnswer(
        "", "Note: the key is below.\nAMC1-..."
    )
    assert read_answer("Hello\nresolve") == StaffAnswer("", "Hello\nresolve")
