"""The one place a license is made: signed, stored, logged. The bot, staff actions and pay-link
fulfilment all issue through `issue_license`, so every path meets the same unique index (one
active license per serial) and the same log line."""

from __future__ import annotations

import logging
from datetime import datetime

from mailbot.core.license_format import day_number, short
from mailbot.core.model import License
from mailbot.services import events
from mailbot.services.ports import Signer
from mailbot.store import Store

log = logging.getLogger("mailbot.issuing")


def issue_license(
    store: Store,
    signer: Signer,
    *,
    serial: str,
    email: str,
    order_id: str | None,
    now: datetime,
    message_row: int | None,
    seat_key: int | None = None,
    granted_by: str = "",
    grant_reason: str = "",
) -> License:
    """Sign and store a license for `serial`, in the caller's transaction, and report it
    (`license.issued`); a license on a seat it takes over (`seat_key`, a transfer) is reported
    by its transfer instead. Raises Conflict when the serial already has an active license.

    A license on an order with a paid term (a subscription) expires with the term plus the
    grace days; other licenses by `[product] license_days` (core/terms.py). A new license on
    an order whose customer released a seat by mail takes over that seat (its `seat_key`), so
    the move counts against the per-seat transfer limit (store/releases.py)."""
    no = store.next_license_no()
    transfer = seat_key is not None
    if seat_key is None and order_id is not None:
        seat_key = store.take_released_seat(order_id, no)
    order = store.order(order_id) if order_id else None
    paid_until = order.paid_until if order is not None else None
    issued = now.date()
    expires = signer.expiry(issued, paid_until)
    lic = License(
        license_no=no,
        serial=serial,
        customer_email=email,
        order_id=order_id,
        seat_key=seat_key or no,
        issued_at=now,
        license_string=signer.sign(serial, no, issued, paid_until),
        key_id=signer.key_id,
        expires_day=day_number(expires) if expires else 0,
        message_row=message_row,
        granted_by=granted_by,
        grant_reason=grant_reason,
    )
    store.add_license(lic)
    if not transfer:  # a seat taken over from a release is still a new license
        events.license_issued(store, lic, now)
    log.info(
        "license issued",
        extra={"license_no": no, "serial": serial, "license": short(lic.license_string)},
    )
    return lic
