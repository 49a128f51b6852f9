"""`StripeOrders`: orders from one Stripe account, the facade the rest of mailbot uses.

It walks what Stripe lists (a resumable full re-list, the Events API for incremental sync; the
live lookups for one sender or one quoted id are `lookup.py`) and hands every object to
`fetch.OrderFetcher`, which reads the rest of the order and maps it with the pure functions of
`mapping.py`. Every call goes through `http.StripeApi`; everything public returns
`mailbot.core.model.Order`, strings, or the exceptions of `http.py`.

API calls are the cost that matters (Stripe rate-limits at ~25-100 requests/s and a sync of
10,000 sessions must stay cheap), so lists are read 100 at a time with the line items and the
PaymentIntent's charge expanded inline: a full re-list costs about one request per 100 sessions
plus one per 100 PaymentIntents.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from datetime import datetime
from typing import Any

import stripe

from mailbot.adapters.orders.stripe import http
from mailbot.adapters.orders.stripe.fetch import Convert, OrderFetcher
from mailbot.adapters.orders.stripe.http import NotFound, StripeApi
from mailbot.adapters.orders.stripe.lookup import OrderLookup
from mailbot.adapters.orders.stripe.mapping import (
    EVENT_TYPES,
    INTENTS_PATH,
    PAGE_SIZE,
    PI_LIST_EXPAND,
    SESSION_LIST_EXPAND,
    SESSIONS_PATH,
    SUBSCRIPTION_LIST_EXPAND,
    SUBSCRIPTIONS_PATH,
    decode_cursor,
    encode_cursor,
    object_id,
)
from mailbot.config import OrdersSettings
from mailbot.core.model import Order
from mailbot.services.ports import Check


class StripeOrders:
    """Orders from one Stripe account (the `OrderSource` for `[orders] kind = "stripe"`).

    Public API:
      backfill(cursor)        -> Iterator[(orders of one page, cursor to resume after it)]
      all_orders(progress)    -> Iterator[Order]      a full re-list
      events_since(cursor)    -> (orders, new cursor) incremental sync from the Events API
      orders_for_event(id)    -> orders               one event (e.g. named by a webhook)
      lookup_email(email)     -> orders               live lookup for one sender
      lookup_reference(ref)   -> Order | None         cs_/pi_/ch_ id quoted in a mail
      verify_webhook(payload, sig_header, secret) -> event id
      initial_cursor(now)     -> an events cursor starting at `now`
      count_calls             HTTP requests made so far (retries included)
      check_access()          one read-only call to prove the key and server
      close()
    Every method may raise StripeUnavailable.
    """

    def __init__(
        self,
        settings: OrdersSettings,
        *,
        api_key: str,
        client: stripe.StripeClient | None = None,
        max_retries: int = 3,
        retry_delay: float = 0.5,
        max_retry_delay: float = 8.0,
        timeout: float = 30.0,
        overlap_seconds: int = 300,
        lookup_scan_pages: int = 1,
        payment_intent_orders: bool = True,
        page_size: int = PAGE_SIZE,
        checkout_sessions: bool = True,
    ) -> None:
        """`settings.api_base` (tests only) points the client at a local Stripe-compatible
        server. `max_retries` applies both to the library's own retries (network errors, 409,
        5xx) and to ours for 429; delays grow from `retry_delay` to `max_retry_delay` seconds.
        `overlap_seconds` is how far back each incremental sync re-reads events that may have
        become visible late. `payment_intent_orders=False` skips listing PaymentIntents in a
        full re-list (an account with no custom checkout: half the API calls);
        `checkout_sessions=False` skips listing Checkout Sessions (subscriptions made through
        the API or the Billing portal only). `page_size`
        below Stripe's maximum of 100 only makes sense in tests of pagination."""
        self._overlap = max(0, int(overlap_seconds))
        self._pi_orders = payment_intent_orders
        self._subscriptions = settings.subscriptions
        self._sessions = checkout_sessions
        self._api = StripeApi(
            api_key=api_key,
            api_base=settings.api_base,
            client=client,
            max_retries=max_retries,
            retry_delay=retry_delay,
            max_retry_delay=max_retry_delay,
            timeout=timeout,
        )
        self._fetch = OrderFetcher(
            self._api,
            price_ids=settings.price_ids,
            product_ids=settings.product_ids,
            page_size=page_size,
        )
        self._lookup = OrderLookup(
            self._fetch,
            lookup_scan_pages=lookup_scan_pages,
            payment_intent_orders=payment_intent_orders,
        )

    # ---- bookkeeping -------------------------------------------------------------------

    @property
    def count_calls(self) -> int:
        """HTTP requests made so far, retries included. With an injected client (whose HTTP
        layer we do not see) this counts our calls into the library instead."""
        return self._api.count_calls

    def close(self) -> None:
        """Close the connection pools (only those this object created)."""
        self._api.close()

    def __enter__(self) -> StripeOrders:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def is_local(self) -> bool:
        return False

    def version(self) -> str:
        return ""  # kept current by events, not by re-reading

    @property
    def problems(self) -> list[str]:
        return []

    def checks(self) -> list[Check]:
        """One read-only call with the configured key."""
        try:
            self.check_access()
        except http.StripeUnavailable as exc:
            return [Check("orders", False, str(exc))]
        return [Check("orders", True, "Stripe answers a read-only call with this key")]

    def check_access(self) -> None:
        """One read-only call (a single Checkout Session, or PaymentIntent when Checkout is
        not used): raises StripeUnavailable when the key or the server is not right."""
        path = SESSIONS_PATH if self._fetch.checkout_enabled() else INTENTS_PATH
        self._fetch.page("check access", path, {"limit": 1})

    # ---- full re-list ------------------------------------------------------------------

    def backfill(
        self, cursor: str | None = None
    ) -> Generator[tuple[list[Order], str | None], None, None]:
        """Re-list every order, one page at a time, resumable after a crash.

        Yields (orders found on one page, cursor): persist the cursor after storing the page's
        orders, and pass it back to resume after that page. The last cursor yielded is None:
        the re-list is complete (start the next one from None). Pages are newest first;
        objects created while it runs land before the cursor and are caught by events_since.
        A generator, so a caller that stops early (a time budget) can close() it.
        """
        state = decode_cursor(cursor, "backfill") or {"kind": "backfill", "phase": "sessions"}
        phases = []
        if self._sessions and self._fetch.checkout_enabled():
            phases.append("sessions")
        if self._pi_orders:
            phases.append("payment_intents")
        if self._subscriptions and self._fetch.checkout_enabled():
            # After the sessions: a subscription listed here overwrites what its session
            # said with the subscription's current period, seats and status.
            phases.append("subscriptions")
        if state.get("phase") in phases:
            phases = phases[phases.index(state["phase"]) :]
            after = state.get("after")
        else:
            after = None
        for n, phase in enumerate(phases):
            last_phase = n == len(phases) - 1
            if phase == "sessions":
                pages = self._fetch.pages(
                    "list Checkout Sessions",
                    SESSIONS_PATH,
                    {"status": "complete", "expand": SESSION_LIST_EXPAND},
                    after,
                )
                convert: Convert = self._fetch.session_to_order
            elif phase == "subscriptions":
                pages = self._fetch.pages(
                    "list Subscriptions",
                    SUBSCRIPTIONS_PATH,
                    {"status": "all", "expand": SUBSCRIPTION_LIST_EXPAND},
                    after,
                )
                convert = self._fetch.subscription_to_order
            else:
                pages = self._fetch.pages(
                    "list PaymentIntents",
                    INTENTS_PATH,
                    {"expand": PI_LIST_EXPAND},
                    after,
                )
                convert = self._fetch.pi_to_order
            for objects, next_after in pages:
                orders = [o for o in map(convert, objects) if o is not None]
                if next_after is not None:
                    resume: str | None = encode_cursor(
                        {"kind": "backfill", "phase": phase, "after": next_after}
                    )
                elif not last_phase:
                    resume = encode_cursor(
                        {"kind": "backfill", "phase": phases[n + 1], "after": None}
                    )
                else:
                    resume = None
                yield orders, resume
            after = None
        if not phases:
            yield [], None

    def all_orders(self, progress: Callable[[int], None] | None = None) -> Iterator[Order]:
        """Every order (a full re-list). `progress` gets the count of orders so far per page."""
        count = 0
        for orders, _ in self.backfill(None):
            count += len(orders)
            yield from orders
            if progress is not None:
                progress(count)

    # ---- incremental sync --------------------------------------------------------------

    @staticmethod
    def initial_cursor(now: datetime) -> str:
        """An events cursor starting at `now`: take it just before a full re-list, so that
        events_since() picks up whatever changes while the re-list runs."""
        return encode_cursor({"kind": "events", "t": int(now.timestamp()), "seen": {}})

    def _list_events(self, since: int | None) -> list[dict[str, Any]]:
        types = [
            t
            for t in EVENT_TYPES
            if self._subscriptions or not t.startswith(("customer.subscription.", "invoice."))
        ]
        params: dict[str, Any] = {"types": types}
        if since is not None:
            params["created"] = {"gte": since}
        events: list[dict[str, Any]] = []
        for page, _ in self._fetch.pages("list events", "/v1/events", params):
            events.extend(page)
        return events

    def events_since(self, cursor: str | None) -> tuple[list[Order], str]:
        """Orders changed since `cursor`; returns them and the new cursor to persist.

        Start from initial_cursor(now) taken just before the first full re-list. None replays
        every event Stripe still keeps (30 days), one fetch per object named: correct, but
        costly on a busy account.

        Re-reads the last `overlap_seconds` before the cursor each time, because Stripe may
        make an event visible after newer ones; events already seen are skipped by id (they
        come twice: once per overlapping read, and sometimes twice in one listing). Each event
        only names the object: the object itself is fetched again now, so the order returned
        is its current state whatever order the events came in. On StripeUnavailable nothing
        is returned and the old cursor stays valid: the next call redoes the work.
        """
        state = decode_cursor(cursor, "events")
        since_t: int | None = int(state["t"]) if state else None
        seen: dict[str, int] = {str(k): int(v) for k, v in (state or {}).get("seen", {}).items()}
        events = self._list_events(None if since_t is None else since_t - self._overlap)

        fresh: dict[str, dict[str, Any]] = {}
        for event in events:
            event_id = object_id(event)
            if event_id and event_id not in seen and event_id not in fresh:
                fresh[event_id] = event
        ordered = sorted(fresh.values(), key=lambda e: (int(e.get("created") or 0), object_id(e)))
        orders = self._fetch.orders_for_events(ordered)

        newest = max([since_t or 0] + [int(e.get("created") or 0) for e in events])
        for event in events:
            seen[object_id(event)] = int(event.get("created") or 0)
        horizon = newest - self._overlap
        seen = {k: v for k, v in seen.items() if v >= horizon}
        return orders, encode_cursor({"kind": "events", "t": newest, "seen": seen})

    def orders_for_event(self, event_id: str) -> list[Order]:
        """The current orders behind one event (a webhook names it; its payload is not
        trusted, the event is fetched from Stripe and its object fetched again)."""
        try:
            event = self._api.retrieve_event(event_id)
        except NotFound:
            return []
        return self._fetch.orders_for_events([event])

    # ---- live lookups ------------------------------------------------------------------

    def lookup_email(self, email: str) -> list[Order]:
        """One sender's orders, asked of Stripe now (before escalating no_order); 2-4 requests
        when Stripe knows the address as typed (`lookup.OrderLookup.by_email` says how)."""
        return self._lookup.by_email(email)

    def lookup_reference(self, ref: str) -> Order | None:
        """The order a quoted Checkout Session, PaymentIntent or charge id belongs to."""
        return self._lookup.by_reference(ref)

    # ---- webhooks ----------------------------------------------------------------------

    @staticmethod
    def verify_webhook(
        payload: bytes, sig_header: str, secret: str, *, tolerance: int = 300
    ) -> str:
        """Verify a webhook's Stripe-Signature with the library; return the event id.

        Only the id is taken from the body: pass it to orders_for_event(), which fetches the
        event and its object from Stripe (a replayed or stale body changes nothing). Raises
        WebhookRejected.
        """
        return http.verify_webhook(payload, sig_header, secret, tolerance=tolerance)
