"""Pure translation of Stripe JSON (plain dicts) into `Order`s, and the constants that shape it.

Two order shapes:
- a Checkout Session with mode=payment and status=complete whose line items carry a configured
  price or product (`payment_status=paid` gives a paid order, `unpaid` an async payment still
  on its way);
- a PaymentIntent with `metadata.seats` (custom checkouts), status succeeded.

Refunds and disputes hang off the PaymentIntent's latest charge and are applied to the order
(refunded, disputed, or whole seats removed by a partial refund).

Why a module of its own: this is where the business rules about Stripe objects live, and they
can be read and tested without a network, a server or the `stripe` library. Nothing here does
I/O; the functions take the dicts the HTTP layer (`http.py`) returned and the facade
(`source.py`) decides which objects to fetch.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mailbot.core.language import language_tag
from mailbot.core.model import Order, OrderStatus

# The events whose objects can create or change an order. Anything else on the account
# (invoices, payouts, ...) is not read at all.
EVENT_TYPES: tuple[str, ...] = (
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "payment_intent.succeeded",
    "charge.refunded",
    "charge.dispute.created",
    "charge.dispute.closed",
    # Subscriptions (issue 13): a new, changed or ended subscription, and an invoice paid
    # (the period moved forward) or failed; each names the Subscription, fetched again.
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "invoice.paid",
    "invoice.payment_failed",
)

PAGE_SIZE = 100  # Stripe's maximum page size: fewer round trips for the same data
SESSIONS_PATH = "/v1/checkout/sessions"
INTENTS_PATH = "/v1/payment_intents"
# Line items and the PaymentIntent's charge are expanded inline, so one request per page of 100
# carries everything an order needs (refunds included) instead of one or two per object.
# The customer comes along for its `preferred_locales`: the language of the replies.
SESSION_EXPAND = ["line_items", "payment_intent.latest_charge", "customer"]
SESSION_LIST_EXPAND = ["data.line_items", "data.payment_intent.latest_charge", "data.customer"]
PI_EXPAND = ["latest_charge", "customer"]
SUBSCRIPTIONS_PATH = "/v1/subscriptions"
SUBSCRIPTION_EXPAND = ["customer"]
SUBSCRIPTION_LIST_EXPAND = ["data.customer"]
# Stripe's statuses of a subscription whose seats are paid for (past_due: a renewal payment is
# being retried; the licenses still run to the period end plus grace). Every other status
# (canceled, unpaid, incomplete, incomplete_expired, paused) gives no seats.
_SUBSCRIPTION_PAID = frozenset({"active", "trialing", "past_due"})
# Months per recurring interval, to state what a subscription brings in a month.
_MONTHS_PER = {"day": 12 / 365, "week": 12 / 52, "month": 1.0, "year": 12.0}
PI_LIST_EXPAND = ["data.latest_charge", "data.customer"]
# A dispute that ended in our favour gives the seats back.
_DISPUTE_RESOLVED = frozenset({"won", "warning_closed", "prevented"})
_MAX_SEATS = 100_000  # a metadata.seats above this is a typo, not an order


def object_id(value: Any) -> str:
    """An expandable field's id, whether Stripe sent the id or the expanded object."""
    if isinstance(value, Mapping):
        return str(value.get("id") or "")
    return str(value or "")


def expanded(value: Any) -> Mapping[str, Any] | None:
    """An expandable field's object when it was expanded, else None."""
    return value if isinstance(value, Mapping) else None


def customer_language(customer: Mapping[str, Any] | None, checkout_locale: Any = "") -> str:
    """The customer's language: the first of the Customer's `preferred_locales` (what they
    chose), else the Checkout Session's `locale` (the page they paid on; "auto" says nothing)."""
    locales = (customer or {}).get("preferred_locales") or []
    for locale in locales[:8] if isinstance(locales, list) else []:
        tag = language_tag(str(locale))
        if tag:
            return tag
    return language_tag(str(checkout_locale or "")) if checkout_locale != "auto" else ""


def invoice_subscription(invoice: Mapping[str, Any]) -> str:
    """The id of the Subscription an invoice bills; "" for an invoice of none.

    API versions from 2025-03-31 (basil) name it under `parent.subscription_details`; older
    ones had a top-level `subscription`. An account's events come in its pinned version, so
    both are read."""
    parent = invoice.get("parent") or {}
    details = parent.get("subscription_details") if isinstance(parent, Mapping) else None
    if isinstance(details, Mapping) and details.get("subscription"):
        return object_id(details["subscription"])
    return object_id(invoice.get("subscription"))


def _when(ts: Any) -> datetime:
    return datetime.fromtimestamp(int(ts or 0), UTC)


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
    charge_id = object_id(charge)
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
        price_id = object_id(price)
        product_id = object_id(price.get("product")) if isinstance(price, Mapping) else ""
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
    pi = expanded(session.get("payment_intent"))
    pi_id = object_id(session.get("payment_intent"))
    charge = expanded(pi.get("latest_charge")) if pi else None
    if session.get("payment_status") in ("paid", "no_payment_required"):
        state = charge_state(charge, seats, seats_amount, disputes)
    else:
        state = ChargeState(OrderStatus.UNPAID, 0, object_id(charge), "")
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
        language=customer_language(expanded(session.get("customer")), session.get("locale")),
    )


def subscription_order(
    sub: Mapping[str, Any],
    price_ids: Iterable[str],
    product_ids: Iterable[str],
    *,
    session: Mapping[str, Any] | None = None,
) -> Order | None:
    """A Subscription as an Order (its id is the order id for every period), or None when
    none of its items is licensed.

    Seats are the quantities of the licensed items; the paid term ends at the current period's
    end (the subscription's `current_period_end`, or its items' in newer API versions).
    `customer` may be expanded (it gives the email). `session` is the Checkout Session with
    mode=subscription that created it, when known: its id, customer details and
    client_reference_id (a pay-link request) come with the order.
    """
    prices, products = set(price_ids), set(product_ids)
    items = list(((sub.get("items") or {}).get("data")) or [])
    seats = monthly = 0
    currency = str(sub.get("currency") or "")
    period_ends: list[int] = []
    period_starts: list[int] = []
    for item in items:
        price = item.get("price") or item.get("plan") or {}
        if not isinstance(price, Mapping):
            continue
        product_id = object_id(price.get("product"))
        if object_id(price) not in prices and not (product_id and product_id in products):
            continue
        quantity = int(item.get("quantity") or 0)
        seats += quantity
        monthly += round(quantity * _monthly(price))
        currency = currency or str(price.get("currency") or "")
        if item.get("current_period_end"):
            period_ends.append(int(item["current_period_end"]))
            period_starts.append(int(item.get("current_period_start") or 0))
    if seats <= 0:
        return None
    status = str(sub.get("status") or "")
    end = sub.get("current_period_end") or (min(period_ends) if period_ends else 0)
    if status == "past_due":
        # Stripe moves the period forward when it bills the next one, paid or not: a
        # subscription past due is paid only up to the start of its current period. Its
        # licenses keep running on their grace, and a renewal waits for the invoice paid.
        end = sub.get("current_period_start") or (min(period_starts) if period_starts else 0)
    customer = expanded(sub.get("customer")) or {}
    details = (session or {}).get("customer_details") or {}
    metadata = sub.get("metadata") or {}
    email = str(
        details.get("email") or customer.get("email") or metadata.get("email") or ""
    ).strip()
    aliases = tuple(a for a in (object_id(session) if session else "",) if a)
    return Order(
        order_id=str(sub["id"]),
        email=email.lower(),
        name=str(details.get("name") or customer.get("name") or ""),
        seats=seats,
        status=OrderStatus.PAID if status in _SUBSCRIPTION_PAID else OrderStatus.UNPAID,
        created=_when(sub.get("created") or sub.get("start_date")),
        currency=currency.lower(),
        source="stripe",
        client_reference_id=str((session or {}).get("client_reference_id") or ""),
        aliases=aliases,
        paid_until=_when(end).date() if end else None,
        subscription=status,
        cancel_at_period_end=bool(sub.get("cancel_at_period_end")),
        monthly_amount=monthly,
        language=customer_language(customer, (session or {}).get("locale")),
    )


def _monthly(price: Mapping[str, Any]) -> float:
    """A recurring price per month, minor units (a Price's unit_amount or a Plan's amount)."""
    recurring = price.get("recurring") or {}
    interval = str(recurring.get("interval") or price.get("interval") or "month")
    count = int(recurring.get("interval_count") or price.get("interval_count") or 1) or 1
    amount = int(price.get("unit_amount") or price.get("amount") or 0)
    return amount / (_MONTHS_PER.get(interval, 1.0) * count)


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
    customer = expanded(pi.get("customer")) or {}
    charge = expanded(pi.get("latest_charge"))
    email = (
        str(pi.get("receipt_email") or metadata.get("email") or customer.get("email") or "")
        .strip()
        .lower()
    )
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
        language=customer_language(customer),
    )


def mentions_email(obj: Mapping[str, Any], email: str) -> bool:
    """Whether a session or PaymentIntent names this email anywhere we read emails from."""
    details = obj.get("customer_details") or {}
    customer = expanded(obj.get("customer")) or {}
    metadata = obj.get("metadata") or {}
    candidates = (
        details.get("email"),
        obj.get("customer_email"),
        obj.get("receipt_email"),
        metadata.get("email"),
        customer.get("email"),
    )
    return any(str(c or "").strip().lower() == email for c in candidates)


def without_line_items(params: Mapping[str, Any]) -> dict[str, Any]:
    """List parameters with the `data.line_items` expansion dropped (the rest kept)."""
    expand = [e for e in params.get("expand", []) if e != "data.line_items"]
    return dict(params, expand=expand)


# Cursors are opaque strings the caller persists; the JSON inside names its kind so that a
# backfill cursor is never taken for an events cursor (or a stray string for either).


def encode_cursor(data: dict[str, Any]) -> str:
    """A cursor as a compact, stable JSON string (sorted keys: equal states, equal strings)."""
    return json.dumps(data, separators=(",", ":"), sort_keys=True)


def decode_cursor(cursor: str | None, kind: str) -> dict[str, Any] | None:
    """The state inside a cursor of `kind`; None for no cursor; ValueError for a foreign one."""
    if not cursor:
        return None
    try:
        data = json.loads(cursor)
    except ValueError:
        raise ValueError(f"not a Stripe {kind} cursor: {cursor[:60]!r}") from None
    if not isinstance(data, dict) or data.get("kind") != kind:
        raise ValueError(f"not a Stripe {kind} cursor: {cursor[:60]!r}")
    return data
