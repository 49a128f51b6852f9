"""Whose seats a mail may use: the customer's paid orders pooled, and what is free on each. Pure.

The sender's own orders pool their seats, oldest order first. A mail that names an order uses
that order's customer instead, but only when the sender is that customer or of the same
organisation: an address at a shared mail provider (gmail.com, gmx.de...) proves nothing about
who you are, so only the order's own address may use it. When no seat is free, the pool says
why (no order, seats used up, unpaid, refunded, disputed).

Apart from `decide.py` because it is the one place seats are counted for a decision, and the
rule about naming someone else's order is the one that protects money.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mailbot.core.model import Facts, Inbound, LicenseState, Order, OrderStatus, Reason

# Addresses at these share a domain with millions of strangers: naming an order from one of them
# proves nothing about who you are, so only the order's own address may use it.
SHARED_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "msn.com",
        "yahoo.com",
        "yahoo.co.uk",
        "ymail.com",
        "aol.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "gmx.de",
        "gmx.net",
        "web.de",
        "t-online.de",
        "mail.ru",
        "yandex.ru",
        "proton.me",
        "protonmail.com",
        "zoho.com",
        "orange.fr",
        "free.fr",
        "libero.it",
        "qq.com",
        "163.com",
    }
)


@dataclass
class SeatPool:
    """The customer's orders whose seats pool together, and what is left on each."""

    email: str
    orders: list[Order]
    free: dict[str, int]  # order_id -> free seats (negative: over-used, e.g. after a refund)

    @property
    def total_free(self) -> int:
        return sum(self.free.values())

    def take_seat(self) -> str | None:
        if self.total_free <= 0:
            return None
        for order in self.orders:  # oldest first
            if self.free[order.order_id] > 0:
                self.free[order.order_id] -= 1
                return order.order_id
        return None

    def shortage_reason(self) -> Reason:
        statuses = {o.status for o in self.orders}
        if not self.orders:
            return Reason.NO_ORDER
        if OrderStatus.PAID in statuses:
            return Reason.SEATS_EXHAUSTED
        if OrderStatus.DISPUTED in statuses:
            return Reason.DISPUTED_ORDER
        if OrderStatus.REFUNDED in statuses:
            return Reason.REFUNDED_ORDER
        return Reason.UNPAID_ORDER


def same_organisation(a: str, b: str) -> bool:
    """The same address, or two at one domain that is not a shared mail provider."""
    domain = a.rpartition("@")[2]
    return a == b or (domain == b.rpartition("@")[2] and domain not in SHARED_DOMAINS)


def refers_to(order: Order, refs: Iterable[str]) -> bool:
    """Whether one of the references quoted in a mail names `order` (its id or an alias)."""
    names = {order.order_id.upper(), *(a.upper() for a in order.aliases)}
    return any(ref.upper() in names for ref in refs)


def customer_pool(inbound: Inbound, facts: Facts, why: list[str]) -> SeatPool | Reason:
    """Whose seats this mail may use: an order it names (if the sender may use it), else the
    orders under the sender's own address."""
    sender = inbound.sender
    email = sender
    named = [o for o in facts.orders if refers_to(o, inbound.order_refs)]
    if named:
        allowed = [o for o in named if same_organisation(o.email, sender)]
        if not allowed:
            why.append(
                f"the mail names order {named[0].order_id}, which belongs to another address"
            )
            return Reason.AMBIGUOUS_ORDER
        emails = {o.email for o in allowed}
        if len(emails) > 1:
            why.append(f"the mail names orders of several customers: {', '.join(sorted(emails))}")
            return Reason.AMBIGUOUS_ORDER
        email = emails.pop()
        why.append(f"the mail names order {allowed[0].order_id} of {email}")
    orders = sorted((o for o in facts.orders if o.email == email), key=lambda o: o.created)
    used: dict[str, int] = {}
    for lic in facts.customer_licenses:
        if lic.order_id and lic.state is LicenseState.ACTIVE:
            used[lic.order_id] = used.get(lic.order_id, 0) + 1
    free = {o.order_id: o.usable_seats - used.get(o.order_id, 0) for o in orders}
    pool = SeatPool(email, orders, free)
    if orders:
        why.append(
            f"{email} has {len(orders)} order(s), "
            f"{sum(o.usable_seats for o in orders)} paid seat(s), {pool.total_free} free"
        )
    else:
        why.append(f"no order found for {email}")
    return pool
