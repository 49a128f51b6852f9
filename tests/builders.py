"""Small builders for pipeline values, so each test states only what matters to it."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

from mailbot.core.model import (
    AuthResult,
    Facts,
    Inbound,
    License,
    LicenseState,
    Order,
    OrderStatus,
)
from mailbot.core.serials import ALPHABET, SerialFinding, SerialStatus, check_symbol, format_serial

T0 = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
_rng = random.Random(1234)


def new_serial(rng: random.Random = _rng) -> str:
    payload = "".join(rng.choice(ALPHABET) for _ in range(15))
    return format_serial(payload + check_symbol(payload))


def mistyped(serial: str) -> str:
    last = serial[-1]
    return serial[:-1] + ("0" if last != "0" else "1")


def finding(serial: str, status: SerialStatus = SerialStatus.OK) -> SerialFinding:
    return SerialFinding(serial, serial, status)


def inbound(
    sender: str = "alice@northwind.example",
    serials: tuple[str | SerialFinding, ...] = (),
    **overrides: Any,
) -> Inbound:
    found = tuple(s if isinstance(s, SerialFinding) else finding(s) for s in serials)
    values: dict[str, Any] = dict(
        message_id=f"m{_rng.randrange(10**9)}@test",
        sender=sender,
        sender_name="",
        reply_to="",
        return_path=sender,
        to=("support@amphis.example",),
        subject="license",
        date=T0,
        in_reply_to="",
        references=(),
        headers={},
        content_type="text/plain",
        report_type="",
        text=" ".join(f.as_found for f in found),
        quoted_text="",
        serials=found,
        quoted_serials=(),
        order_refs=(),
        attachments=(),
        bounced_message_ids=(),
        auth=AuthResult(),
        size=100,
    )
    values.update(overrides)
    return Inbound(**values)


def order(
    order_id: str = "ORD-1",
    email: str = "alice@northwind.example",
    seats: int = 1,
    status: OrderStatus = OrderStatus.PAID,
    **overrides: Any,
) -> Order:
    return Order(
        order_id=order_id,
        email=email,
        name="",
        seats=seats,
        status=status,
        created=overrides.pop("created", T0),
        **overrides,
    )


def license_(
    serial: str,
    no: int = 1,
    email: str = "alice@northwind.example",
    order_id: str | None = "ORD-1",
    state: LicenseState = LicenseState.ACTIVE,
    seat_key: int | None = None,
) -> License:
    return License(
        license_no=no,
        serial=serial,
        customer_email=email,
        order_id=order_id,
        seat_key=seat_key or no,
        issued_at=T0,
        license_string=f"AMC1-FAKE{no}",
        state=state,
    )


def facts(
    orders: tuple[Order, ...] = (), licenses: tuple[License, ...] = (), **overrides: Any
) -> Facts:
    values: dict[str, Any] = dict(
        orders=orders,
        licenses={lic.serial: lic for lic in licenses},
        customer_licenses=tuple(lic for lic in licenses if lic.state is LicenseState.ACTIVE),
        transfers_in_window={},
        previous_mistyped=0,
        replies_last_hour=0,
    )
    values.update(overrides)
    return Facts(**values)
