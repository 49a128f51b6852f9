"""Stripe Billing for the Checkout-compatible test server: Subscriptions, their Invoices,
Checkout Sessions with mode=subscription, and the events mailbot's sync reads.

Mixed into `StripeCheckoutServer` (stripe_server.py), whose lock, clock, tables, `_emit`,
`_list` and `_expand` it uses; every object is Stripe's example from fixtures3.json with ids,
amounts and states overridden.

Shapes follow the API version the server's events name (2025-03-31.basil and later): a
subscription's period is on its items (`items.data[].current_period_start/end`), an invoice
names its subscription under `parent.subscription_details.subscription`. With
`legacy_billing_fields = True` the server also writes the older top-level fields
(`current_period_*` on the subscription, `subscription` on the invoice), as accounts pinned
to an older version see them.

What Stripe does on a renewal, and the controls that play it:
- `renew_subscription(id)`: the period moves forward by one interval and a
  `subscription_cycle` invoice is created. Paid: `invoice.paid` and
  `customer.subscription.updated`. Unpaid (`paid=False`): the period moves all the same (as
  Stripe's does), the invoice stays open, `invoice.payment_failed`, and the subscription goes
  `past_due`; `pay_invoice(id)` settles it later.
- `update_subscription(id, quantity=, status=, cancel_at_period_end=)`: a change made in the
  Dashboard or the billing portal, `customer.subscription.updated`.
- `cancel_subscription(id)`: ended now, `customer.subscription.deleted`.
"""

from __future__ import annotations

import calendar
import copy
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from tests.servers.stripe_common import DEFAULT_PRICE, DEFAULT_PRODUCT, example

_ENDED = frozenset({"canceled", "incomplete_expired"})


def add_interval(ts: int, interval: str, count: int = 1) -> int:
    """`ts` moved forward by `count` intervals, by the calendar as Stripe bills (a month from
    31 January is the last day of February)."""
    when = datetime.fromtimestamp(ts, UTC)
    if interval == "day":
        return ts + 86400 * count
    if interval == "week":
        return ts + 7 * 86400 * count
    months = count * (12 if interval == "year" else 1)
    month0 = when.month - 1 + months
    year, month = when.year + month0 // 12, month0 % 12 + 1
    day = min(when.day, calendar.monthrange(year, month)[1])
    return int(when.replace(year=year, month=month, day=day).timestamp())


class BillingMixin:
    """Subscriptions and invoices for `StripeCheckoutServer` (see the module's docstring)."""

    legacy_billing_fields = False

    _BILLING_ROUTES: tuple[tuple[str, str, str], ...] = (
        ("GET", r"/v1/subscriptions", "list_subscriptions"),
        ("GET", r"/v1/subscriptions/(?P<id>[^/]+)", "get_subscription"),
        ("GET", r"/v1/invoices", "list_invoices"),
        ("GET", r"/v1/invoices/(?P<id>[^/]+)", "get_invoice"),
    )

    def _init_billing(self) -> None:
        self._subscriptions: dict[str, dict[str, Any]] = {}
        self._invoices: dict[str, dict[str, Any]] = {}
        self._sub_sessions: dict[str, str] = {}  # subscription id -> its Checkout Session

    # ---- controls ----------------------------------------------------------------------

    def add_subscription(
        self,
        email: str,
        quantity: int = 1,
        price_id: str = DEFAULT_PRICE,
        *,
        product_id: str = DEFAULT_PRODUCT,
        unit_amount: int = 900,
        currency: str = "eur",
        interval: str = "month",
        name: str = "",
        preferred_locales: Iterable[str] = (),
        checkout: bool = True,
        locale: str | None = None,
        client_reference_id: str | None = None,
        events: bool = True,
    ) -> dict[str, Any]:
        """A Customer with an active subscription of `quantity` x `price_id`, its first
        invoice paid. checkout=True: bought through a Checkout Session with
        mode=subscription (`checkout_session_of(sub id)`), with `locale` and
        `client_reference_id`. Returns a copy of the subscription."""
        with self._lock:
            now = self.now()
            customer = self._customer(email, name)
            customer["preferred_locales"] = list(preferred_locales)
            sub = example("subscription")
            sub_id = self._new_id("sub_", 24)
            end = add_interval(now, interval)
            item = self._sub_item(sub_id, price_id, product_id, quantity, unit_amount, currency)
            item["price"]["recurring"]["interval"] = interval
            item["plan"]["interval"] = interval
            sub.update(
                id=sub_id,
                created=now,
                start_date=now,
                billing_cycle_anchor=now,
                billing_cycle_anchor_config=None,
                cancel_at=None,
                cancel_at_period_end=False,
                canceled_at=None,
                ended_at=None,
                cancellation_details={"comment": None, "feedback": None, "reason": None},
                currency=currency,
                customer=customer["id"],
                customer_account=None,
                description=None,
                discounts=[],
                latest_invoice=None,
                metadata={},
                next_pending_invoice_item_invoice=None,
                pause_collection=None,
                pending_setup_intent=None,
                pending_update=None,
                schedule=None,
                status="active",
                test_clock=None,
                trial_end=None,
                trial_start=None,
            )
            sub["items"] = {
                "object": "list",
                "data": [item],
                "has_more": False,
                "url": f"/v1/subscription_items?subscription={sub_id}",
            }
            self._set_period(sub, now, end)
            self._store(self._subscriptions, sub)
            invoice = self._invoice(sub, "subscription_create", now, now, paid=True)
            if events:
                self._emit("customer.subscription.created", sub)
                self._invoice_events(invoice, created=True)
            if checkout:
                session = self.add_session(
                    email,
                    quantity,
                    price_id,
                    product_id=product_id,
                    client_reference_id=client_reference_id,
                    currency=currency,
                    unit_amount=unit_amount,
                    name=name,
                    mode="subscription",
                    events=False,
                )
                stored = self._sessions[session["id"]]
                stored.update(
                    customer=customer["id"],
                    subscription=sub_id,
                    invoice=invoice["id"],
                    payment_status="paid",
                    locale=locale,
                )
                for line in self._line_items[session["id"]]:
                    line["price"].update(
                        type="recurring",
                        recurring=copy.deepcopy(item["price"]["recurring"]),
                    )
                self._sub_sessions[sub_id] = session["id"]
                if events:
                    self._emit("checkout.session.completed", stored)
            return copy.deepcopy(sub)

    def renew_subscription(
        self, sub_id: str, *, paid: bool = True, subscription_event: bool = True
    ) -> dict[str, Any]:
        """The next period begins: a `subscription_cycle` invoice, paid or failed (see the
        module's docstring). subscription_event=False leaves out the
        customer.subscription.updated event (only the invoice's event names the change).
        Returns the invoice."""
        with self._lock:
            sub = self._subscriptions[sub_id]
            item = sub["items"]["data"][0]
            old_start, old_end = item["current_period_start"], item["current_period_end"]
            recurring = item["price"]["recurring"]
            new_end = add_interval(old_end, recurring["interval"], recurring["interval_count"])
            previous = self._period_fields(sub)
            self._set_period(sub, old_end, new_end)
            invoice = self._invoice(sub, "subscription_cycle", old_start, old_end, paid=paid)
            if not paid and sub["status"] != "past_due":
                previous["status"] = sub["status"]
                sub["status"] = "past_due"
            elif paid and sub["status"] != "active":
                previous["status"] = sub["status"]
                sub["status"] = "active"
            self._invoice_events(invoice, created=True)
            if subscription_event:
                self._updated(sub, previous)
            return copy.deepcopy(invoice)

    def pay_invoice(self, invoice_id: str) -> dict[str, Any]:
        """An open invoice paid at last (a retry succeeded): the subscription is active."""
        with self._lock:
            invoice = self._invoices[invoice_id]
            self._settle(invoice, self.now())
            self._invoice_events(invoice, created=False)
            sub = self._subscriptions[self._sub_of(invoice)]
            if sub["status"] != "active":
                previous = {"status": sub["status"]}
                sub["status"] = "active"
                self._updated(sub, previous)
            return copy.deepcopy(invoice)

    def update_subscription(
        self,
        sub_id: str,
        *,
        quantity: int | None = None,
        status: str | None = None,
        cancel_at_period_end: bool | None = None,
    ) -> dict[str, Any]:
        """A change made in the Dashboard or portal; emits customer.subscription.updated."""
        with self._lock:
            sub = self._subscriptions[sub_id]
            previous: dict[str, Any] = {}
            if quantity is not None:
                item = sub["items"]["data"][0]
                previous["items"] = copy.deepcopy(sub["items"])
                item["quantity"] = quantity
            if status is not None:
                previous["status"] = sub["status"]
                sub["status"] = status
            if cancel_at_period_end is not None:
                previous["cancel_at_period_end"] = sub["cancel_at_period_end"]
                sub["cancel_at_period_end"] = cancel_at_period_end
                sub["cancel_at"] = (
                    sub["items"]["data"][0]["current_period_end"] if cancel_at_period_end else None
                )
            self._updated(sub, previous)
            return copy.deepcopy(sub)

    def cancel_subscription(self, sub_id: str) -> dict[str, Any]:
        """Cancelled now (not at the period end); emits customer.subscription.deleted."""
        with self._lock:
            sub = self._subscriptions[sub_id]
            now = self.now()
            sub.update(status="canceled", canceled_at=now, ended_at=now)
            sub["cancellation_details"]["reason"] = "cancellation_requested"
            self._emit("customer.subscription.deleted", sub)
            return copy.deepcopy(sub)

    def subscription(self, sub_id: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._subscriptions[sub_id])

    def checkout_session_of(self, sub_id: str) -> str:
        with self._lock:
            return self._sub_sessions[sub_id]

    # ---- object construction (lock held) -----------------------------------------------

    def _sub_item(
        self,
        sub_id: str,
        price_id: str,
        product_id: str,
        quantity: int,
        unit_amount: int,
        currency: str,
    ) -> dict[str, Any]:
        item = example("subscription_item")
        now = self.now()
        item.update(
            id=self._new_id("si_", 14),
            created=now,
            quantity=quantity,
            subscription=sub_id,
            billing_thresholds=None,
            discounts=[],
            tax_rates=[],
            metadata={},
        )
        item["price"].update(
            id=price_id,
            product=product_id,
            currency=currency,
            unit_amount=unit_amount,
            unit_amount_decimal=str(unit_amount),
            created=now,
            transform_quantity=None,
            type="recurring",
        )
        item["price"]["recurring"].update(interval_count=1, usage_type="licensed", meter=None)
        # The Plan is the Price's older twin, still sent beside it.
        item["plan"].update(
            id=price_id,
            product=product_id,
            amount=unit_amount,
            amount_decimal=str(unit_amount),
            currency=currency,
            billing_scheme="per_unit",
            interval_count=1,
            livemode=False,
            created=now,
            metadata={},
            tiers_mode=None,
            transform_usage=None,
        )
        return item

    def _period_fields(self, sub: dict[str, Any]) -> dict[str, Any]:
        previous: dict[str, Any] = {"items": copy.deepcopy(sub["items"])}
        if self.legacy_billing_fields:
            previous["current_period_start"] = sub["current_period_start"]
            previous["current_period_end"] = sub["current_period_end"]
        return previous

    def _set_period(self, sub: dict[str, Any], start: int, end: int) -> None:
        for item in sub["items"]["data"]:
            item.update(current_period_start=start, current_period_end=end)
        if self.legacy_billing_fields:
            sub.update(current_period_start=start, current_period_end=end)

    def _invoice(
        self, sub: dict[str, Any], reason: str, start: int, end: int, *, paid: bool
    ) -> dict[str, Any]:
        now = self.now()
        customer = self._customers[sub["customer"]]
        invoice = example("invoice")
        invoice_id = self._new_id("in_", 24)
        lines, total = [], 0
        for item in sub["items"]["data"]:
            line = example("line_item")
            amount = item["quantity"] * item["price"]["unit_amount"]
            total += amount
            line.update(
                id=self._new_id("il_", 24),
                invoice=invoice_id,
                amount=amount,
                currency=sub["currency"],
                description=f"{item['quantity']} × Amphis Customer seat",
                quantity=item["quantity"],
                period={
                    "start": item["current_period_start"],
                    "end": item["current_period_end"],
                },
                parent={
                    "type": "subscription_item_details",
                    "invoice_item_details": None,
                    "subscription_item_details": {
                        "invoice_item": None,
                        "proration": False,
                        "proration_details": {"credited_items": None},
                        "subscription": sub["id"],
                        "subscription_item": item["id"],
                    },
                },
                pricing={
                    "type": "price_details",
                    "price_details": {
                        "price": item["price"]["id"],
                        "product": item["price"]["product"],
                    },
                    "unit_amount_decimal": str(item["price"]["unit_amount"]),
                },
                metadata={},
                discounts=[],
                discount_amounts=[],
            )
            for old in ("subscription", "subscription_item", "type", "proration", "plan"):
                line.pop(old, None)
            lines.append(line)
        invoice.update(
            id=invoice_id,
            created=now,
            effective_at=now,
            customer=customer["id"],
            customer_email=customer["email"],
            customer_name=customer["name"],
            currency=sub["currency"],
            billing_reason=reason,
            collection_method="charge_automatically",
            amount_due=total,
            amount_paid=0,
            amount_remaining=total,
            subtotal=total,
            total=total,
            subtotal_excluding_tax=total,
            total_excluding_tax=total,
            attempted=True,
            attempt_count=1,
            auto_advance=True,
            due_date=None,
            from_invoice=None,
            last_finalization_error=None,
            latest_revision=None,
            automatically_finalizes_at=None,
            number=f"{customer['invoice_prefix']}-{len(self._invoices) + 1:04d}",
            period_start=start,
            period_end=end,
            status="open",
            next_payment_attempt=now + 3 * 86400,
            test_clock=None,
            metadata={},
            parent={
                "type": "subscription_details",
                "quote_details": None,
                "subscription_details": {
                    "metadata": {},
                    "subscription": sub["id"],
                    "subscription_proration_date": None,
                },
            },
        )
        invoice["lines"] = {
            "object": "list",
            "data": lines,
            "has_more": False,
            "url": f"/v1/invoices/{invoice_id}/lines",
        }
        invoice["status_transitions"] = {
            "finalized_at": now,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        }
        if self.legacy_billing_fields:
            invoice["subscription"] = sub["id"]
        else:
            invoice.pop("subscription", None)
        if paid:
            self._settle(invoice, now)
        self._store(self._invoices, invoice)
        sub["latest_invoice"] = invoice_id
        return invoice

    def _settle(self, invoice: dict[str, Any], now: int) -> None:
        invoice.update(
            status="paid",
            amount_paid=invoice["amount_due"],
            amount_remaining=0,
            next_payment_attempt=None,
            auto_advance=False,
        )
        invoice["status_transitions"]["paid_at"] = now

    def _sub_of(self, invoice: dict[str, Any]) -> str:
        return str(invoice["parent"]["subscription_details"]["subscription"])

    def _invoice_events(self, invoice: dict[str, Any], *, created: bool) -> None:
        if created:
            self._emit("invoice.created", invoice)
            self._emit("invoice.finalized", invoice)
        if invoice["status"] == "paid":
            self._emit("invoice.paid", invoice)
            self._emit("invoice.payment_succeeded", invoice)
        else:
            self._emit("invoice.payment_failed", invoice)

    def _updated(self, sub: dict[str, Any], previous: dict[str, Any]) -> None:
        event = self._emit("customer.subscription.updated", sub)
        event["data"]["previous_attributes"] = previous

    # ---- handlers (lock held) ----------------------------------------------------------

    def _h_list_subscriptions(self, params: dict[str, Any]) -> dict[str, Any]:
        self._check(
            params,
            self._LIST
            | {"created", "customer", "customer_account", "price", "status", "test_clock"},
        )
        rows = list(self._subscriptions.values())
        status = params.get("status")
        # Without a status Stripe lists every subscription that has not ended.
        if status is None:
            rows = [s for s in rows if s["status"] not in _ENDED]
        elif status == "ended":
            rows = [s for s in rows if s["status"] in _ENDED]
        elif status != "all":
            rows = [s for s in rows if s["status"] == status]
        if "customer" in params:
            rows = [s for s in rows if s["customer"] == params["customer"]]
        if "price" in params:
            rows = [
                s
                for s in rows
                if any(i["price"]["id"] == params["price"] for i in s["items"]["data"])
            ]
        rows = self._created(rows, params)
        return self._list("/v1/subscriptions", rows, params)

    def _h_get_subscription(self, params: dict[str, Any], id: str) -> dict[str, Any]:
        self._check(params, {"expand"})
        sub = self._get(self._subscriptions, id, "subscription")
        return self._expand(copy.deepcopy(sub), params)

    def _h_list_invoices(self, params: dict[str, Any]) -> dict[str, Any]:
        self._check(
            params,
            self._LIST
            | {"collection_method", "created", "customer", "due_date", "status", "subscription"},
        )
        rows = list(self._invoices.values())
        for key in ("customer", "status"):
            if key in params:
                rows = [i for i in rows if i[key] == params[key]]
        if "subscription" in params:
            rows = [i for i in rows if self._sub_of(i) == params["subscription"]]
        rows = self._created(rows, params)
        return self._list("/v1/invoices", rows, params)

    def _h_get_invoice(self, params: dict[str, Any], id: str) -> dict[str, Any]:
        self._check(params, {"expand"})
        invoice = self._get(self._invoices, id, "invoice")
        return self._expand(copy.deepcopy(invoice), params)
