"""Orders with terms (subscriptions, CSV rows with `expires`): when their licenses expire and
whether the order still gives seats (docs/contract.md, "Orders with terms").

A license on an order with a paid term expires `grace_days` after the term's last day; on an
order without one it follows `[product] license_days` (0: perpetual). An order whose term plus
grace is over gives no seats: its licenses lapse on their own, nothing is revoked.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from mailbot.core.model import Order, OrderStatus


def license_expiry(
    issued: date, *, paid_until: date | None, grace_days: int, license_days: int = 0
) -> date | None:
    """The last day a license issued on `issued` is valid; None: perpetual."""
    if paid_until is not None:
        return paid_until + timedelta(days=grace_days)
    if license_days:
        return issued + timedelta(days=license_days)
    return None


def term_lapsed(order: Order, today: date, grace_days: int) -> bool:
    """Whether the order's paid term, grace included, ended before `today`."""
    if order.paid_until is None:
        return False
    return order.paid_until + timedelta(days=grace_days) < today


def in_force(order: Order, today: date, grace_days: int) -> Order:
    """The order as seats go today: a lapsed term counts as unpaid (no new licenses on it)."""
    if order.status is OrderStatus.PAID and term_lapsed(order, today, grace_days):
        return replace(order, status=OrderStatus.UNPAID)
    return order


# A subscription's state as people read it. Stripe's own status, except that one still running
# but set to end ("cancel at period end") says so: it will not renew, which is what staff and
# finance need to know about it. A failing payment (past_due) outranks the planned end.
CANCEL_AT_PERIOD_END = "cancel at period end"
ENDED_STATUSES = frozenset({"canceled", "incomplete_expired"})


def subscription_state(subscription: str, cancel_at_period_end: bool) -> str:
    """ "" (not a subscription), Stripe's status, or "cancel at period end"."""
    if not subscription:
        return ""
    if cancel_at_period_end and subscription in ("active", "trialing"):
        return CANCEL_AT_PERIOD_END
    return subscription


def expired(expires: date | None, today: date) -> bool:
    """Whether a license valid through `expires` (None: perpetual) is past it on `today`."""
    return expires is not None and expires < today
