"""Licenses as staff screens look them up: a search, and one license with its history.

The CLI's `licenses list/show` and the console's license pages read these; the actions on a
license (resend, revoke, transfer, grant) are in `licenses.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from mailbot.core import serials
from mailbot.core.model import Order
from mailbot.core.terms import subscription_state
from mailbot.services.expiry import DatedLicense, dated, dated_all
from mailbot.services.licenses import require_license
from mailbot.store import Store
from mailbot.store.rows import AuditEntry, MessageRow


@dataclass(frozen=True)
class LicenseDetail:
    """One license with its order, the history of its seat and what people did to it."""

    license: DatedLicense  # with its expiry as of the day asked
    order: Order | None
    seat_history: list[DatedLicense]
    message: MessageRow | None
    history: list[AuditEntry]
    # The order's subscription as people read it (core/terms.py); "" = not a subscription.
    subscription_state: str = ""


def list_licenses(
    store: Store,
    *,
    email: str | None = None,
    order_id: str | None = None,
    serial: str | None = None,
    state: str | None = None,
    product_code: str = "AMC",
    today: date,
) -> list[DatedLicense]:
    """Licenses matching all given filters, oldest first; `email` may be "@domain"; each with
    its expiry and whether it is past on `today`."""
    if serial is not None:
        serial = serials.normalize(serial, product_code) or serial.strip().upper()
        if not serial:
            return []  # an empty serial names no license
    found = store.licenses(email=email, order_id=order_id, serial=serial, state=state)
    return dated_all(found, today)


def license_detail(store: Store, license_no: int, *, today: date) -> LicenseDetail:
    """One license, its expiry on `today`, its order (paid-until day and subscription state
    are on it), the licenses its seat has had and what people did to it."""
    lic = require_license(store, license_no)
    order = store.order(lic.order_id) if lic.order_id else None
    return LicenseDetail(
        license=dated(lic, today),
        order=order,
        seat_history=dated_all(store.seat_history(lic.seat_key), today),
        message=store.message(lic.message_row) if lic.message_row else None,
        history=store.audit_of_license(license_no),
        subscription_state=(
            subscription_state(order.subscription, order.cancel_at_period_end) if order else ""
        ),
    )
