"""Typed rows: a serial item's JSON is every field (the license number only when there is one),
and reads back as the same item."""

from __future__ import annotations

from dataclasses import asdict

from hypothesis import given
from hypothesis import strategies as st

from mailbot.store.rows import SerialItem

_text = st.text(max_size=12)
_maybe = st.none() | _text


@given(
    st.builds(
        SerialItem,
        serial=_text,
        as_found=st.text(min_size=1, max_size=12),  # "" reads back as the serial
        status=st.text(min_size=1, max_size=12),  # "" reads back as "ok"
        new=st.booleans(),
        action=_maybe,
        reason=_maybe,
        order_id=_maybe,
        old_serial=_maybe,
        license_no=st.none() | st.integers(min_value=1),
    )
)
def test_a_serial_item_as_json_is_every_field(item: SerialItem) -> None:
    expected = asdict(item)
    if item.license_no is None:
        del expected["license_no"]
    assert item.as_json() == expected
    assert SerialItem.of(item.as_json()) == item
