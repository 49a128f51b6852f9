"""Live lookups: one sender's orders, or the order behind one quoted id, asked of Stripe now.

The worker asks before it escalates `no_order`, so a customer who paid a minute ago gets their
license without waiting for the next sync. Each lookup is a few API calls and must stay that
way: an exact search first (Checkout Sessions by email, Customers by email), a bounded scan of
the newest pages only when that finds nothing. Apart from `source.py` (lists and events, which
read everything) because these read as little as possible, for one mail at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mailbot.adapters.orders.stripe.fetch import Convert, OrderFetcher
from mailbot.adapters.orders.stripe.mapping import (
    INTENTS_PATH,
    PAGE_SIZE,
    PI_LIST_EXPAND,
    SESSION_LIST_EXPAND,
    SESSIONS_PATH,
    mentions_email,
    object_id,
)
from mailbot.core.model import Order


class OrderLookup:
    """Lookups for one sender or one id, through the facade's `OrderFetcher`.

    `lookup_scan_pages` bounds the fallback scan (pages of 100, newest first);
    `payment_intent_orders=False` leaves PaymentIntents out (an account with no custom checkout).
    """

    def __init__(
        self, fetch: OrderFetcher, *, lookup_scan_pages: int, payment_intent_orders: bool
    ) -> None:
        self._fetch = fetch
        self._scan_pages = max(0, lookup_scan_pages)
        self._pi_orders = payment_intent_orders

    def by_email(self, email: str) -> list[Order]:
        """One sender's orders, asked of Stripe now (before escalating no_order).

        Costs 2-4 requests when Stripe knows the address as typed:
        1. Checkout Sessions filtered by `customer_details[email]` (exact match on Stripe's side);
        2. Customers with that email (`customers.list(email=)`, also exact), then each one's
           sessions and PaymentIntents (custom checkouts with a customer).
        Only when both find nothing: a bounded scan of the newest `lookup_scan_pages` pages
        (100 each) of sessions and PaymentIntents, comparing case-insensitively, which also
        finds an address typed with capitals and a PaymentIntent that carries the email only in
        receipt_email or metadata. Older purchases under a differently-cased address are left
        to the full re-list: scanning everything on every unknown sender would make each
        stranger's mail cost the whole account's history in API calls.
        """
        wanted = email.strip().lower()
        if not wanted:
            return []
        found: dict[str, Order] = {}

        def keep(order: Order | None) -> None:
            if order is not None and order.email == wanted:
                found[order.order_id] = order

        fetch = self._fetch
        checkout = fetch.checkout_enabled()
        variants = [wanted] if email.strip() == wanted else [email.strip(), wanted]
        for address in variants:
            if checkout:
                page = fetch.page(
                    "list Checkout Sessions by email",
                    SESSIONS_PATH,
                    {
                        "customer_details": {"email": address},
                        "status": "complete",
                        "expand": SESSION_LIST_EXPAND,
                        "limit": PAGE_SIZE,
                    },
                )
                for session in page.get("data") or []:
                    keep(fetch.session_to_order(session))
            if not (checkout or self._pi_orders):
                continue
            customers = fetch.page(
                "list customers by email", "/v1/customers", {"email": address, "limit": 10}
            )
            for customer in customers.get("data") or []:
                for order in self._customer_orders(object_id(customer), checkout):
                    found[order.order_id] = order  # the customer is the sender
        if found or self._scan_pages <= 0:
            return list(found.values())

        scans: list[tuple[str, str, dict[str, Any], Convert]] = []
        if checkout:
            scans.append(
                (
                    "scan recent Checkout Sessions",
                    SESSIONS_PATH,
                    {"status": "complete", "expand": SESSION_LIST_EXPAND},
                    fetch.session_to_order,
                )
            )
        if self._pi_orders:
            scans.append(
                (
                    "scan recent PaymentIntents",
                    INTENTS_PATH,
                    {"expand": PI_LIST_EXPAND},
                    fetch.pi_to_order,
                )
            )
        for what, path, params, convert in scans:
            for n, (objects, _) in enumerate(fetch.pages(what, path, params)):
                for obj in objects:
                    if mentions_email(obj, wanted):
                        keep(convert(obj))
                if n + 1 >= self._scan_pages:
                    break
        return list(found.values())

    def _customer_orders(self, customer_id: str, checkout: bool) -> Iterator[Order]:
        """A Stripe Customer's Checkout Sessions and custom-checkout PaymentIntents as orders."""
        fetch = self._fetch
        if checkout:
            page = fetch.page(
                "list Checkout Sessions by customer",
                SESSIONS_PATH,
                {
                    "customer": customer_id,
                    "status": "complete",
                    "expand": SESSION_LIST_EXPAND,
                    "limit": PAGE_SIZE,
                },
            )
            for session in page.get("data") or []:
                order = fetch.session_to_order(session)
                if order is not None:
                    yield order
        if self._pi_orders:
            page = fetch.page(
                "list PaymentIntents by customer",
                INTENTS_PATH,
                {"customer": customer_id, "expand": PI_LIST_EXPAND, "limit": PAGE_SIZE},
            )
            for pi in page.get("data") or []:
                order = fetch.pi_to_order(pi)
                if order is not None:
                    yield order

    def by_reference(self, ref: str) -> Order | None:
        """The order a quoted Checkout Session, PaymentIntent or charge id belongs to."""
        ref = ref.strip()
        if ref.startswith("cs_") and self._fetch.checkout_enabled():
            return self._fetch.session(ref)
        if ref.startswith("pi_"):
            orders = self._fetch.payment_intent(ref, find_session=True)
            return orders[0] if orders else None
        if ref.startswith(("ch_", "py_")):
            pi_id = self._fetch.charge_payment_intent(ref)
            if pi_id:
                orders = self._fetch.payment_intent(pi_id, find_session=True)
                return orders[0] if orders else None
        return None
