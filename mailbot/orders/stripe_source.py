"""Orders from Stripe, through the official `stripe` library, returned as plain `Order`s.

Two order shapes (PRODUCT.md section 5):
- a Checkout Session with mode=payment and status=complete whose line items carry a configured
  price or product (`payment_status=paid` gives a paid order, `unpaid` an async payment still
  on its way);
- a PaymentIntent with `metadata.seats` (custom checkouts), status succeeded.

Refunds and disputes hang off the PaymentIntent's latest charge and are applied to the order
(refunded, disputed, or whole seats removed by a partial refund).

Stripe types never leave this module: every answer is a plain dict right after the call
(`to_dict()` of a single object, the JSON of a list page), the pure functions below read dicts,
and everything public returns `mailbot.model.Order`, strings, or this module's exceptions.

API calls are the cost that matters (Stripe rate-limits at ~25-100 requests/s and a sync of
10,000 sessions must stay cheap), so lists are read 100 at a time with the line items and the
PaymentIntent's charge expanded inline: a full re-list costs about one request per 100 sessions
plus one per 100 PaymentIntents.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

import requests
import stripe

from ..config import OrdersSettings
from ..model import Order, OrderStatus

log = logging.getLogger(__name__)

# The events whose objects can create or change an order. Anything else on the account
# (invoices, payouts, ...) is not read at all.
EVENT_TYPES: tuple[str, ...] = (
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "payment_intent.succeeded",
    "charge.refunded",
    "charge.dispute.created",
    "charge.dispute.closed",
)

PAGE_SIZE = 100  # Stripe's maximum page size: fewer round trips for the same data
_SESSIONS = "/v1/checkout/sessions"
_INTENTS = "/v1/payment_intents"
_SESSION_EXPAND = ["line_items", "payment_intent.latest_charge"]
_SESSION_LIST_EXPAND = ["data.line_items", "data.payment_intent.latest_charge"]
_PI_EXPAND = ["latest_charge", "customer"]
_PI_LIST_EXPAND = ["data.latest_charge", "data.customer"]
# A dispute that ended in our favour gives the seats back.
_DISPUTE_RESOLVED = frozenset({"won", "warning_closed", "prevented"})
_MAX_SEATS = 100_000  # a metadata.seats above this is a typo, not an order


class StripeUnavailable(Exception):
    """Stripe could not be asked (network, rate limit, server error) or refused the request.

    `permanent` is True when retrying later will not help by itself (a rejected API key, a
    request Stripe calls invalid): the worker should alert a person, but still let other mail
    flow.
    """

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class WebhookRejected(Exception):
    """A webhook whose signature does not verify (or that is not a Stripe event at all)."""


class _NotFound(Exception):
    """Internal: the object asked for does not exist (a 404 from Stripe)."""


class _ExpandRefused(Exception):
    """Internal: Stripe refused an `expand` of the request (a 400 naming expand)."""


# --------------------------------------------------------------------------------------------
# Pure translation: Stripe JSON (as dicts) -> Order


def _id(value: Any) -> str:
    """An expandable field's id, whether Stripe sent the id or the expanded object."""
    if isinstance(value, Mapping):
        return str(value.get("id") or "")
    return str(value or "")


def _obj(value: Any) -> Mapping[str, Any] | None:
    """An expandable field's object when it was expanded, else None."""
    return value if isinstance(value, Mapping) else None


def _when(ts: Any) -> datetime:
    return datetime.fromtimestamp(int(ts or 0), timezone.utc)


@dataclass(frozen=True)
class ChargeState:
    """What the payment's charge says about the seats: the part of an order that changes."""

    status: OrderStatus
    refunded_seats: int
    charge_id: str = ""
    receipt_number: str = ""


def charge_state(
    charge: Mapping[str, Any] | None,
    seats: int,
    seats_amount: int,
    disputes: Iterable[Mapping[str, Any]] | None = None,
) -> ChargeState:
    """Status and refunded seats from a charge.

    A partial refund removes whole seats by amount, rounding in the customer's favour:
    refunded_seats = floor(amount_refunded / (seats_amount / seats)), computed in integers.
    `seats_amount` is what the seats cost (the licensed line items' total, or the charge amount
    when unknown), so a refunded add-on that is not a seat does not cost a seat on its own
    unless it is worth one. `disputes` (when known) tell a lost or open dispute from one that
    was won: without them a disputed charge counts as disputed.
    """
    if charge is None:
        return ChargeState(OrderStatus.PAID, 0)
    charge_id = _id(charge)
    receipt = str(charge.get("receipt_number") or "")
    amount = int(charge.get("amount") or 0)
    refunded = int(charge.get("amount_refunded") or 0)
    if amount > 0 and refunded >= amount:
        return ChargeState(OrderStatus.REFUNDED, seats, charge_id, receipt)
    refunded_seats = 0
    base = seats_amount if seats_amount > 0 else amount
    if refunded > 0 and base > 0 and seats > 0:
        refunded_seats = min(seats, refunded * seats // base)
    if charge.get("disputed"):
        if disputes is None:
            return ChargeState(OrderStatus.DISPUTED, refunded_seats, charge_id, receipt)
        statuses = [str(d.get("status") or "") for d in disputes]
        if not statuses or any(s not in _DISPUTE_RESOLVED for s in statuses):
            return ChargeState(OrderStatus.DISPUTED, refunded_seats, charge_id, receipt)
    if refunded_seats >= seats > 0:
        return ChargeState(OrderStatus.REFUNDED, seats, charge_id, receipt)
    return ChargeState(OrderStatus.PAID, refunded_seats, charge_id, receipt)


def licensed_items(
    items: Iterable[Mapping[str, Any]], price_ids: Iterable[str], product_ids: Iterable[str]
) -> tuple[int, int]:
    """(seats, their amount_total) over the line items whose price or product is licensed."""
    prices, products = set(price_ids), set(product_ids)
    seats = amount = 0
    for item in items:
        price = item.get("price") or {}
        price_id = _id(price)
        product_id = _id(price.get("product")) if isinstance(price, Mapping) else ""
        if price_id in prices or (product_id and product_id in products):
            quantity = int(item.get("quantity") or 0)
            seats += quantity
            amount += int(item.get("amount_total") or 0)
    return seats, amount


def session_order(
    session: Mapping[str, Any],
    items: Iterable[Mapping[str, Any]],
    price_ids: Iterable[str],
    product_ids: Iterable[str],
    disputes: Iterable[Mapping[str, Any]] | None = None,
) -> Order | None:
    """A Checkout Session as an Order, or None when it is not one of ours.

    `items` are all of the session's line items; `session["payment_intent"]` may carry the
    expanded PaymentIntent with its expanded `latest_charge`.
    """
    if session.get("mode") != "payment" or session.get("status") != "complete":
        return None
    seats, seats_amount = licensed_items(items, price_ids, product_ids)
    if seats <= 0:
        return None
    details = session.get("customer_details") or {}
    email = str(details.get("email") or session.get("customer_email") or "").strip().lower()
    pi = _obj(session.get("payment_intent"))
    pi_id = _id(session.get("payment_intent"))
    charge = _obj(pi.get("latest_charge")) if pi else None
    if session.get("payment_status") in ("paid", "no_payment_required"):
        state = charge_state(charge, seats, seats_amount, disputes)
    else:
        state = ChargeState(OrderStatus.UNPAID, 0, _id(charge), "")
    aliases = tuple(a for a in (pi_id, state.charge_id, state.receipt_number) if a)
    return Order(
        order_id=str(session["id"]),
        email=email,
        name=str(details.get("name") or ""),
        seats=seats,
        status=state.status,
        created=_when(session.get("created")),
        refunded_seats=state.refunded_seats,
        currency=str(session.get("currency") or "").lower(),
        amount_total=int(session.get("amount_total") or 0),
        source="stripe",
        client_reference_id=str(session.get("client_reference_id") or ""),
        aliases=aliases,
    )


def metadata_seats(metadata: Mapping[str, Any] | None) -> int:
    """The seats a custom checkout wrote into metadata.seats; 0 when absent or not a count."""
    raw = str((metadata or {}).get("seats") or "").strip()
    if not raw.isdigit():
        return 0
    seats = int(raw)
    return seats if 0 < seats <= _MAX_SEATS else 0


def payment_intent_order(
    pi: Mapping[str, Any], disputes: Iterable[Mapping[str, Any]] | None = None
) -> Order | None:
    """A PaymentIntent with metadata.seats as an Order, or None when it is not one.

    `latest_charge` and `customer` may be expanded objects (they give refunds and the email).
    Only a succeeded PaymentIntent is an order: one still processing is not yet money.
    """
    metadata = pi.get("metadata") or {}
    seats = metadata_seats(metadata)
    if seats <= 0 or pi.get("status") != "succeeded":
        return None
    customer = _obj(pi.get("customer")) or {}
    charge = _obj(pi.get("latest_charge"))
    email = str(
        pi.get("receipt_email") or metadata.get("email") or customer.get("email") or ""
    ).strip().lower()
    billing = (charge or {}).get("billing_details") or {}
    name = str(metadata.get("name") or customer.get("name") or billing.get("name") or "")
    amount = int(pi.get("amount_received") or pi.get("amount") or 0)
    state = charge_state(charge, seats, amount, disputes)
    aliases = tuple(a for a in (state.charge_id, state.receipt_number) if a)
    return Order(
        order_id=str(pi["id"]),
        email=email,
        name=name,
        seats=seats,
        status=state.status,
        created=_when(pi.get("created")),
        refunded_seats=state.refunded_seats,
        currency=str(pi.get("currency") or "").lower(),
        amount_total=amount,
        source="stripe",
        client_reference_id=str(metadata.get("client_reference_id") or ""),
        aliases=aliases,
    )


# --------------------------------------------------------------------------------------------
# Cursors: opaque strings the caller persists


def _encode_cursor(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), sort_keys=True)


def _decode_cursor(cursor: str | None, kind: str) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        data = json.loads(cursor)
    except ValueError:
        raise ValueError(f"not a Stripe {kind} cursor: {cursor[:60]!r}") from None
    if not isinstance(data, dict) or data.get("kind") != kind:
        raise ValueError(f"not a Stripe {kind} cursor: {cursor[:60]!r}")
    return data


# --------------------------------------------------------------------------------------------
# HTTP: requests underneath, with a request counter and configurable backoff


class _CountingHTTPClient(stripe.HTTPClient):
    """The library's HTTP seam: counts every request (retries included) and sets the backoff.

    The library retries connection errors, 409 and 5xx itself (`max_network_retries`); its
    delays are class constants, so this client supplies its own to let tests fail fast.
    """

    name = "requests"

    def __init__(
        self, *, timeout: float, retry_delay: float, max_retry_delay: float, trust_env: bool
    ) -> None:
        super().__init__()
        self.calls = 0
        self._timeout = timeout
        self._retry_delay = retry_delay
        self._max_retry_delay = max_retry_delay
        self._trust_env = trust_env
        self._lock = threading.Lock()
        self._local = threading.local()
        self._sessions: list[requests.Session] = []

    def _session(self) -> requests.Session:
        # requests.Session is not thread-safe; the worker's scheduler may sync while a mail
        # does a live lookup, so each thread keeps its own connection pool.
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            # A local test server must not be reached through an environment proxy.
            session.trust_env = self._trust_env
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[bytes, int, Mapping[str, str]]:
        return self._send(method, url, headers, post_data, stream=False)

    def request_stream(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[Any, int, Mapping[str, str]]:
        # The library's interface has it; mailbot's calls never stream, but it must work.
        return self._send(method, url, headers, post_data, stream=True)

    def _send(self, method: str, url: str, headers: Mapping[str, str] | None, post_data: Any,
              stream: bool) -> tuple[Any, int, Mapping[str, str]]:
        with self._lock:
            self.calls += 1
        try:
            response = self._session().request(
                method, url, headers=headers, data=post_data, timeout=self._timeout,
                stream=stream,
            )
            content = response.raw if stream else response.content
        except (requests.Timeout, requests.ConnectionError) as exc:
            raise stripe.APIConnectionError(
                f"cannot reach Stripe ({type(exc).__name__})", should_retry=True
            ) from exc
        except requests.RequestException as exc:
            raise stripe.APIConnectionError(
                f"request to Stripe failed ({type(exc).__name__})", should_retry=False
            ) from exc
        return content, response.status_code, response.headers

    def _sleep_time_seconds(self, num_retries: int) -> float:
        return _backoff(num_retries, self._retry_delay, self._max_retry_delay)

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()


def _backoff(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with jitter in [d/2, d]: many workers do not retry in step."""
    delay = min(cap, base * (2 ** max(0, attempt - 1)))
    return delay * (0.5 + random.random() / 2)


def _retry_after(exc: stripe.StripeError) -> float | None:
    headers = exc.headers or {}
    value = None
    for key, raw in headers.items():
        if key.lower() == "retry-after":
            value = raw
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


# --------------------------------------------------------------------------------------------


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
    ) -> None:
        """`settings.api_base` (tests only) points the client at a local Stripe-compatible
        server. `max_retries` applies both to the library's own retries (network errors, 409,
        5xx) and to ours for 429; delays grow from `retry_delay` to `max_retry_delay` seconds.
        `overlap_seconds` is how far back each incremental sync re-reads events that may have
        become visible late. `payment_intent_orders=False` skips listing PaymentIntents in a
        full re-list (an account with no custom checkout: half the API calls). `page_size`
        below Stripe's maximum of 100 only makes sense in tests of pagination."""
        self._settings = settings
        self._price_ids = tuple(settings.price_ids)
        self._product_ids = tuple(settings.product_ids)
        self._max_retries = max(0, max_retries)
        self._retry_delay = retry_delay
        self._max_retry_delay = max_retry_delay
        self._overlap = max(0, int(overlap_seconds))
        self._scan_pages = max(0, lookup_scan_pages)
        self._pi_orders = payment_intent_orders
        self._page_size = min(PAGE_SIZE, max(1, page_size))
        self._wrapper_calls = 0
        self._expand_list_line_items = True
        self._http: _CountingHTTPClient | None = None
        if client is None:
            self._http = _CountingHTTPClient(
                timeout=timeout,
                retry_delay=retry_delay,
                max_retry_delay=max_retry_delay,
                trust_env=not settings.api_base,
            )
            base = {"api": settings.api_base.rstrip("/")} if settings.api_base else None
            client = stripe.StripeClient(
                api_key,
                base_addresses=base,  # type: ignore[arg-type]
                max_network_retries=self._max_retries,
                http_client=self._http,
            )
        self._client = client

    # ---- bookkeeping -------------------------------------------------------------------

    @property
    def count_calls(self) -> int:
        """HTTP requests made so far, retries included. With an injected client (whose HTTP
        layer we do not see) this counts our calls into the library instead."""
        return self._http.calls if self._http is not None else self._wrapper_calls

    def close(self) -> None:
        """Close the connection pools (only those this object created)."""
        if self._http is not None:
            self._http.close()

    def __enter__(self) -> StripeOrders:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def check_access(self) -> None:
        """One read-only call (a single Checkout Session, or PaymentIntent when Checkout is
        not used): raises StripeUnavailable when the key or the server is not right."""
        path = _SESSIONS if self._checkout_enabled() else _INTENTS
        self._list("check access", path, {"limit": 1})

    # ---- the one place that calls Stripe -----------------------------------------------

    def _call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Call the library; return the result as a plain dict; map errors to ours.

        The library already retried network errors and 5xx; a 429 (rate limit) it does not
        retry, so we do, honouring Retry-After, before giving up with StripeUnavailable.
        """
        attempt = 0
        while True:
            self._wrapper_calls += 1
            try:
                result = fn(*args, **kwargs)
            except stripe.RateLimitError as exc:
                attempt += 1
                if attempt > self._max_retries:
                    raise StripeUnavailable(
                        f"Stripe rate limit: {what} still refused after {attempt} attempts"
                    ) from exc
                wait = _retry_after(exc)
                if wait is None:
                    wait = _backoff(attempt, self._retry_delay, self._max_retry_delay)
                wait = min(wait, self._max_retry_delay)
                log.info("Stripe rate limit on %s; retry %d in %.2fs", what, attempt, wait)
                time.sleep(wait)
                continue
            except stripe.APIConnectionError as exc:
                raise StripeUnavailable(
                    f"Stripe unreachable during {what}: {exc.user_message or exc}"
                ) from exc
            except (stripe.AuthenticationError, stripe.PermissionError) as exc:
                raise StripeUnavailable(
                    f"Stripe refused the API key during {what} (HTTP {exc.http_status}): "
                    "check [orders] api_key_env / api_key_file",
                    permanent=True,
                ) from exc
            except stripe.InvalidRequestError as exc:
                if exc.http_status == 404:
                    raise _NotFound(what) from exc
                if exc.http_status == 400 and str(exc.param or "").startswith("expand"):
                    raise _ExpandRefused(what) from exc
                raise StripeUnavailable(
                    f"Stripe rejected {what}: {exc.user_message or exc}", permanent=True
                ) from exc
            except stripe.StripeError as exc:  # 5xx after the library's retries, and the rest
                raise StripeUnavailable(
                    f"Stripe error during {what} (HTTP {exc.http_status}): "
                    f"{exc.user_message or exc}"
                ) from exc
            if isinstance(result, stripe.StripeObject):
                return result.to_dict()
            return dict(result.data)  # a raw_request's StripeResponse: already plain JSON

    def _list(self, what: str, path: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """One page of a list endpoint, as plain JSON.

        Lists go through StripeClient.raw_request rather than the typed services
        (`client.v1.checkout.sessions.list`): same auth, API version, retries and typed
        errors, but no StripeObject tree is built for 100 expanded objects only to be turned
        back into dicts. Measured on 500 sessions: 0.26 s against 1.6 s, which is most of a
        10,000-session re-list's time. Single objects use the typed services.
        """
        if path == _SESSIONS and not self._expand_list_line_items:
            params = _without_line_items(params)
        try:
            return self._call(what, self._client.raw_request, "get", path, **params)
        except _ExpandRefused as exc:
            if path != _SESSIONS or not self._expand_list_line_items:
                raise StripeUnavailable(f"Stripe rejected {what}: {exc}", permanent=True) from exc
        # Stripe documents line_items as includable on a list of sessions; should it ever
        # refuse, each session's items come from /line_items instead (one call per session).
        log.warning("Stripe refused expand=data.line_items on a session list; "
                    "reading line items per session")
        self._expand_list_line_items = False
        return self._list(what, path, params)

    def _pages(
        self, what: str, path: str, params: Mapping[str, Any], after: str | None = None
    ) -> Iterator[tuple[list[dict[str, Any]], str | None]]:
        """Walk a list endpoint page by page: (objects, id to resume after or None at the end).

        Manual pagination rather than the library's auto_paging_iter: each page goes through
        _call's retries, and the caller gets the cursor to persist."""
        while True:
            page_params = dict(params, limit=self._page_size)
            if after:
                page_params["starting_after"] = after
            page = self._list(what, path, page_params)
            data = list(page.get("data") or [])
            more = bool(page.get("has_more")) and bool(data)
            after = _id(data[-1]) if more else None
            yield data, after
            if not more:
                return

    # ---- fetching the pieces of an order -----------------------------------------------

    def _all_line_items(self, session: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The session's line items: the expanded first handful, then the rest if any."""
        embedded = session.get("line_items")
        if isinstance(embedded, Mapping):
            items = list(embedded.get("data") or [])
            if not embedded.get("has_more"):
                return items
            after: str | None = _id(items[-1]) if items else None
        else:
            items, after = [], None
        path = f"{_SESSIONS}/{quote(str(session['id']), safe='')}/line_items"
        for page, _ in self._pages("list line items", path, {}, after):
            items.extend(page)
        return items

    def _disputes(self, charge: Mapping[str, Any] | None) -> list[dict[str, Any]] | None:
        """A disputed charge's disputes (one extra call, only for disputed charges)."""
        if not charge or not charge.get("disputed"):
            return None
        try:
            page = self._list("list disputes", "/v1/disputes", {"charge": _id(charge), "limit": 10})
        except _NotFound:
            return None
        return list(page.get("data") or [])

    def _session_to_order(self, session: Mapping[str, Any]) -> Order | None:
        if session.get("mode") != "payment" or session.get("status") != "complete":
            return None
        items = self._all_line_items(session)
        if licensed_items(items, self._price_ids, self._product_ids)[0] <= 0:
            return None
        pi = _obj(session.get("payment_intent"))
        charge = _obj(pi.get("latest_charge")) if pi else None
        return session_order(
            session, items, self._price_ids, self._product_ids, self._disputes(charge)
        )

    def _pi_to_order(self, pi: Mapping[str, Any]) -> Order | None:
        metadata = pi.get("metadata") or {}
        if metadata_seats(metadata) <= 0:
            if metadata.get("seats") not in (None, ""):
                log.warning("PaymentIntent %s: metadata.seats is not a seat count; not an order",
                            _id(pi))
            return None
        if pi.get("status") != "succeeded":
            return None
        return payment_intent_order(pi, self._disputes(_obj(pi.get("latest_charge"))))

    def _checkout_enabled(self) -> bool:
        # Without a configured price or product no session can hold a licensed line item,
        # so listing sessions would cost calls and never yield an order.
        return bool(self._price_ids or self._product_ids)

    def _session(self, session_id: str) -> Order | None:
        try:
            session = self._call(
                "retrieve a Checkout Session",
                self._client.v1.checkout.sessions.retrieve,
                session_id,
                params={"expand": _SESSION_EXPAND},
            )
        except _NotFound:
            return None
        return self._session_to_order(session)

    def _sessions_of_payment_intent(self, pi_id: str) -> list[dict[str, Any]] | None:
        """The Checkout Session(s) that created this PaymentIntent; None without Checkout."""
        if not self._checkout_enabled():
            return None
        page = self._list(
            "list Checkout Sessions by PaymentIntent",
            _SESSIONS,
            {"payment_intent": pi_id, "expand": _SESSION_LIST_EXPAND, "limit": 10},
        )
        return list(page.get("data") or [])

    def _payment_intent(self, pi_id: str, *, find_session: bool) -> list[Order]:
        """The order(s) a PaymentIntent belongs to.

        `find_session`: the PaymentIntent may be a Checkout Session's (a refund or dispute
        event names only the charge): ask for its session first. Without it (a
        payment_intent.succeeded event) only a custom-checkout PaymentIntent counts, as a
        Checkout purchase gets its own checkout.session.completed event.
        """
        if find_session:
            sessions = self._sessions_of_payment_intent(pi_id)
            if sessions:
                found = [self._session_to_order(s) for s in sessions]
                return [o for o in found if o is not None]
        try:
            pi = self._call(
                "retrieve a PaymentIntent",
                self._client.v1.payment_intents.retrieve,
                pi_id,
                params={"expand": _PI_EXPAND},
            )
        except _NotFound:
            return []
        order = self._pi_to_order(pi)
        return [order] if order else []

    def _charge_payment_intent(self, charge_id: str) -> str:
        try:
            charge = self._call(
                "retrieve a charge", self._client.v1.charges.retrieve, charge_id
            )
        except _NotFound:
            return ""
        return _id(charge.get("payment_intent"))

    # ---- full re-list ------------------------------------------------------------------

    def backfill(self, cursor: str | None = None) -> Iterator[tuple[list[Order], str | None]]:
        """Re-list every order, one page at a time, resumable after a crash.

        Yields (orders found on one page, cursor): persist the cursor after storing the page's
        orders, and pass it back to resume after that page. The last cursor yielded is None:
        the re-list is complete (start the next one from None). Pages are newest first;
        objects created while it runs land before the cursor and are caught by events_since.
        """
        state = _decode_cursor(cursor, "backfill") or {"kind": "backfill", "phase": "sessions"}
        phases = []
        if self._checkout_enabled():
            phases.append("sessions")
        if self._pi_orders:
            phases.append("payment_intents")
        if state.get("phase") in phases:
            phases = phases[phases.index(state["phase"]) :]
            after = state.get("after")
        else:
            after = None
        for n, phase in enumerate(phases):
            last_phase = n == len(phases) - 1
            if phase == "sessions":
                pages = self._pages(
                    "list Checkout Sessions",
                    _SESSIONS,
                    {"status": "complete", "expand": _SESSION_LIST_EXPAND},
                    after,
                )
                convert: Callable[[Mapping[str, Any]], Order | None] = self._session_to_order
            else:
                pages = self._pages(
                    "list PaymentIntents",
                    _INTENTS,
                    {"expand": _PI_LIST_EXPAND},
                    after,
                )
                convert = self._pi_to_order
            for objects, next_after in pages:
                orders = [o for o in map(convert, objects) if o is not None]
                if next_after is not None:
                    resume: str | None = _encode_cursor(
                        {"kind": "backfill", "phase": phase, "after": next_after}
                    )
                elif not last_phase:
                    resume = _encode_cursor(
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
        return _encode_cursor({"kind": "events", "t": int(now.timestamp()), "seen": {}})

    def _list_events(self, since: int | None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"types": list(EVENT_TYPES)}
        if since is not None:
            params["created"] = {"gte": since}
        events: list[dict[str, Any]] = []
        for page, _ in self._pages("list events", "/v1/events", params):
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
        state = _decode_cursor(cursor, "events")
        since_t: int | None = int(state["t"]) if state else None
        seen: dict[str, int] = {str(k): int(v) for k, v in (state or {}).get("seen", {}).items()}
        events = self._list_events(None if since_t is None else since_t - self._overlap)

        fresh: dict[str, dict[str, Any]] = {}
        for event in events:
            event_id = _id(event)
            if event_id and event_id not in seen and event_id not in fresh:
                fresh[event_id] = event
        ordered = sorted(fresh.values(), key=lambda e: (int(e.get("created") or 0), _id(e)))
        orders = self._orders_for_events(ordered)

        newest = max([since_t or 0] + [int(e.get("created") or 0) for e in events])
        for event in events:
            seen[_id(event)] = int(event.get("created") or 0)
        horizon = newest - self._overlap
        seen = {k: v for k, v in seen.items() if v >= horizon}
        return orders, _encode_cursor({"kind": "events", "t": newest, "seen": seen})

    def orders_for_event(self, event_id: str) -> list[Order]:
        """The current orders behind one event (a webhook names it; its payload is not
        trusted, the event is fetched from Stripe and its object fetched again)."""
        try:
            event = self._call("retrieve an event", self._client.v1.events.retrieve, event_id)
        except _NotFound:
            return []
        return self._orders_for_events([event])

    def _orders_for_events(self, events: Iterable[Mapping[str, Any]]) -> list[Order]:
        sessions: list[str] = []
        intents: dict[str, bool] = {}  # pi id -> look for its Checkout Session first
        for event in events:
            kind = str(event.get("type") or "")
            obj = (event.get("data") or {}).get("object") or {}
            if kind.startswith("checkout.session."):
                if _id(obj) and _id(obj) not in sessions:
                    sessions.append(_id(obj))
            elif kind == "payment_intent.succeeded":
                if _id(obj):
                    intents.setdefault(_id(obj), False)
            elif kind == "charge.refunded" or kind.startswith("charge.dispute."):
                # Ids do not change, so naming the object from the payload is safe; its state
                # is what we do not take from the payload.
                pi_id = _id(obj.get("payment_intent"))
                if not pi_id:
                    charge_id = _id(obj) if kind == "charge.refunded" else _id(obj.get("charge"))
                    pi_id = self._charge_payment_intent(charge_id) if charge_id else ""
                if pi_id:
                    intents[pi_id] = True
        found: dict[str, Order] = {}
        covered: set[str] = set()
        for session_id in sessions:
            order = self._session(session_id)
            if order is not None:
                found[order.order_id] = order
                covered.update(a for a in order.aliases if a.startswith("pi_"))
        for pi_id, find_session in intents.items():
            if pi_id in covered:
                continue
            for order in self._payment_intent(pi_id, find_session=find_session):
                found[order.order_id] = order
        return list(found.values())

    # ---- live lookups ------------------------------------------------------------------

    def lookup_email(self, email: str) -> list[Order]:
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

        checkout = self._checkout_enabled()
        variants = [wanted] if email.strip() == wanted else [email.strip(), wanted]
        for address in variants:
            if checkout:
                page = self._list(
                    "list Checkout Sessions by email",
                    _SESSIONS,
                    {
                        "customer_details": {"email": address},
                        "status": "complete",
                        "expand": _SESSION_LIST_EXPAND,
                        "limit": PAGE_SIZE,
                    },
                )
                for session in page.get("data") or []:
                    keep(self._session_to_order(session))
            if not (checkout or self._pi_orders):
                continue
            customers = self._list(
                "list customers by email", "/v1/customers", {"email": address, "limit": 10}
            )
            for customer in customers.get("data") or []:
                customer_id = _id(customer)
                if checkout:
                    page = self._list(
                        "list Checkout Sessions by customer",
                        _SESSIONS,
                        {
                            "customer": customer_id,
                            "status": "complete",
                            "expand": _SESSION_LIST_EXPAND,
                            "limit": PAGE_SIZE,
                        },
                    )
                    for session in page.get("data") or []:
                        order = self._session_to_order(session)
                        if order is not None:
                            found[order.order_id] = order  # the customer is the sender
                if self._pi_orders:
                    page = self._list(
                        "list PaymentIntents by customer",
                        _INTENTS,
                        {"customer": customer_id, "expand": _PI_LIST_EXPAND, "limit": PAGE_SIZE},
                    )
                    for pi in page.get("data") or []:
                        order = self._pi_to_order(pi)
                        if order is not None:
                            found[order.order_id] = order
        if found or self._scan_pages <= 0:
            return list(found.values())

        Convert = Callable[[Mapping[str, Any]], Order | None]
        scans: list[tuple[str, str, dict[str, Any], Convert]] = []
        if checkout:
            scans.append((
                "scan recent Checkout Sessions",
                _SESSIONS,
                {"status": "complete", "expand": _SESSION_LIST_EXPAND},
                self._session_to_order,
            ))
        if self._pi_orders:
            scans.append((
                "scan recent PaymentIntents",
                _INTENTS,
                {"expand": _PI_LIST_EXPAND},
                self._pi_to_order,
            ))
        for what, path, params, convert in scans:
            for n, (objects, _) in enumerate(self._pages(what, path, params)):
                for obj in objects:
                    if _mentions(obj, wanted):
                        keep(convert(obj))
                if n + 1 >= self._scan_pages:
                    break
        return list(found.values())

    def lookup_reference(self, ref: str) -> Order | None:
        """The order a quoted Checkout Session, PaymentIntent or charge id belongs to."""
        ref = ref.strip()
        if ref.startswith("cs_") and self._checkout_enabled():
            return self._session(ref)
        if ref.startswith("pi_"):
            orders = self._payment_intent(ref, find_session=True)
            return orders[0] if orders else None
        if ref.startswith(("ch_", "py_")):
            pi_id = self._charge_payment_intent(ref)
            if pi_id:
                orders = self._payment_intent(pi_id, find_session=True)
                return orders[0] if orders else None
        return None

    # ---- webhooks ----------------------------------------------------------------------

    @staticmethod
    def verify_webhook(
        payload: bytes, sig_header: str, secret: str, *, tolerance: int = 300
    ) -> str:
        """Verify a webhook's Stripe-Signature with the library; return the event id.

        Only the id is taken from the body: pass it to orders_for_event(), which fetches the
        event and its object from Stripe (a replayed or stale body changes nothing).
        """
        try:
            payload.decode("utf-8")
        except UnicodeDecodeError:
            # The library would raise this itself, as a server error, before checking anything.
            raise WebhookRejected("webhook body is not UTF-8 text") from None
        try:
            stripe.WebhookSignature.verify_header(payload, sig_header, secret, tolerance)
        except stripe.SignatureVerificationError as exc:
            raise WebhookRejected(
                f"webhook signature does not verify: {exc.user_message or exc}"
            ) from None
        try:
            body = json.loads(payload)
        except ValueError:
            raise WebhookRejected("webhook body is not JSON") from None
        event_id = body.get("id") if isinstance(body, dict) else None
        if not isinstance(event_id, str) or not event_id.startswith("evt_"):
            raise WebhookRejected("webhook body is not a Stripe event")
        return event_id


def _without_line_items(params: Mapping[str, Any]) -> dict[str, Any]:
    expand = [e for e in params.get("expand", []) if e != "data.line_items"]
    return dict(params, expand=expand)


def _mentions(obj: Mapping[str, Any], email: str) -> bool:
    """Whether a session or PaymentIntent names this email anywhere we read emails from."""
    details = obj.get("customer_details") or {}
    customer = _obj(obj.get("customer")) or {}
    metadata = obj.get("metadata") or {}
    candidates = (
        details.get("email"),
        obj.get("customer_email"),
        obj.get("receipt_email"),
        metadata.get("email"),
        customer.get("email"),
    )
    return any(str(c or "").strip().lower() == email for c in candidates)
