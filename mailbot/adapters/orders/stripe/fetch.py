"""Fetching the pieces of an order: which Stripe objects to ask for, then `mapping` on them.

`OrderFetcher` sits between the facade (`source.py`, which walks lists, events and lookups)
and the HTTP seam (`http.py`). It knows how one order is read: a session's line items past
the expanded handful, a disputed charge's disputes, the Checkout Session behind a
PaymentIntent, the PaymentIntent behind a charge, and how a list page is walked.

Why a module of its own: these reads are shared by the re-list, the event sync and the live
lookups, and each one is a cost in API calls; keeping them together keeps that cost visible.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import quote

from mailbot.adapters.orders.stripe.http import (
    ExpandRefused,
    NotFound,
    StripeApi,
    StripeUnavailable,
)
from mailbot.adapters.orders.stripe.mapping import (
    PAGE_SIZE,
    PI_EXPAND,
    SESSION_EXPAND,
    SESSION_LIST_EXPAND,
    SESSIONS_PATH,
    SUBSCRIPTION_EXPAND,
    expanded,
    invoice_subscription,
    licensed_items,
    metadata_seats,
    object_id,
    payment_intent_order,
    session_order,
    subscription_order,
    without_line_items,
)
from mailbot.core.model import Order

log = logging.getLogger(__name__)

# Turns one listed object (a session or a PaymentIntent) into an Order, or None.
Convert = Callable[[Mapping[str, Any]], Order | None]


class OrderFetcher:
    """Reads orders from Stripe one object at a time, through one `StripeApi`.

    `price_ids`/`product_ids` say which Checkout line items are licensed; `page_size` below
    Stripe's maximum of 100 only makes sense in tests of pagination.
    """

    def __init__(
        self,
        api: StripeApi,
        *,
        price_ids: Iterable[str],
        product_ids: Iterable[str],
        page_size: int = PAGE_SIZE,
    ) -> None:
        self.api = api
        self.price_ids = tuple(price_ids)
        self.product_ids = tuple(product_ids)
        self.page_size = min(PAGE_SIZE, max(1, page_size))
        self._expand_list_line_items = True

    def checkout_enabled(self) -> bool:
        """Whether Checkout Sessions can hold orders at all (a price or product configured)."""
        # Without a configured price or product no session can hold a licensed line item,
        # so listing sessions would cost calls and never yield an order.
        return bool(self.price_ids or self.product_ids)

    # ---- lists -------------------------------------------------------------------------

    def page(self, what: str, path: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """One page of a list endpoint, as plain JSON (see `StripeApi.list_page`)."""
        if path == SESSIONS_PATH and not self._expand_list_line_items:
            params = without_line_items(params)
        try:
            return self.api.list_page(what, path, params)
        except ExpandRefused as exc:
            if path != SESSIONS_PATH or not self._expand_list_line_items:
                raise StripeUnavailable(f"Stripe rejected {what}: {exc}", permanent=True) from exc
        # Stripe documents line_items as includable on a list of sessions; should it ever
        # refuse, each session's items come from /line_items instead (one call per session).
        log.warning(
            "Stripe refused expand=data.line_items on a session list; "
            "reading line items per session"
        )
        self._expand_list_line_items = False
        return self.page(what, path, params)

    def pages(
        self, what: str, path: str, params: Mapping[str, Any], after: str | None = None
    ) -> Iterator[tuple[list[dict[str, Any]], str | None]]:
        """Walk a list endpoint page by page: (objects, id to resume after or None at the end).

        Manual pagination rather than the library's auto_paging_iter: each page goes through
        the seam's retries, and the caller gets the cursor to persist."""
        while True:
            page_params = dict(params, limit=self.page_size)
            if after:
                page_params["starting_after"] = after
            page = self.page(what, path, page_params)
            data = list(page.get("data") or [])
            more = bool(page.get("has_more")) and bool(data)
            after = object_id(data[-1]) if more else None
            yield data, after
            if not more:
                return

    # ---- the pieces of one order -------------------------------------------------------

    def all_line_items(self, session: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The session's line items: the expanded first handful, then the rest if any."""
        embedded = session.get("line_items")
        if isinstance(embedded, Mapping):
            items = list(embedded.get("data") or [])
            if not embedded.get("has_more"):
                return items
            after: str | None = object_id(items[-1]) if items else None
        else:
            items, after = [], None
        path = f"{SESSIONS_PATH}/{quote(str(session['id']), safe='')}/line_items"
        for page, _ in self.pages("list line items", path, {}, after):
            items.extend(page)
        return items

    def disputes(self, charge: Mapping[str, Any] | None) -> list[dict[str, Any]] | None:
        """A disputed charge's disputes (one extra call, only for disputed charges)."""
        if not charge or not charge.get("disputed"):
            return None
        try:
            page = self.page(
                "list disputes", "/v1/disputes", {"charge": object_id(charge), "limit": 10}
            )
        except NotFound:
            return None
        return list(page.get("data") or [])

    def session_to_order(self, session: Mapping[str, Any]) -> Order | None:
        """A listed or retrieved Checkout Session as an Order (fetching what it lacks)."""
        if session.get("mode") == "subscription" and session.get("status") == "complete":
            # The order is the subscription (one id for every period); the session brings
            # its customer details and pay-link reference.
            return self.subscription(object_id(session.get("subscription")), session=session)
        if session.get("mode") != "payment" or session.get("status") != "complete":
            return None
        items = self.all_line_items(session)
        if licensed_items(items, self.price_ids, self.product_ids)[0] <= 0:
            return None
        pi = expanded(session.get("payment_intent"))
        charge = expanded(pi.get("latest_charge")) if pi else None
        return session_order(
            session, items, self.price_ids, self.product_ids, self.disputes(charge)
        )

    def pi_to_order(self, pi: Mapping[str, Any]) -> Order | None:
        """A listed or retrieved PaymentIntent as an Order (fetching disputes if disputed)."""
        metadata = pi.get("metadata") or {}
        if metadata_seats(metadata) <= 0:
            if metadata.get("seats") not in (None, ""):
                log.warning(
                    "PaymentIntent %s: metadata.seats is not a seat count; not an order",
                    object_id(pi),
                )
            return None
        if pi.get("status") != "succeeded":
            return None
        return payment_intent_order(pi, self.disputes(expanded(pi.get("latest_charge"))))

    def subscription_to_order(
        self, sub: Mapping[str, Any], session: Mapping[str, Any] | None = None
    ) -> Order | None:
        """A listed or retrieved Subscription as an Order (None: nothing licensed in it)."""
        return subscription_order(sub, self.price_ids, self.product_ids, session=session)

    # ---- one order by id ---------------------------------------------------------------

    def subscription(self, sub_id: str, session: Mapping[str, Any] | None = None) -> Order | None:
        """The order of one Subscription id; None when there is none or it is not ours."""
        if not sub_id:
            return None
        try:
            sub = self.api.retrieve_subscription(sub_id, SUBSCRIPTION_EXPAND)
        except NotFound:
            return None
        return self.subscription_to_order(sub, session)

    def session(self, session_id: str) -> Order | None:
        """The order of one Checkout Session id; None when there is none or it is not ours."""
        try:
            session = self.api.retrieve_session(session_id, SESSION_EXPAND)
        except NotFound:
            return None
        return self.session_to_order(session)

    def sessions_of_payment_intent(self, pi_id: str) -> list[dict[str, Any]] | None:
        """The Checkout Session(s) that created this PaymentIntent; None without Checkout."""
        if not self.checkout_enabled():
            return None
        page = self.page(
            "list Checkout Sessions by PaymentIntent",
            SESSIONS_PATH,
            {"payment_intent": pi_id, "expand": SESSION_LIST_EXPAND, "limit": 10},
        )
        return list(page.get("data") or [])

    def payment_intent(self, pi_id: str, *, find_session: bool) -> list[Order]:
        """The order(s) a PaymentIntent belongs to.

        `find_session`: the PaymentIntent may be a Checkout Session's (a refund or dispute
        event names only the charge): ask for its session first. Without it (a
        payment_intent.succeeded event) only a custom-checkout PaymentIntent counts, as a
        Checkout purchase gets its own checkout.session.completed event.
        """
        if find_session:
            sessions = self.sessions_of_payment_intent(pi_id)
            if sessions:
                found = [self.session_to_order(s) for s in sessions]
                return [o for o in found if o is not None]
        try:
            pi = self.api.retrieve_payment_intent(pi_id, PI_EXPAND)
        except NotFound:
            return []
        order = self.pi_to_order(pi)
        return [order] if order else []

    def charge_payment_intent(self, charge_id: str) -> str:
        """The PaymentIntent id of a charge; "" when the charge does not exist or has none."""
        try:
            charge = self.api.retrieve_charge(charge_id)
        except NotFound:
            return ""
        return object_id(charge.get("payment_intent"))

    def orders_for_events(self, events: Iterable[Mapping[str, Any]]) -> list[Order]:
        """The current orders behind these events, each object fetched again (not the payload).

        A Checkout Session named by an event covers its PaymentIntent: a refund event on the
        same payment does not fetch it twice.
        """
        sessions: list[str] = []
        intents: dict[str, bool] = {}  # pi id -> look for its Checkout Session first
        subscriptions: list[str] = []
        for event in events:
            kind = str(event.get("type") or "")
            obj = (event.get("data") or {}).get("object") or {}
            sub_id = ""
            if kind.startswith("customer.subscription."):
                sub_id = object_id(obj)
            elif kind.startswith("invoice."):
                sub_id = invoice_subscription(obj)
            if sub_id:
                if sub_id not in subscriptions:
                    subscriptions.append(sub_id)
            elif kind.startswith("checkout.session."):
                if object_id(obj) and object_id(obj) not in sessions:
                    sessions.append(object_id(obj))
            elif kind == "payment_intent.succeeded":
                if object_id(obj):
                    intents.setdefault(object_id(obj), False)
            elif kind == "charge.refunded" or kind.startswith("charge.dispute."):
                # Ids do not change, so naming the object from the payload is safe; its state
                # is what we do not take from the payload.
                pi_id = object_id(obj.get("payment_intent"))
                if not pi_id:
                    charge = obj if kind == "charge.refunded" else obj.get("charge")
                    charge_id = object_id(charge)
                    pi_id = self.charge_payment_intent(charge_id) if charge_id else ""
                if pi_id:
                    intents[pi_id] = True
        found: dict[str, Order] = {}
        covered: set[str] = set()
        for session_id in sessions:
            order = self.session(session_id)
            if order is not None:
                found[order.order_id] = order
                covered.update(a for a in order.aliases if a.startswith("pi_"))
        for pi_id, find_session in intents.items():
            if pi_id in covered:
                continue
            for order in self.payment_intent(pi_id, find_session=find_session):
                found[order.order_id] = order
        for sub_id in subscriptions:
            if sub_id in found:
                continue  # its Checkout Session's event brought it already
            sub_order = self.subscription(sub_id)
            if sub_order is not None:
                found[sub_order.order_id] = sub_order
        return list(found.values())
