"""The finance report's figures on orders with terms (issue 13): subscriptions per currency,
and the licenses that expire within the next 30 days, with whether finance must act.

Subscriptions are counted as they stand when the report is made (the store keeps an order's
current state, not its history); only `renewed` belongs to the report's period. The expiry
window starts on the day the report is made, whatever period it covers: it is a to-do list,
and a license that expired last month is no longer one (docs/contract.md, "Finance").

Every order with a paid term counts: a Stripe subscription in its state, and an offline order
with `expires` (no Stripe status) as active while its term runs and lapsed after.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from mailbot.core.license_format import day_number, day_of
from mailbot.core.model import License, Order, OrderStatus
from mailbot.core.terms import CANCEL_AT_PERIOD_END, ENDED_STATUSES, subscription_state
from mailbot.store import Store

EXPIRING_DAYS = 30  # licenses whose last valid day is today .. today + 30

# The states a subscription is counted in (store/renewals.py `_TERM_STATE`), and those of them
# that still give seats and bring money in this month.
TERM_STATES = ("active", "past_due", "cancel_at_period_end", "lapsed", "canceled")
IN_FORCE = ("active", "past_due", "cancel_at_period_end")

SUBSCRIPTION_FIELDS = (
    "currency",
    "subscriptions",
    *TERM_STATES,
    "seats",
    "renewed",
    "renewed_licenses",
    "monthly_recurring",
    "monthly_ending",
)

# What happens when an expiring license's last day comes, and whether finance must act first.
RENEWS = "renews"  # an active subscription: its next paid invoice renews it by mail
ENDS = "ends"  # cancelled, or set to cancel at the period end: the customer chose to leave
PAYMENT_DUE = "payment_due"  # the subscription's payment failed or it is unpaid
INVOICE_DUE = "invoice_due"  # an offline term: nobody renews it until its `expires` moves
FIXED_TERM = "fixed_term"  # no order term ([product] license_days, a manual grant)
NEEDS_ACTION = frozenset({PAYMENT_DUE, INVOICE_DUE})
OUTLOOK_TEXT = {
    RENEWS: "renews with the next paid invoice",
    ENDS: "ends: the subscription was cancelled",
    PAYMENT_DUE: "lapses unless the failed payment is collected",
    INVOICE_DUE: "lapses unless the order's expires is moved (an offline term)",
    FIXED_TERM: "ends: a fixed-term license, no renewal",
}


@dataclass(frozen=True)
class SubscriptionTotals:
    """Subscriptions in one currency; money in minor units, per month."""

    currency: str
    subscriptions: int = 0  # all orders with a paid term, in any state
    active: int = 0
    past_due: int = 0  # payment failed; still in the paid term or its grace
    cancel_at_period_end: int = 0  # running, will not renew
    lapsed: int = 0  # not cancelled, but gives no seats: unpaid, or term and grace over
    canceled: int = 0
    seats: int = 0  # of the subscriptions in force (active, past_due, cancel_at_period_end)
    renewed: int = 0  # renewals within the report's period (one per order and paid term)
    renewed_licenses: int = 0  # licenses re-signed by those renewals
    monthly_recurring: int = 0  # monthly_amount of the subscriptions in force
    monthly_ending: int = 0  # of which: subscriptions set to cancel at the period end


@dataclass(frozen=True)
class ExpiringLicense:
    """An active license whose last valid day is within the window."""

    license_no: int
    serial: str
    email: str
    order_id: str | None
    expires: str  # ISO day, the last day it is valid
    days_left: int  # 0: expires at the end of today
    subscription: str  # the order's state as on an order page ("" = no subscription)
    outlook: str  # RENEWS | ENDS | PAYMENT_DUE | INVOICE_DUE | FIXED_TERM
    needs_action: bool  # finance must act before the day comes (NEEDS_ACTION)


def outlook(order: Order | None) -> str:
    """What becomes of a license on this order when it expires (see the constants)."""
    if order is None or order.paid_until is None:
        return FIXED_TERM
    state = subscription_state(order.subscription, order.cancel_at_period_end)
    if order.subscription in ENDED_STATUSES or state == CANCEL_AT_PERIOD_END:
        return ENDS
    if not order.subscription:
        return INVOICE_DUE
    if order.status is not OrderStatus.PAID or order.subscription in ("past_due", "unpaid"):
        return PAYMENT_DUE
    return RENEWS


def expiring(
    licenses: Iterable[License], orders: Mapping[str, Order], today: date
) -> list[ExpiringLicense]:
    """The licenses given, as lines: those finance must act on first, then by expiry."""
    lines = []
    for lic in licenses:
        order = orders.get(lic.order_id) if lic.order_id else None
        ahead = outlook(order)
        last = day_of(lic.expires_day)
        lines.append(
            ExpiringLicense(
                license_no=lic.license_no,
                serial=lic.serial,
                email=lic.customer_email,
                order_id=lic.order_id,
                expires=last.isoformat(),
                days_left=(last - today).days,
                subscription=(
                    subscription_state(order.subscription, order.cancel_at_period_end)
                    if order
                    else ""
                ),
                outlook=ahead,
                needs_action=ahead in NEEDS_ACTION,
            )
        )
    lines.sort(key=lambda e: (not e.needs_action, e.expires, e.license_no))
    return lines


def subscription_totals(
    store: Store, start: date, end: date, today: date, grace_days: int
) -> list[SubscriptionTotals]:
    """Per currency: subscriptions by state now, seats and monthly revenue of those in force,
    and the renewals recorded within start .. end (days, inclusive)."""
    sums: dict[str, dict[str, int]] = {}

    def acc(currency: str) -> dict[str, int]:
        return sums.setdefault(currency, {f: 0 for f in SUBSCRIPTION_FIELDS[1:]})

    for count in store.term_counts(today - timedelta(days=grace_days)):
        row = acc(count.currency)
        row["subscriptions"] += count.orders
        row[count.state] += count.orders
        if count.state in IN_FORCE:
            row["seats"] += count.seats
            row["monthly_recurring"] += count.monthly_amount
        if count.state == "cancel_at_period_end":
            row["monthly_ending"] += count.monthly_amount
    lo = datetime.combine(start, time.min, tzinfo=UTC)
    hi = None if end >= date.max else datetime.combine(end + timedelta(days=1), time.min, UTC)
    for renewed in store.renewal_counts(lo, hi):
        row = acc(renewed.currency)
        row["renewed"] += renewed.renewals
        row["renewed_licenses"] += renewed.licenses
    return [SubscriptionTotals(currency, **values) for currency, values in sorted(sums.items())]


def expiring_window(today: date) -> tuple[date, date]:
    """The first and last day (inclusive) of the expiry window."""
    return today, today + timedelta(days=EXPIRING_DAYS)


def load_expiring(store: Store, orders: Mapping[str, Order], today: date) -> list[ExpiringLicense]:
    first, last = expiring_window(today)
    found = store.licenses_expiring(day_number(first), day_number(last))
    return expiring(found, orders, today)
