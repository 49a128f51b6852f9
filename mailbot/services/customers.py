"""One customer on one screen: orders with seats, licenses, mails, escalations, pay links."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from mailbot.services.expiry import DatedLicense, dated_all
from mailbot.store import Store
from mailbot.store.rows import EscalationRow, MessageRow, OrderUse, PendingPayment


@dataclass(frozen=True)
class Seats:
    """A customer's seats over all their orders."""

    bought: int
    usable: int
    in_use: int
    free: int

    @classmethod
    def of(cls, orders: Sequence[OrderUse]) -> Seats:
        paid = [o for o in orders if o.status == "paid"]
        usable = sum(max(0, o.seats - o.refunded_seats) for o in paid)
        in_use = sum(o.used for o in orders)
        return cls(
            bought=sum(o.seats for o in orders), usable=usable, in_use=in_use, free=usable - in_use
        )


@dataclass(frozen=True)
class CustomerView:
    """Everything known about one address."""

    email: str
    orders: list[OrderUse]
    seats: Seats
    licenses: list[DatedLicense]  # each with its expiry as of the day asked (services/expiry.py)
    messages: list[MessageRow]
    escalations: list[EscalationRow]
    pending_payments: list[PendingPayment]

    @property
    def known(self) -> bool:
        return bool(self.orders or self.licenses or self.messages or self.escalations)


def customer_overview(
    store: Store, email: str, *, today: date, exclude_message: int | None = None
) -> CustomerView:
    """One customer's story on `today` (which licenses are past their expiry). Counts only this
    customer's licenses: it runs inside the worker's transaction when a notification is
    written, so it must not scan every license. Orders carry their paid-until day and
    subscription state (`OrderUse`)."""
    email = (email or "").strip().lower()
    if not email:
        return CustomerView("", [], Seats(0, 0, 0, 0), [], [], [], [])
    orders = store.order_uses(email)
    return CustomerView(
        email=email,
        orders=orders,
        seats=Seats.of(orders),
        licenses=dated_all(store.licenses(email=email), today),
        messages=store.messages(sender=email, exclude=exclude_message),
        escalations=store.escalations(sender=email),
        pending_payments=store.pending_payments_of(email),
    )
