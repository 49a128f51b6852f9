"""The webhook signature and the retry waits (pure core)."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from mailbot.core.events import retry_after, signature_header, signature_valid

SECRET = b"whsec-unit"


@given(body=st.binary(max_size=200), stamp=st.integers(min_value=0, max_value=2**33))
def test_a_signature_verifies_for_its_body_and_time_only(body: bytes, stamp: int) -> None:
    header = signature_header(SECRET, stamp, body)
    assert signature_valid(SECRET, header, body, stamp)
    assert signature_valid(SECRET, header, body, stamp + 300)
    assert not signature_valid(SECRET, header, body, stamp + 301)
    assert not signature_valid(SECRET, header, body + b"x", stamp)
    assert not signature_valid(b"other", header, body, stamp)
    # The time is signed: moving it breaks the signature.
    moved = header.replace(f"t={stamp},", f"t={stamp + 1},")
    assert not signature_valid(SECRET, moved, body, stamp)


def test_malformed_headers_never_verify() -> None:
    for header in ("", "v1=abc", "t=,v1=abc", "t=12,t=12,v1=abc", "t=-5,v1=00", "garbage"):
        assert not signature_valid(SECRET, header, b"{}", 12)


def test_waits_double_from_a_minute_up_to_an_hour() -> None:
    waits = [retry_after(n) for n in range(1, 10)]
    assert waits[:4] == [timedelta(minutes=m) for m in (1, 2, 4, 8)]
    assert waits[-1] == timedelta(hours=1)
    assert retry_after(10_000) == timedelta(hours=1)
