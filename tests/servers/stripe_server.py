"""Stripe test servers on loopback: localstripe, and a Checkout-capable Stripe-compatible server.

Fixtures (pytest plugin, listed in tests/conftest.py):
- `localstripe` -> base URL of a localstripe (PyPI) server, state flushed for each test.
  localstripe runs in a subprocess bound to 127.0.0.1 (its own CLI binds every interface) with
  its pickle-to-/tmp persistence switched off, so parallel runs never share state.
  It covers Customers, PaymentIntents, charges and refunds, but not Checkout.
- `stripe_checkout_server` -> a running `StripeCheckoutServer`: the endpoints mailbot reads
  that localstripe lacks (Checkout Sessions and their line items, the Events API with `types`
  and `created` filters, disputes; Subscriptions whose periods move forward, their Invoices
  and events, in stripe_billing.py), with controls to create purchases and subscriptions,
  renew, cancel, refund, dispute, fail, stall a request, and go down.

Every object the checkout server returns is a deep copy of Stripe's own example object from
tests/data/stripe_fixtures/fixtures3.json with ids, emails, amounts and states overridden, so the
client sees Stripe's real field set. The server also works outside pytest:

    with StripeCheckoutServer() as server:        # or server = StripeCheckoutServer().start()
        for i in range(10_000):
            server.add_session(f"c{i}@example.com", seats=2, events=False)
        ... point StripeOrders at server.url, time a backfill, read server.request_count ...
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import os
import random
import re
import selectors
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.servers.stripe_billing import BillingMixin
from tests.servers.stripe_common import (
    DEFAULT_PRICE,
    DEFAULT_PRODUCT,
    FIXTURES_PATH,
    TEST_API_KEY,
    StripeErrorResponse,
    example,
)
from tests.servers.stripe_common import rand as _rand

__all__ = [
    "DEFAULT_PRICE",
    "DEFAULT_PRODUCT",
    "FIXTURES_PATH",
    "TEST_API_KEY",
    "LocalStripe",
    "StripeCheckoutServer",
    "StripeErrorResponse",
    "example",
    "parse_params",
]


def parse_params(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding (`a[b][0]=x`, `expand[]=y`) -> nested dicts and lists."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        match = re.fullmatch(r"([^\[\]]+)((?:\[[^\[\]]*\])*)", key)
        if not match:
            raise StripeErrorResponse(400, f"Invalid parameter name: {key}", param=key)
        parts = [match.group(1)] + re.findall(r"\[([^\[\]]*)\]", match.group(2))
        node = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "":  # "expand[]": append
                part = str(sum(1 for k in node if k.isdigit()))
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
                if not isinstance(node, dict):
                    raise StripeErrorResponse(400, f"Invalid parameter: {key}", param=key)

    def lists(value: Any) -> Any:
        if isinstance(value, dict):
            if value and all(k.isdigit() for k in value):
                return [lists(value[k]) for k in sorted(value, key=int)]
            return {k: lists(v) for k, v in value.items()}
        return value

    return lists(root)


class StripeCheckoutServer(BillingMixin):
    """A Stripe-compatible HTTP server (aiohttp, 127.0.0.1, free port) in a background thread.

    Implemented: GET /v1/checkout/sessions (status, customer, customer_details[email],
    payment_intent, created filters), GET /v1/checkout/sessions/{id}, GET
    /v1/checkout/sessions/{id}/line_items, GET /v1/events (types/type, created), GET
    /v1/events/{id}, GET /v1/charges/{id}, GET /v1/payment_intents (customer, created), GET
    /v1/payment_intents/{id}, GET /v1/customers (email), GET /v1/customers/{id}, GET
    /v1/disputes (charge, payment_intent), GET /v1/disputes/{id}, POST /v1/refunds, GET
    /v1/refunds/{id}, and from BillingMixin GET /v1/subscriptions (status, customer, price,
    created), GET /v1/subscriptions/{id}, GET /v1/invoices, GET /v1/invoices/{id}. Lists are
    newest first with limit/starting_after/has_more and
    `expand` (`data.` paths), like Stripe; unknown parameters are rejected like Stripe does.
    Requests need `Authorization: Bearer <api_key>` (any sk_test_ key unless one is given).

    Controls (thread-safe, callable while the server runs): add_session, pay_async,
    add_payment_intent, refund, dispute, close_dispute, fail_next, down/up, advance (the
    server clock), hold_events/release_events, stall/release_stall (hold matching requests
    unanswered), add_subscription, renew_subscription, pay_invoice, update_subscription,
    cancel_subscription, and the flags emit_duplicate_events and
    shuffle_events. request_count / requests record what the client asked.
    """

    def __init__(self, *, api_key: str | None = None, expanded_line_items: int = 10) -> None:
        self.api_key = api_key
        # How many line items an expanded `line_items` carries before has_more (Stripe embeds
        # only "the first handful"; the rest come from /line_items).
        self.expanded_line_items = expanded_line_items
        # Each event listed twice within a page (never the page's last item, which is the
        # pagination cursor); the page order shuffled (again except the last item).
        self.emit_duplicate_events = False
        self.shuffle_events = False
        self.hold_events = False  # new events invisible until release_events()
        # Refuse expand=data.line_items on the session list (in case Stripe ever does).
        self.refuse_list_line_items = False
        self.requests: list[tuple[str, str]] = []
        self.clock_offset = 0
        self._lock = threading.RLock()
        self._seq = itertools.count(1)
        self._sessions: dict[str, dict[str, Any]] = {}
        self._line_items: dict[str, list[dict[str, Any]]] = {}
        self._intents: dict[str, dict[str, Any]] = {}
        self._charges: dict[str, dict[str, Any]] = {}
        self._customers: dict[str, dict[str, Any]] = {}
        self._refunds: dict[str, dict[str, Any]] = {}
        self._disputes: dict[str, dict[str, Any]] = {}
        self._events: dict[str, dict[str, Any]] = {}
        self._order: dict[str, int] = {}  # object id -> creation sequence (ties in `created`)
        self._visible: list[str] = []  # event ids the Events API shows
        self._held: list[str] = []
        self._failures: list[tuple[int, str | None]] = []
        # Requests whose path matches are held unanswered until release_stall(): a client
        # caught mid-sync at a known request, to be killed there.
        self._stall: re.Pattern[str] | None = None
        self._stall_gate: asyncio.Event | None = None
        self.stalled: list[str] = []
        self._init_billing()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._port = 0

    # ---- lifecycle ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        if not self._port:
            raise RuntimeError("server not started")
        return f"http://127.0.0.1:{self._port}"

    def start(self) -> StripeCheckoutServer:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="stripe-checkout-server", daemon=True
        )
        self._thread.start()
        self._run(self._serve())
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        self._run(self._unserve())
        self._loop.call_soon_threadsafe(self._loop.stop)
        assert self._thread is not None
        self._thread.join(10)
        self._loop.close()
        self._loop = None
        self._thread = None

    def __enter__(self) -> StripeCheckoutServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def down(self) -> None:
        """Stop listening and drop open connections: clients get "connection refused"."""
        self._run(self._unserve())

    def up(self) -> None:
        """Listen again on the same port."""
        self._run(self._serve())

    def _run(self, coro: Any) -> Any:
        assert self._loop is not None, "server not started"
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=15)

    async def _serve(self) -> None:
        if self._runner is not None:
            return
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", self._port)
        await site.start()
        self._port = runner.addresses[0][1]
        self._runner = runner

    async def _unserve(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    # ---- controls ----------------------------------------------------------------------

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self.requests)

    def reset_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    def now(self) -> int:
        return int(time.time()) + self.clock_offset

    def advance(self, seconds: int) -> None:
        """Move the server clock (the `created` of new objects and events) forward."""
        with self._lock:
            self.clock_offset += seconds

    def fail_next(self, n: int = 1, status: int = 429, retry_after: float | None = None) -> None:
        """The next `n` requests get `status` (429: Stripe's rate-limit error, with a
        Retry-After header when given; 5xx: an api_error)."""
        with self._lock:
            header = None if retry_after is None else f"{retry_after:g}"
            self._failures.extend([(status, header)] * n)

    def stall(self, path_pattern: str) -> None:
        """Hold every request whose path fully matches `path_pattern` (a regex) until
        release_stall(); `stalled` lists the paths held so far."""
        # An Event binds to the loop on its first wait (Python 3.10+), so it can be made here;
        # it is set from the loop's thread (release_stall).
        gate = asyncio.Event()
        with self._lock:
            self._stall = re.compile(path_pattern)
            self._stall_gate = gate

    def release_stall(self) -> None:
        with self._lock:
            gate, self._stall, self._stall_gate = self._stall_gate, None, None
        if gate is not None:
            assert self._loop is not None
            self._loop.call_soon_threadsafe(gate.set)

    def release_events(self) -> None:
        """Make held events visible, keeping their (older) `created`: late arrivals."""
        with self._lock:
            self._visible.extend(self._held)
            self._held.clear()

    def add_session(
        self,
        email: str,
        seats: int = 1,
        price_id: str = DEFAULT_PRICE,
        *,
        product_id: str = DEFAULT_PRODUCT,
        client_reference_id: str | None = None,
        paid: bool = True,
        currency: str = "eur",
        unit_amount: int = 4900,
        name: str = "",
        status: str = "complete",
        mode: str = "payment",
        extra_items: Iterable[Mapping[str, Any]] = (),
        customer: bool = False,
        receipt_number: str | None = None,
        locale: str | None = None,
        preferred_locales: Iterable[str] = (),
        events: bool = True,
    ) -> dict[str, Any]:
        """A Checkout Session for `seats` x `price_id` (+ `extra_items`, each a mapping with
        price_id, product_id, quantity, unit_amount). paid=False: an async payment still
        pending (complete/unpaid; `pay_async` settles it). customer=True also creates a
        Customer with this email and links it. Emits payment_intent.succeeded and
        checkout.session.completed as Stripe does. Returns a copy of the session."""
        with self._lock:
            created = self.now()
            items = [self._item(price_id, product_id, seats, unit_amount, currency)]
            for extra in extra_items:
                items.append(
                    self._item(
                        str(extra.get("price_id", "price_other")),
                        str(extra.get("product_id", "prod_other")),
                        int(extra.get("quantity", 1)),
                        int(extra.get("unit_amount", 1000)),
                        currency,
                    )
                )
            total = sum(i["amount_total"] for i in items)
            customer_id = None
            if customer:
                created_customer = self._customer(email, name)
                created_customer["preferred_locales"] = list(preferred_locales)
                customer_id = created_customer["id"]
            session = example("checkout.session")
            session_id = self._new_id("cs_test_", 58)
            pi = None
            if status == "complete" and mode == "payment":
                pi = self._payment_intent(
                    total,
                    currency,
                    customer_id,
                    {},
                    None,
                    succeeded=paid,
                    email=email,
                    name=name,
                    receipt_number=receipt_number,
                )
            session.update(
                id=session_id,
                created=created,
                expires_at=created + 86400,
                amount_subtotal=total,
                amount_total=total,
                currency=currency,
                client_reference_id=client_reference_id,
                customer=customer_id,
                customer_email=None,
                customer_creation="if_required",
                mode=mode,
                payment_intent=pi["id"] if pi else None,
                payment_status="paid" if (paid and status == "complete") else "unpaid",
                status=status,
                url=None if status != "open" else session["url"].replace(session["id"], session_id),
                shipping_cost=None,
                total_details={"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
                currency_conversion=None,
                invoice_creation=None,
                metadata={},
                locale=locale,
            )
            session["customer_details"].update(email=email, name=name or None)
            self._store(self._sessions, session)
            self._line_items[session_id] = items
            if events and pi is not None and paid:
                self._emit("payment_intent.succeeded", pi)
            if events and status == "complete":
                self._emit("checkout.session.completed", session)
            return copy.deepcopy(session)

    def pay_async(self, session_id: str) -> dict[str, Any]:
        """Settle a pending async payment: the session becomes paid."""
        with self._lock:
            session = self._sessions[session_id]
            pi = self._intents[session["payment_intent"]]
            details = session["customer_details"]
            self._succeed(pi, details["email"], details["name"] or "")
            session["payment_status"] = "paid"
            self._emit("payment_intent.succeeded", pi)
            self._emit("checkout.session.async_payment_succeeded", session)
            return copy.deepcopy(session)

    def add_payment_intent(
        self,
        seats: int | None,
        amount: int,
        *,
        currency: str = "eur",
        receipt_email: str | None = None,
        metadata: Mapping[str, str] | None = None,
        customer_email: str | None = None,
        name: str = "",
        succeeded: bool = True,
        events: bool = True,
    ) -> dict[str, Any]:
        """A custom-checkout PaymentIntent (metadata.seats = seats unless None)."""
        with self._lock:
            meta = dict(metadata or {})
            if seats is not None:
                meta["seats"] = str(seats)
            customer_id = self._customer(customer_email, name)["id"] if customer_email else None
            pi = self._payment_intent(
                amount,
                currency,
                customer_id,
                meta,
                receipt_email,
                succeeded=succeeded,
                email=receipt_email or customer_email or "",
                name=name,
            )
            if events and succeeded:
                self._emit("payment_intent.succeeded", pi)
            return copy.deepcopy(pi)

    def refund(self, ref: str, amount: int | None = None) -> dict[str, Any]:
        """Refund `amount` (default: what is left) of the charge behind a cs_/pi_/ch_ id;
        emits charge.refunded. Returns the refund."""
        with self._lock:
            return copy.deepcopy(self._refund(self._charge_for(ref), amount))

    def dispute(
        self, ref: str, status: str = "needs_response", reason: str = "fraudulent"
    ) -> dict[str, Any]:
        """Open a dispute on the charge behind a cs_/pi_/ch_ id; emits charge.dispute.created."""
        with self._lock:
            charge = self._charge_for(ref)
            dispute = example("dispute")
            dispute.update(
                id=self._new_id("dp_", 24),
                amount=charge["amount"],
                charge=charge["id"],
                payment_intent=charge["payment_intent"],
                currency=charge["currency"],
                created=self.now(),
                status=status,
                reason=reason,
                is_charge_refundable=False,
            )
            self._store(self._disputes, dispute)
            charge["disputed"] = True
            self._emit("charge.dispute.created", dispute)
            return copy.deepcopy(dispute)

    def close_dispute(self, dispute_id: str, status: str = "lost") -> dict[str, Any]:
        """Close a dispute as won or lost; emits charge.dispute.closed."""
        with self._lock:
            dispute = self._disputes[dispute_id]
            dispute["status"] = status
            self._emit("charge.dispute.closed", dispute)
            return copy.deepcopy(dispute)

    def session(self, session_id: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._sessions[session_id])

    def charge_of(self, ref: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._charge_for(ref))

    def event_ids(self) -> list[str]:
        """Visible event ids, oldest first."""
        with self._lock:
            return self._sorted(self._visible, self._events)[::-1]

    # ---- object construction (caller holds the lock) ------------------------------------

    def _new_id(self, prefix: str, length: int) -> str:
        return prefix + _rand(length)

    def _store(self, table: dict[str, dict[str, Any]], obj: dict[str, Any]) -> None:
        table[obj["id"]] = obj
        self._order[obj["id"]] = next(self._seq)

    def _item(
        self, price_id: str, product_id: str, quantity: int, unit_amount: int, currency: str
    ) -> dict[str, Any]:
        item = example("item")
        amount = quantity * unit_amount
        item.update(
            id=self._new_id("li_", 24),
            amount_discount=0,
            amount_subtotal=amount,
            amount_tax=0,
            amount_total=amount,
            currency=currency,
            description="Amphis Customer seat" if product_id == DEFAULT_PRODUCT else "Other",
            quantity=quantity,
            adjustable_quantity=None,
        )
        item["price"].update(
            id=price_id,
            product=product_id,
            currency=currency,
            unit_amount=unit_amount,
            unit_amount_decimal=str(unit_amount),
            type="one_time",
            recurring=None,
            transform_quantity=None,
            created=self.now(),
        )
        return item

    def _customer(self, email: str | None, name: str) -> dict[str, Any]:
        customer = example("customer")
        customer.update(
            id=self._new_id("cus_", 14),
            email=email,
            name=name or None,
            created=self.now(),
            discount=None,
            currency=None,
            invoice_prefix=_rand(8).upper(),
        )
        self._store(self._customers, customer)
        return customer

    def _payment_intent(
        self,
        amount: int,
        currency: str,
        customer_id: str | None,
        metadata: dict[str, str],
        receipt_email: str | None,
        *,
        succeeded: bool,
        email: str,
        name: str,
        receipt_number: str | None = None,
    ) -> dict[str, Any]:
        pi = example("payment_intent")
        pi_id = self._new_id("pi_", 24)
        pi.update(
            id=pi_id,
            amount=amount,
            amount_received=0,
            currency=currency,
            customer=customer_id,
            metadata=metadata,
            receipt_email=receipt_email,
            created=self.now(),
            canceled_at=None,
            client_secret=f"{pi_id}_secret_{_rand(24)}",
            last_payment_error=None,
            next_action=None,
            processing=None,
            payment_method=None,
            status="processing",
            latest_charge=None,
            transfer_data=None,
        )
        self._store(self._intents, pi)
        if succeeded:
            self._succeed(pi, email, name, receipt_number)
        return pi

    def _succeed(
        self, pi: dict[str, Any], email: str, name: str, receipt_number: str | None = None
    ) -> None:
        charge = example("charge")
        charge.update(
            id=self._new_id("ch_", 24),
            amount=pi["amount"],
            amount_captured=pi["amount"],
            amount_refunded=0,
            captured=True,
            paid=True,
            currency=pi["currency"],
            customer=pi["customer"],
            payment_intent=pi["id"],
            payment_method=self._new_id("pm_", 24),
            receipt_email=pi["receipt_email"] or email or None,
            receipt_number=receipt_number
            or f"{random.randint(1000, 9999)}-{random.randint(1000, 9999)}",
            refunded=False,
            disputed=False,
            status="succeeded",
            created=self.now(),
            description=None,
            source=None,
            transfer_data=None,
            balance_transaction=self._new_id("txn_", 24),
        )
        charge["billing_details"].update(email=email or None, name=name or None)
        charge["refunds"] = {
            "object": "list",
            "data": [],
            "has_more": False,
            "url": f"/v1/charges/{charge['id']}/refunds",
        }
        self._store(self._charges, charge)
        pi.update(
            status="succeeded",
            amount_received=pi["amount"],
            latest_charge=charge["id"],
            payment_method=charge["payment_method"],
        )

    def _charge_for(self, ref: str) -> dict[str, Any]:
        if ref.startswith("cs_"):
            ref = self._sessions[ref]["payment_intent"]
        if ref.startswith("pi_"):
            ref = self._intents[ref]["latest_charge"]
        if not ref or ref not in self._charges:
            raise KeyError(f"no charge behind {ref!r}")
        return self._charges[ref]

    def _refund(self, charge: dict[str, Any], amount: int | None) -> dict[str, Any]:
        left = charge["amount"] - charge["amount_refunded"]
        amount = left if amount is None else amount
        if amount <= 0 or amount > left:
            raise StripeErrorResponse(
                400,
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left})",
                code="amount_too_large" if amount > 0 else "parameter_invalid_integer",
                param="amount",
            )
        refund = example("refund")
        refund.update(
            id=self._new_id("re_", 24),
            amount=amount,
            charge=charge["id"],
            payment_intent=charge["payment_intent"],
            currency=charge["currency"],
            created=self.now(),
            status="succeeded",
            receipt_number=None,
            balance_transaction=self._new_id("txn_", 24),
        )
        self._store(self._refunds, refund)
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
        charge["refunds"]["data"].insert(0, copy.deepcopy(refund))
        self._emit("refund.created", refund)
        self._emit("charge.refunded", charge)
        return refund

    def _emit(self, type_: str, obj: Mapping[str, Any]) -> dict[str, Any]:
        event = example("event")
        event.update(
            id=self._new_id("evt_", 24),
            type=type_,
            created=self.now(),
            data={"object": copy.deepcopy(dict(obj))},  # a snapshot: stale by design later
            api_version="2026-10-28.endive",
            request={"id": f"req_{_rand(14)}", "idempotency_key": None},
            pending_webhooks=0,
        )
        self._store(self._events, event)
        (self._held if self.hold_events else self._visible).append(event["id"])
        return event

    # ---- HTTP --------------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.Response:
        body: list[tuple[str, str]] = []
        with self._lock:
            gate = self._stall_gate
            held = gate is not None and bool(self._stall and self._stall.fullmatch(request.path))
            if held:
                self.stalled.append(request.path)
        if held and gate is not None:
            await gate.wait()
        if request.method == "POST":
            form = await request.post()
            body = [(k, str(v)) for k, v in form.items()]
        with self._lock:
            self.requests.append((request.method, request.path_qs))
            try:
                if self._failures:
                    status, retry_after = self._failures.pop(0)
                    headers = {"Retry-After": retry_after} if retry_after else {}
                    if status == 429:
                        raise StripeErrorResponse(
                            429,
                            "Too many requests hit the API too quickly.",
                            code="rate_limit",
                            headers=headers,
                        )
                    raise StripeErrorResponse(
                        status,
                        "Something went wrong on Stripe's end.",
                        type_="api_error",
                        headers=headers,
                    )
                self._authenticate(request)
                params = parse_params(list(request.query.items()) + body)
                result = self._route(request.method, request.path, params)
                return web.json_response(result, headers={"Request-Id": f"req_{_rand(14)}"})
            except StripeErrorResponse as exc:
                return web.json_response(exc.body, status=exc.status, headers=exc.headers)

    def _authenticate(self, request: web.Request) -> None:
        header = request.headers.get("Authorization", "")
        scheme, _, key = header.partition(" ")
        ok = scheme == "Bearer" and key.startswith("sk_test_") and len(key) > 8
        if ok and self.api_key is not None:
            ok = key == self.api_key
        if not ok:
            raise StripeErrorResponse(
                401,
                "Invalid API Key provided" if header else "You did not provide an API key.",
                type_="invalid_request_error",
            )

    _ROUTES: tuple[tuple[str, str, str], ...] = (
        ("GET", r"/v1/checkout/sessions", "list_sessions"),
        ("GET", r"/v1/checkout/sessions/(?P<id>[^/]+)", "get_session"),
        ("GET", r"/v1/checkout/sessions/(?P<id>[^/]+)/line_items", "list_line_items"),
        ("GET", r"/v1/events", "list_events"),
        ("GET", r"/v1/events/(?P<id>[^/]+)", "get_event"),
        ("GET", r"/v1/charges/(?P<id>[^/]+)", "get_charge"),
        ("GET", r"/v1/payment_intents", "list_payment_intents"),
        ("GET", r"/v1/payment_intents/(?P<id>[^/]+)", "get_payment_intent"),
        ("GET", r"/v1/customers", "list_customers"),
        ("GET", r"/v1/customers/(?P<id>[^/]+)", "get_customer"),
        ("GET", r"/v1/disputes", "list_disputes"),
        ("GET", r"/v1/disputes/(?P<id>[^/]+)", "get_dispute"),
        ("POST", r"/v1/refunds", "create_refund"),
        ("GET", r"/v1/refunds/(?P<id>[^/]+)", "get_refund"),
        *BillingMixin._BILLING_ROUTES,
    )

    def _route(self, method: str, path: str, params: dict[str, Any]) -> dict[str, Any]:
        for route_method, pattern, name in self._ROUTES:
            match = re.fullmatch(pattern, path)
            if match and method == route_method:
                handler = getattr(self, "_h_" + name)
                return handler(params, **match.groupdict())  # type: ignore[no-any-return]
        raise StripeErrorResponse(
            404, f"Unrecognized request URL ({method}: {path}).", type_="invalid_request_error"
        )

    # handlers (lock held)

    _LIST = {"limit", "starting_after", "ending_before", "expand"}

    def _h_list_sessions(self, params: dict[str, Any]) -> dict[str, Any]:
        self._check(
            params,
            self._LIST
            | {
                "created",
                "customer",
                "customer_account",
                "customer_details",
                "payment_intent",
                "payment_link",
                "status",
                "subscription",
            },
        )
        rows = list(self._sessions.values())
        if "status" in params:
            rows = [s for s in rows if s["status"] == params["status"]]
        if "customer" in params:
            rows = [s for s in rows if s["customer"] == params["customer"]]
        if "payment_intent" in params:
            rows = [s for s in rows if s["payment_intent"] == params["payment_intent"]]
        if "customer_details" in params:
            details = params["customer_details"]
            if not isinstance(details, dict) or set(details) != {"email"}:
                raise StripeErrorResponse(400, "Invalid customer_details", param="customer_details")
            rows = [
                s for s in rows if (s["customer_details"] or {}).get("email") == details["email"]
            ]
        rows = self._created(rows, params)
        if self.refuse_list_line_items and "data.line_items" in (params.get("expand") or []):
            raise StripeErrorResponse(
                400, "This property cannot be expanded (line_items).", param="expand"
            )
        return self._list("/v1/checkout/sessions", rows, params)

    def _h_get_session(self, params: dict[str, Any], id: str) -> dict[str, Any]:
        self._check(params, {"expand"})
        return self._expand(
            copy.deepcopy(self._get(self._sessions, id, "checkout.session")), params
        )

    def _h_list_line_items(self, params: dict[str, Any], id: str) -> dict[str, Any]:
        self._check(params, self._LIST)
        self._get(self._sessions, id, "checkout.session")
        items = self._line_items[id]
        return self._page(f"/v1/checkout/sessions/{id}/line_items", items, params)

    def _h_list_events(self, params: dict[str, Any]) -> dict[str, Any]:
        self._check(params, self._LIST | {"created", "delivery_success", "type", "types"})
        if "type" in params and "types" in params:
            raise StripeErrorResponse(
                400, "You may pass either `type` or `types`, but not both.", param="types"
            )
        rows = [self._events[i] for i in self._visible]
        if "types" in params:
            wanted = params["types"]
            if not isinstance(wanted, list) or not 1 <= len(wanted) <= 20:
                raise StripeErrorResponse(
                    400, "types must be an array of up to 20 strings", param="types"
                )
            rows = [e for e in rows if e["type"] in wanted]
        if "type" in params:
            pattern = re.escape(params["type"]).replace(r"\*", ".*")
            rows = [e for e in rows if re.fullmatch(pattern, e["type"])]
        rows = self._created(rows, params)
        result = self._list("/v1/events", rows, params)
        data = result["data"]
        if len(data) > 1 and (self.emit_duplicate_events or self.shuffle_events):
            head, last = data[:-1], data[-1]
            if self.emit_duplicate_events:
                head = [copy.deepcopy(e) for e in head for _ in range(2)]
            if self.shuffle_events:
                random.shuffle(head)
            result["data"] = head + [last]
        return result

    def _h_get_event(self, params: dict[str, Any], id: str) -> dict[str, Any]:
        self._check(params, {"expand"})
        if id in self._held:
            raise StripeErrorResponse(
                404, f"No such event: '{id}'", code="resource_missing", param="id"
            )
        return self._expand(copy.deepcopy(self._get(self._events, id, "event")), params)

    def _h_get_charge(self, params: dict[str, Any], id: str) -> dict[str, Any]:
        self._check(params, {"expand"})
        return self._expand(copy.deepcopy(self._get(self._charges, id, "charge")), params)

    def _h_list_payment_intents(self, params: dict[str, Any]) -> dict[str, Any]:
        self._check(params, self._LIST | {"created", "customer", "customer_account"})
        rows = list(self._intents.values())
        if "customer" in params:
            rows = [p for p in rows if p["customer"] == params["customer"]]
        rows = self._created(rows, params)
        return self._list("/v1/payment_intents", rows, params)

    def _h_get_payment_intent(self, params: dict[str, Any], id: str) -> dict[str, Any]:
        self._check(params, {"expand", "client_secret"})
        return self._expand(copy.deepcopy(self._get(self._intents, id, "payment_intent")), params)

    def _h_list_customers(self, params: dict[str, Any]) -> dict[str, Any]:
        self._check(params, self._LIST | {"created", "email", "test_clock"})
        rows = list(self._customers.values())
        if "email" in params:  # exact and case-sensitive, as Stripe documents
            rows = [c for c in rows if c["email"] == params["email"]]
        rows = self._created(rows, params)
        return self._list("/v1/customers", rows, params)

    def _h_get_customer(self, params: dict[str, Any], id: str) -> dict[str, Any]:
        self._check(params, {"expand"})
        return self._expand(copy.deepcopy(self._get(self._customers, id, "customer")), params)

    def _h_list_disputes(self, params: dict[str, Any]) -> dict[str, Any]:
        self._check(params, self._LIST | {"created", "charge", "payment_intent"})
        rows = list(self._disputes.values())
        for key in ("charge", "payment_intent"):
            if key in params:
                rows = [d for d in rows if d[key] == params[key]]
        rows = self._created(rows, params)
        return self._list("/v1/disputes", rows, params)

    def _h_get_dispute(self, params: dict[str, Any], id: str) -> dict[str, Any]:
        self._check(params, {"expand"})
        return self._expand(copy.deepcopy(self._get(self._disputes, id, "dispute")), params)

    def _h_create_refund(self, params: dict[str, Any]) -> dict[str, Any]:
        self._check(params, {"charge", "payment_intent", "amount", "reason", "metadata", "expand"})
        ref = params.get("charge") or params.get("payment_intent")
        if not ref:
            raise StripeErrorResponse(400, "One of `charge` or `payment_intent` is required.")
        try:
            charge = self._charge_for(str(ref))
        except KeyError:
            raise StripeErrorResponse(
                404, f"No such charge: '{ref}'", code="resource_missing"
            ) from None
        amount = params.get("amount")
        if amount is not None and not str(amount).isdigit():
            raise StripeErrorResponse(400, "Invalid integer: amount", param="amount")
        refund = self._refund(charge, None if amount is None else int(amount))
        return self._expand(copy.deepcopy(refund), params)

    def _h_get_refund(self, params: dict[str, Any], id: str) -> dict[str, Any]:
        self._check(params, {"expand"})
        return self._expand(copy.deepcopy(self._get(self._refunds, id, "refund")), params)

    # list / expand machinery

    def _check(self, params: Mapping[str, Any], allowed: set[str]) -> None:
        for key in params:
            if key not in allowed:
                raise StripeErrorResponse(400, f"Received unknown parameter: {key}", param=key)
        if "ending_before" in params:
            raise StripeErrorResponse(400, "ending_before is not supported by this test server")

    def _get(self, table: Mapping[str, dict[str, Any]], id: str, kind: str) -> dict[str, Any]:
        if id not in table:
            raise StripeErrorResponse(
                404, f"No such {kind}: '{id}'", code="resource_missing", param="id"
            )
        return table[id]

    def _created(
        self, rows: list[dict[str, Any]], params: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        created = params.get("created")
        if created is None:
            return rows
        if isinstance(created, str):
            return [r for r in rows if r["created"] == int(created)]
        tests = {
            "gt": lambda a, b: a > b,
            "gte": lambda a, b: a >= b,
            "lt": lambda a, b: a < b,
            "lte": lambda a, b: a <= b,
        }
        for op, bound in created.items():
            if op not in tests or not str(bound).lstrip("-").isdigit():
                raise StripeErrorResponse(400, f"Invalid created[{op}]", param="created")
            rows = [r for r in rows if tests[op](r["created"], int(bound))]
        return rows

    def _sorted(self, ids: Iterable[str], table: Mapping[str, dict[str, Any]]) -> list[str]:
        return sorted(ids, key=lambda i: (table[i]["created"], self._order[i]), reverse=True)

    def _list(
        self, url: str, rows: list[dict[str, Any]], params: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Newest first, as Stripe lists."""
        rows = sorted(rows, key=lambda r: (r["created"], self._order[r["id"]]), reverse=True)
        return self._page(url, rows, params)

    def _page(
        self, url: str, rows: list[dict[str, Any]], params: Mapping[str, Any]
    ) -> dict[str, Any]:
        raw_limit = str(params.get("limit", "10"))
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 100:
            raise StripeErrorResponse(
                400, "Invalid limit: must be between 1 and 100", param="limit"
            )
        limit = int(raw_limit)
        start = 0
        after = params.get("starting_after")
        if after is not None:
            ids = [r["id"] for r in rows]
            if after not in ids:
                raise StripeErrorResponse(
                    400,
                    f"Invalid starting_after: no such object {after!r} in this list",
                    param="starting_after",
                )
            start = ids.index(after) + 1
        chunk = rows[start : start + limit]
        result = {
            "object": "list",
            "data": [copy.deepcopy(r) for r in chunk],
            "has_more": start + limit < len(rows),
            "url": url,
        }
        return self._expand(result, params)

    def _resolve(self, value: str) -> dict[str, Any] | None:
        for table in (
            self._intents,
            self._charges,
            self._customers,
            self._sessions,
            self._refunds,
            self._disputes,
            self._subscriptions,
            self._invoices,
        ):
            if value in table:
                return copy.deepcopy(table[value])
        return None

    def _expand(self, obj: dict[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        paths = params.get("expand") or []
        if not isinstance(paths, list):
            raise StripeErrorResponse(400, "expand must be an array", param="expand")
        for path in paths:
            parts = str(path).split(".")
            depth = len([p for p in parts if p != "data"])
            if depth > 4:
                raise StripeErrorResponse(
                    400, "You cannot expand more than 4 levels of a property", param="expand"
                )
            self._expand_path(obj, parts, str(path))
        return obj

    def _expand_path(self, obj: dict[str, Any], parts: list[str], path: str) -> None:
        key, rest = parts[0], parts[1:]
        if obj.get("object") == "list" and key == "data":
            if rest:
                for item in obj["data"]:
                    self._expand_path(item, rest, path)
            return
        if key == "line_items" and obj.get("object") == "checkout.session":
            items = self._line_items[obj["id"]]
            n = self.expanded_line_items
            obj["line_items"] = {
                "object": "list",
                "data": copy.deepcopy(items[:n]),
                "has_more": len(items) > n,
                "url": f"/v1/checkout/sessions/{obj['id']}/line_items",
            }
        elif key not in obj:
            raise StripeErrorResponse(
                400, f"This property cannot be expanded ({key}).", param="expand"
            )
        elif isinstance(obj[key], str):
            resolved = self._resolve(obj[key])
            if resolved is None:
                raise StripeErrorResponse(
                    400, f"This property cannot be expanded ({key}).", param="expand"
                )
            obj[key] = resolved
        if rest and isinstance(obj.get(key), dict):
            self._expand_path(obj[key], rest, path)


# --------------------------------------------------------------------------------------------
# localstripe in a subprocess

_LOCALSTRIPE_MAIN = r"""
import asyncio, sys
import localstripe.resources as resources

# localstripe pickles its whole store to the fixed path /tmp/localstripe.pickle on every
# change; keep this run's state in memory only so concurrent runs cannot see each other.
resources.Store.dump_to_disk = lambda self: None
resources.Store.try_load_from_disk = lambda self: None

from aiohttp import web
from localstripe.server import app

async def main():
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(runner.addresses[0][1], flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


class LocalStripe:
    """A localstripe server in its own process and working directory, on 127.0.0.1."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._proc: subprocess.Popen[str] | None = None
        self._log: Any = None
        self.url = ""

    def start(self, timeout: float = 20.0) -> LocalStripe:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.workdir / "localstripe.log", "w", encoding="utf-8")
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _LOCALSTRIPE_MAIN],
            cwd=self.workdir,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env=env,
        )
        assert self._proc.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self._proc.stdout, selectors.EVENT_READ)
            ready = selector.select(timeout)
        line = self._proc.stdout.readline().strip() if ready else ""
        if not line.isdigit():
            self.stop()
            log = (self.workdir / "localstripe.log").read_text(encoding="utf-8")[-2000:]
            raise RuntimeError(f"localstripe did not start within {timeout}s:\n{log}")
        self.url = f"http://127.0.0.1:{int(line)}"
        return self

    def flush(self) -> None:
        """Drop every object (localstripe's own DELETE /_config/data)."""
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        request = urllib.request.Request(self.url + "/_config/data", method="DELETE")
        with opener.open(request, timeout=10) as response:
            response.read()

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
            if proc.stdout is not None:
                proc.stdout.close()
        if self._log is not None:
            self._log.close()
            self._log = None


# --------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="session")
def _localstripe_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStripe]:
    server = LocalStripe(tmp_path_factory.mktemp("localstripe")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def localstripe(_localstripe_process: LocalStripe) -> str:
    """Base URL of a running localstripe with no objects in it."""
    _localstripe_process.flush()
    return _localstripe_process.url


@pytest.fixture
def stripe_checkout_server() -> Iterator[StripeCheckoutServer]:
    """A running StripeCheckoutServer (fresh state per test)."""
    server = StripeCheckoutServer().start()
    try:
        yield server
    finally:
        server.stop()
