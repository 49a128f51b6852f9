"""Subscriptions as orders (issue 13), against localstripe (Customers, Plans, Subscriptions,
invoices), through mailbot's own Stripe adapter and the staff pipeline: seats are the licensed
quantity, the term is the current period, a cancelled subscription gives no seats and renews
nothing, a quantity drop is flagged.

localstripe never moves a period forward by itself (its `current_period_end` is always one
interval after the start), so the renewal of a paid invoice is proven on orders whose term
moves (tests/services/test_renewals.py); here the term is read, and kept, from Stripe.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import stripe

from mailbot.adapters.orders.stripe import StripeOrders
from mailbot.app import App
from mailbot.core.license_format import day_of, verify_license
from mailbot.core.model import OrderStatus
from mailbot.services.finance_flags import flag_overused
from mailbot.services.renewals import renew_due
from mailbot.services.worker import Worker
from tests.apps import make_app
from tests.builders import new_serial
from tests.db import query
from tests.servers.stripe_server import TEST_API_KEY

pytestmark = pytest.mark.servers
KEY_ENV = "MAILBOT_TEST_STRIPE_KEY"
GRACE = 5


@pytest.fixture
def client(localstripe: str) -> Iterator[stripe.StripeClient]:
    http = stripe.RequestsClient(timeout=10)
    yield stripe.StripeClient(TEST_API_KEY, base_addresses={"api": localstripe}, http_client=http)
    http.close()


def subscribe(client: stripe.StripeClient, quantity: int, email: str = "erin@acme.example") -> Any:
    """A paying customer with a monthly subscription of `quantity` seats; (plan id, sub)."""
    product = client.v1.products.create(params={"name": "Amphis Customer seat"})
    plan = client.v1.plans.create(
        params={"amount": 900, "currency": "eur", "interval": "month", "product": product.id}
    )
    card = {"number": "4242424242424242", "exp_month": "12", "exp_year": "2040", "cvc": "123"}
    token = client.v1.tokens.create(params={"card": card})  # type: ignore[typeddict-item]
    customer = client.v1.customers.create(
        params={"email": email, "name": "Erin", "source": token.id}
    )
    sub = client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"plan": plan.id, "quantity": quantity}]}
    )
    assert sub.status == "active"
    return plan.id, sub


@pytest.fixture
def make_local_app(
    tmp_path: Path, localstripe: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    monkeypatch.setenv(KEY_ENV, TEST_API_KEY)
    made: list[App] = []

    def make(price: str) -> App:
        app = make_app(
            tmp_path / "site",
            orders={
                "kind": "stripe",
                "api_base": localstripe,
                "api_key_env": KEY_ENV,
                "price_ids": [price],
                "full_resync_hours": 0,
                "subscriptions": True,
            },
            product={"subscription_grace_days": GRACE},
        )
        app.overrides["orders"] = StripeOrders(
            app.settings.orders,
            api_key=TEST_API_KEY,
            retry_delay=0.01,
            max_retry_delay=0.05,
            timeout=5.0,
            payment_intent_orders=False,
            checkout_sessions=False,  # localstripe has no Checkout
        )
        made.append(app)
        return app

    yield make
    for app in made:
        app.orders.close()  # type: ignore[attr-defined]
        app.close()


def relist(app: App) -> tuple[list[int], list[str]]:
    """What a full re-list's sync does with the orders: store them, flag, renew. (localstripe's
    Events API refuses the `types` filter the incremental sync sends, so the sync itself runs
    against the Checkout-compatible server in test_order_sync.py.)"""
    now = app.clock.now()
    app.store.upsert_orders(app.orders.all_orders(), now)
    flagged = flag_overused(app, app.store, now)
    return flagged, [r.order_id for r in renew_due(app, app.store, now)]


def request(app: App, sender: str, serials: list[str]) -> str:
    raw = (
        f"From: {sender}\nTo: support@amphis.example\nSubject: Licenses\n"
        f"Message-ID: <{serials[0]}@acme.example>\nContent-Type: text/plain\n\n"
        f"Hello, licenses for\n" + "\n".join(serials) + "\n"
    ).encode()
    app.mailbox.deliver(raw)  # type: ignore[attr-defined]
    [done] = [p for p in Worker(app).poll_once() if not p.already_done]
    return done.outcome.value


def test_a_subscription_is_an_order_with_its_quantity_and_period(
    client: stripe.StripeClient, make_local_app: Any
) -> None:
    plan, sub = subscribe(client, 3)
    app = make_local_app(plan)
    [order] = [o for o in app.orders.all_orders() if o.order_id == sub.id]
    period_end = datetime.fromtimestamp(sub.current_period_end, UTC).date()
    assert (order.email, order.seats, order.status) == ("erin@acme.example", 3, OrderStatus.PAID)
    assert (order.paid_until, order.subscription) == (period_end, "active")
    assert (order.monthly_amount, order.currency) == (2700, "eur")


def test_three_seats_license_three_serials_expiring_with_the_period_plus_grace(
    client: stripe.StripeClient, make_local_app: Any
) -> None:
    plan, sub = subscribe(client, 3)
    app = make_local_app(plan)
    relist(app)
    serials = [new_serial() for _ in range(4)]
    assert request(app, "erin@acme.example", serials[:3]) == "issued"
    rows = query(app.store, "SELECT * FROM licenses WHERE state = 'active' ORDER BY license_no")
    period_end = datetime.fromtimestamp(sub.current_period_end, UTC).date()
    assert len(rows) == 3
    for row in rows:
        info = verify_license(
            row["license_string"],
            serial=row["serial"],
            public_keys=app.signer.public_keys(),
            product_code="AMC",
        )
        assert info.expires is not None
        assert (info.expires - period_end).days == GRACE
        assert day_of(row["expires_day"]) == info.expires
    # The fourth serial has no seat.
    assert request(app, "erin@acme.example", serials[3:]) == "escalated"


def test_a_quantity_drop_is_flagged_and_a_cancelled_subscription_renews_nothing(
    client: stripe.StripeClient, make_local_app: Any
) -> None:
    plan, sub = subscribe(client, 3)
    app = make_local_app(plan)
    relist(app)
    assert request(app, "erin@acme.example", [new_serial() for _ in range(3)]) == "issued"
    item = sub["items"]["data"][0]["id"]
    client.v1.subscriptions.update(sub.id, params={"items": [{"id": item, "quantity": 2}]})
    flagged, _ = relist(app)
    [esc] = query(app.store, "SELECT * FROM escalations WHERE reason = 'seats_reduced'")
    assert flagged == [esc["id"]]
    assert "reduced to 2 seat(s)" in esc["detail"]
    before = query(app.store, "SELECT count(*) AS n FROM outbox")[0]["n"]
    client.v1.subscriptions.cancel(sub.id)
    _, renewed = relist(app)
    assert renewed == []
    order = app.store.order(sub.id)
    assert order is not None and order.status is OrderStatus.UNPAID
    assert order.subscription == "canceled"
    assert query(app.store, "SELECT count(*) AS n FROM outbox")[0]["n"] == before
    assert len(query(app.store, "SELECT * FROM licenses WHERE state = 'active'")) == 3
    assert request(app, "erin@acme.example", [new_serial()]) == "escalated"


def test_a_checkout_session_of_a_subscription_brings_its_reference_to_the_subscription() -> None:
    from mailbot.adapters.orders.stripe.mapping import subscription_order

    sub = {
        "id": "sub_1",
        "status": "past_due",
        "created": 1_790_000_000,
        "cancel_at_period_end": True,
        "customer": {"id": "cus_1", "email": "x@acme.example"},
        "items": {
            "data": [
                {
                    "quantity": 2,
                    "current_period_start": 1_797_000_000,
                    "current_period_end": 1_800_000_000,
                    "price": {
                        "id": "price_seat",
                        "currency": "usd",
                        "unit_amount": 12_000,
                        "recurring": {"interval": "year", "interval_count": 1},
                    },
                },
                {"quantity": 5, "price": {"id": "price_other", "unit_amount": 100}},
            ]
        },
    }
    session = {
        "id": "cs_sub",
        "client_reference_id": "req-7",
        "customer_details": {"email": "Buyer@Acme.example", "name": "Buyer"},
    }
    order = subscription_order(sub, ["price_seat"], [], session=session)
    assert order is not None
    assert (order.order_id, order.email, order.seats) == ("sub_1", "buyer@acme.example", 2)
    assert (order.status, order.subscription, order.cancel_at_period_end) == (
        OrderStatus.PAID,
        "past_due",
        True,
    )
    # Past due: Stripe moved the period when it billed it, so it is paid up to its start.
    assert order.paid_until == datetime.fromtimestamp(1_797_000_000, UTC).date()
    paid = subscription_order(dict(sub, status="active"), ["price_seat"], [])
    assert paid is not None
    assert paid.paid_until == datetime.fromtimestamp(1_800_000_000, UTC).date()
    assert (order.monthly_amount, order.currency) == (2000, "usd")  # 2 x 120.00 a year
    assert (order.client_reference_id, order.aliases) == ("req-7", ("cs_sub",))
    assert subscription_order(sub, ["price_none"], []) is None
    ended = subscription_order(dict(sub, status="canceled"), ["price_seat"], [])
    assert ended is not None and ended.status is OrderStatus.UNPAID
