"""Subscriptions through the real sync (issue 13): `sync_orders` against the Checkout-compatible
test server (tests/servers/stripe_billing.py), which moves periods forward and serves the Events
API with the `types` filter that localstripe refuses.

Each test drives Stripe's side with the server's controls (a paid or failed renewal, a quantity
change, a cancellation), lets the events sync and the re-list read it, and looks at what a
customer gets: licenses, their expiry, renewal mails.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mailbot.adapters.orders.stripe import StripeOrders
from mailbot.app import App
from mailbot.core.license_format import day_of, verify_license
from mailbot.core.model import OrderStatus
from mailbot.services.order_sync import sync_orders
from mailbot.services.worker import Worker
from tests.apps import make_app
from tests.builders import new_serial
from tests.db import query
from tests.servers.stripe_server import DEFAULT_PRICE, TEST_API_KEY, StripeCheckoutServer

pytestmark = pytest.mark.servers
KEY_ENV = "MAILBOT_TEST_STRIPE_KEY"
GRACE = 5
EMAIL = "erin@acme.example"

MakeApp = Callable[..., App]


@pytest.fixture
def server(stripe_checkout_server: StripeCheckoutServer) -> StripeCheckoutServer:
    return stripe_checkout_server


@pytest.fixture
def make_sub_app(
    tmp_path: Path, server: StripeCheckoutServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[MakeApp]:
    monkeypatch.setenv(KEY_ENV, TEST_API_KEY)
    made: list[App] = []

    def make(name: str = "app") -> App:
        app = make_app(
            tmp_path / name,
            orders={
                "kind": "stripe",
                "api_base": server.url,
                "api_key_env": KEY_ENV,
                "price_ids": [DEFAULT_PRICE],
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
        )
        made.append(app)
        return app

    yield make
    for app in made:
        app.orders.close()  # type: ignore[attr-defined]
        app.close()


def period_end(server: StripeCheckoutServer, sub_id: str) -> date:
    item = server.subscription(sub_id)["items"]["data"][0]
    return datetime.fromtimestamp(item["current_period_end"], UTC).date()


def request(app: App, serials: list[str], sender: str = EMAIL) -> str:
    raw = (
        f"From: {sender}\nTo: support@amphis.example\nSubject: Licenses\n"
        f"Message-ID: <{serials[0]}@acme.example>\nContent-Type: text/plain\n\n"
        "Hello, licenses for\n" + "\n".join(serials) + "\n"
    ).encode()
    app.mailbox.deliver(raw)  # type: ignore[attr-defined]
    [done] = [p for p in Worker(app).poll_once() if not p.already_done]
    return done.outcome.value


def active(app: App) -> list[dict[str, Any]]:
    return query(app.store, "SELECT * FROM licenses WHERE state = 'active' ORDER BY license_no")


def expiry(app: App, row: dict[str, Any]) -> date | None:
    info = verify_license(
        str(row["license_string"]),
        serial=str(row["serial"]),
        public_keys=app.signer.public_keys(),
        product_code="AMC",
    )
    assert day_of(int(row["expires_day"])) == info.expires
    return info.expires


def renewal_mails(app: App) -> list[dict[str, Any]]:
    return query(
        app.store,
        "SELECT o.* FROM outbox o JOIN renewals r ON r.outbox_id = o.id ORDER BY o.id",
    )


def subscribed_three(server: StripeCheckoutServer, app: App, **kwargs: Any) -> str:
    """A Checkout subscription of 3 seats, synced, and three serials licensed on it."""
    sub = server.add_subscription(EMAIL, 3, **kwargs)
    sync_orders(app)
    assert request(app, [new_serial() for _ in range(3)]) == "issued"
    return str(sub["id"])


@pytest.mark.parametrize("legacy", [False, True], ids=["items-period", "top-level-period"])
def test_quantity_three_licenses_three_serials_expiring_at_period_end_plus_grace(
    server: StripeCheckoutServer, make_sub_app: MakeApp, legacy: bool
) -> None:
    server.legacy_billing_fields = legacy
    app = make_sub_app()
    sub_id = subscribed_three(server, app)
    order = app.store.order(sub_id)
    assert order is not None
    assert (order.seats, order.status, order.subscription) == (3, OrderStatus.PAID, "active")
    assert order.aliases == (server.checkout_session_of(sub_id),)
    rows = active(app)
    assert len(rows) == 3
    for row in rows:
        assert expiry(app, row) == period_end(server, sub_id) + timedelta(days=GRACE)
    assert request(app, [new_serial()]) == "escalated"  # no fourth seat


@pytest.mark.parametrize("subscription_event", [True, False], ids=["both-events", "invoice-only"])
def test_a_paid_renewal_mails_the_renewed_licenses_once_over_two_syncs(
    server: StripeCheckoutServer, make_sub_app: MakeApp, subscription_event: bool
) -> None:
    app = make_sub_app()
    sub_id = subscribed_three(server, app)
    numbers = [r["license_no"] for r in active(app)]
    old_end = period_end(server, sub_id)
    # invoice-only: the invoice.paid event alone names the subscription (under
    # parent.subscription_details, as API versions from 2025-03-31 put it).
    server.renew_subscription(sub_id, subscription_event=subscription_event)
    new_end = period_end(server, sub_id)
    assert new_end > old_end
    first = sync_orders(app)
    second = sync_orders(app)
    assert (first.renewals, second.renewals) == ([sub_id], [])
    Worker(app).poll_once()  # nor the worker
    [mail] = renewal_mails(app)
    assert mail["to_addr"] == EMAIL
    rows = active(app)
    assert [r["license_no"] for r in rows] == numbers  # the same licenses, re-signed
    body = mail["raw"].decode("utf-8", "replace")
    for row in rows:
        assert expiry(app, row) == new_end + timedelta(days=GRACE)
        assert str(row["license_string"]) in body.replace("=\r\n", "").replace("=\n", "")


def test_a_failed_renewal_renews_nothing_until_the_invoice_is_paid(
    server: StripeCheckoutServer, make_sub_app: MakeApp
) -> None:
    app = make_sub_app()
    sub_id = subscribed_three(server, app)
    paid_end = period_end(server, sub_id)
    invoice = server.renew_subscription(sub_id, paid=False)
    assert sync_orders(app).renewals == []
    order = app.store.order(sub_id)
    assert order is not None and order.subscription == "past_due"
    # Stripe moved the period already; paid is only what ran up to its start.
    assert order.paid_until == paid_end and order.status is OrderStatus.PAID
    assert renewal_mails(app) == []
    assert {expiry(app, r) for r in active(app)} == {paid_end + timedelta(days=GRACE)}
    server.pay_invoice(invoice["id"])
    assert sync_orders(app).renewals == [sub_id]
    assert len(renewal_mails(app)) == 1
    assert {expiry(app, r) for r in active(app)} == {
        period_end(server, sub_id) + timedelta(days=GRACE)
    }


def test_a_cancelled_subscription_renews_nothing_and_its_licenses_lapse(
    server: StripeCheckoutServer, make_sub_app: MakeApp
) -> None:
    app = make_sub_app()
    sub_id = subscribed_three(server, app)
    end = period_end(server, sub_id)
    server.cancel_subscription(sub_id)
    assert sync_orders(app).renewals == []
    order = app.store.order(sub_id)
    assert order is not None
    assert (order.status, order.subscription) == (OrderStatus.UNPAID, "canceled")
    # A full re-list lists it too (status=all) and changes nothing.
    assert sync_orders(app, full=True).renewals == []
    assert renewal_mails(app) == []
    # Nothing is revoked: the licenses stay as signed and lapse at their expiry.
    rows = active(app)
    assert len(rows) == 3 and {expiry(app, r) for r in rows} == {end + timedelta(days=GRACE)}
    assert request(app, [new_serial()]) == "escalated"


def test_a_quantity_below_the_licenses_in_use_is_flagged_once(
    server: StripeCheckoutServer, make_sub_app: MakeApp
) -> None:
    app = make_sub_app()
    sub_id = subscribed_three(server, app)
    server.update_subscription(sub_id, quantity=2)
    first = sync_orders(app)
    [esc] = query(app.store, "SELECT * FROM escalations WHERE reason = 'seats_reduced'")
    assert esc["id"] in first.escalations
    assert "reduced to 2 seat(s)" in esc["detail"]
    assert sync_orders(app).escalations == []
    assert len(query(app.store, "SELECT * FROM escalations WHERE reason = 'seats_reduced'")) == 1
    assert len(active(app)) == 3  # flagged for staff, never revoked


def test_a_german_customer_gets_orders_in_german(
    server: StripeCheckoutServer, make_sub_app: MakeApp
) -> None:
    sub = server.add_subscription("lena@beispiel.example", 2, locale="de")
    session = server.add_session(
        "jonas@beispiel.example", 1, customer=True, preferred_locales=["de-DE", "en"]
    )
    english = server.add_subscription("sam@example.org", 1, preferred_locales=["en-GB"])
    app = make_sub_app()
    sync_orders(app)  # the first sync: sessions, then subscriptions (which know no locale)
    sync_orders(app, full=True)
    languages = {o.order_id: o.language for o in app.store.all_orders()}
    assert languages[sub["id"]] == "de"  # the Checkout page's locale
    assert languages[session["id"]] == "de"  # the Customer's preferred_locales
    assert languages[english["id"]] == "en"
