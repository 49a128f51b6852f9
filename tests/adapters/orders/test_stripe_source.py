"""StripeOrders (and its HTTP seam) through the real `stripe` library, against local servers.

The Checkout side runs against tests/servers/stripe_server.py's StripeCheckoutServer (objects
built from Stripe's own fixtures3.json); PaymentIntents and refunds also against localstripe.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import stripe

from mailbot.adapters.orders.stripe import StripeOrders, StripeUnavailable, WebhookRejected
from mailbot.config import OrdersSettings
from mailbot.core.model import OrderStatus
from tests.servers.stripe_server import (
    DEFAULT_PRICE,
    DEFAULT_PRODUCT,
    TEST_API_KEY,
    StripeCheckoutServer,
)

pytestmark = pytest.mark.servers

MakeOrders = Callable[..., StripeOrders]


@pytest.fixture
def make_orders(stripe_checkout_server: StripeCheckoutServer) -> Iterator[MakeOrders]:
    """Build StripeOrders pointed at a test server, with fast retries; closed at teardown."""
    made: list[StripeOrders] = []

    def make(
        url: str | None = None,
        *,
        price_ids: tuple[str, ...] = (DEFAULT_PRICE,),
        product_ids: tuple[str, ...] = (),
        api_key: str = TEST_API_KEY,
        **kwargs: Any,
    ) -> StripeOrders:
        settings = OrdersSettings(
            kind="stripe",
            api_base=url or stripe_checkout_server.url,
            price_ids=price_ids,
            product_ids=product_ids,
        )
        kwargs.setdefault("retry_delay", 0.01)
        kwargs.setdefault("max_retry_delay", 0.05)
        kwargs.setdefault("timeout", 5.0)
        orders = StripeOrders(settings, api_key=api_key, **kwargs)
        made.append(orders)
        return orders

    yield make
    for orders in made:
        orders.close()


def by_id(orders: Any) -> dict[str, Any]:
    return {o.order_id: o for o in orders}


# ---- full re-list --------------------------------------------------------------------------


def test_backfill_of_50_sessions_paginates(
    stripe_checkout_server: StripeCheckoutServer, make_orders: MakeOrders
) -> None:
    server = stripe_checkout_server
    made = {
        server.add_session(f"c{i}@example.com", seats=1 + i % 3)["id"]: 1 + i % 3 for i in range(50)
    }
    # Not orders: an open session, one with only another product, a subscription.
    server.add_session("open@example.com", status="open")
    server.add_session("other@example.com", price_id="price_other", product_id="prod_other")
    server.add_session("sub@example.com", mode="subscription")
    source = make_orders(page_size=20)
    seen: list[int] = []
    orders = by_id(source.all_orders(progress=seen.append))
    assert {k: o.seats for k, o in orders.items()} == made
    assert all(o.status is OrderStatus.PAID and o.source == "stripe" for o in orders.values())
    assert orders[next(iter(made))].email == "c0@example.com"
    # 52 complete sessions in pages of 20, then 52 PaymentIntents in pages of 20
    assert source.count_calls == 3 + 3 == server.request_count
    assert seen[-1] == 50 and seen == sorted(seen)


def test_backfill_resumes_after_a_crash(
    stripe_checkout_server: StripeCheckoutServer, make_orders: MakeOrders
) -> None:
    server = stripe_checkout_server
    for i in range(50):
        server.add_session(f"c{i}@example.com")
    first = make_orders(page_size=10)
    got: dict[str, Any] = {}
    cursor = None
    pages = first.backfill(None)
    for n, (orders, cursor) in enumerate(pages):
        got.update(by_id(orders))
        if n == 1:
            break  # the process dies after storing two pages and their cursor
    pages.close()
    assert len(got) == 20 and cursor is not None
    server.reset_requests()

    second = make_orders(page_size=10)
    cursors = []
    for orders, cursor in second.backfill(cursor):
        assert not set(by_id(orders)) & set(got), "a resumed backfill re-reads no stored page"
        got.update(by_id(orders))
        cursors.append(cursor)
    assert len(got) == 50
    assert cursors[-1] is None and all(c is not None for c in cursors[:-1])
    # 3 remaining session pages + 5 PaymentIntent pages (50 of them, 10 a page, the last
    # page says has_more=false)
    assert server.request_count == 3 + 5


def test_backfill_rejects_a_foreign_cursor(make_orders: MakeOrders) -> None:
    with pytest.raises(ValueError):
        next(make_orders().backfill('{"kind": "events", "t": 1}'))


def test_500_session_backfill_api_calls(
    stripe_checkout_server: StripeCheckoutServer,
    make_orders: MakeOrders,
    record_property: Callable[[str, object], None],
) -> None:
    server = stripe_checkout_server
    for i in range(500):
        server.add_session(f"c{i}@example.com", seats=2, events=False)
    source = make_orders()
    started = time.perf_counter()
    orders = list(source.all_orders())
    elapsed = time.perf_counter() - started
    assert len(orders) == 500 and sum(o.seats for o in orders) == 1000
    # 5 pages of sessions (line items and charges expanded inline) + 5 of PaymentIntents
    assert source.count_calls == 10
    only_checkout = make_orders(payment_intent_orders=False)
    assert len(list(only_checkout.all_orders())) == 500
    assert only_checkout.count_calls == 5
    record_property("backfill_500_api_calls", source.count_calls)
    record_property("backfill_500_seconds", round(elapsed, 3))
    print(
        f"\n500-session backfill: {source.count_calls} API calls "
        f"({only_checkout.count_calls} without PaymentIntent orders), {elapsed:.2f}s"
    )


def test_line_items_beyond_the_expanded_handful_are_fetched(
    stripe_checkout_server: StripeCheckoutServer, make_orders: MakeOrders
) -> None:
    server = stripe_checkout_server
    server.expanded_line_items = 2
    extra = [{"price_id": "price_support", "product_id": "prod_support", "quantity": 1}] * 2
    extra.append(
        {
            "price_id": "price_amc_team",
            "product_id": DEFAULT_PRODUCT,
            "quantity": 5,
            "unit_amount": 4000,
        }
    )
    session = server.add_session("team@example.com", seats=2, extra_items=extra)
    # the licensed 5-seat item is the 4th line item: only /line_items shows it
    source = make_orders(product_ids=(DEFAULT_PRODUCT,))
    [order] = source.all_orders()
    assert (order.order_id, order.seats) == (session["id"], 7)
    assert any("/line_items" in path for _, path in server.requests)


def test_session_list_without_line_items_expansion_falls_back_per_session(
    stripe_checkout_server: StripeCheckoutServer, make_orders: MakeOrders
) -> None:
    server = stripe_checkout_server
    server.refuse_list_line_items = True
    for i in range(3):
        server.add_session(f"c{i}@example.com", seats=i + 1)
    source = make_orders(payment_intent_orders=False)
    assert sorted(o.seats for o in source.all_orders()) == [1, 2, 3]
    # the refused list, the list again, one /line_items per session
    assert source.count_calls == 2 + 3


# ---- incremental sync ----------------------------------------------------------------------


def test_events_with_duplicates_and_out_of_order(
    stripe_checkout_server: StripeCheckoutServer, make_orders: MakeOrders
) -> None:
    server = stripe_checkout_server
    source = make_orders()
    orders, cursor = source.events_since(None)
    assert orders == []
    server.emit_duplicate_events = True
    server.shuffle_events = True
    a = server.add_session("a@example.com", seats=2)
    b = server.add_session("b@example.com", seats=1)
    pi = server.add_payment_intent(3, 15000, receipt_email="pi@example.com")
    server.reset_requests()
    orders, cursor = source.events_since(cursor)
    assert sorted(o.order_id for o in orders) == sorted([a["id"], b["id"], pi["id"]])
    assert len(orders) == 3
    # one events page, each session once, the custom PaymentIntent once; the sessions'
    # own payment_intent.succeeded events cost nothing more
    assert server.request_count == 1 + 2 + 1

    # The overlap window re-reads the same events: nothing is reported twice.
    server.reset_requests()
    orders, cursor = source.events_since(cursor)
    assert orders == []
    assert server.request_count == 1  # only the events list

    # An event becomes visible after a newer one (Stripe's listing is eventually consistent).
    server.hold_events = True
    late = server.add_session("late@example.com", seats=4)
    server.hold_events = False
    server.advance(60)
    newer = server.add_session("newer@example.com")
    orders, cursor = source.events_since(cursor)
    assert [o.order_id for o in orders] == [newer["id"]]
    server.release_events()
    orders, cursor = source.events_since(cursor)
    assert [(o.order_id, o.seats) for o in orders] == [(late["id"], 4)]


def test_events_refetch_objects_so_order_of_events_does_not_matter(
    stripe_checkout_server: StripeCheckoutServer, make_orders: MakeOrders
) -> None:
    server = stripe_checkout_server
    source = make_orders()
    _, cursor = source.events_since(None)
    server.shuffle_events = True
    session = server.add_session("quick@example.com", seats=2)
    server.refund(session["id"])  # refunded before we ever saw it paid
    orders, cursor = source.events_since(cursor)
    [order] = orders
    assert order.status is OrderStatus.REFUNDED and order.usable_seats == 0


def test_refunds_after_the_fact_reduce_seats(
    stripe_checkout_server: StripeCheckoutServer, make_orders: MakeOrders
) -> None:
    server = stripe_checkout_server
    source = make_orders()
    session = server.add_session("r@example.com", seats=4, unit_amount=5000)
    [order] = source.all_orders()
    assert order.usable_seats == 4
    _, cursor = source.events_since(None)

    server.refund(session["id"], 7500)  # a seat and a half: one seat goes
    [order], cursor = source.events_since(cursor)
    assert (order.status, order.refunded_seats, order.usable_seats) == (OrderStatus.PAID, 1, 3)
    server.refund(session["id"], 2500)  # now exactly two seats' worth
    [order], cursor = source.events_since(cursor)
    assert order.refunded_seats == 2
    server.refund(session["id"])  # the rest
    [order], cursor = source.events_since(cursor)
    assert order.status is OrderStatus.REFUNDED and order.usable_seats == 0
    # the full re-list agrees
    [again] = source.all_orders()
    assert again == order


def test_dispute_then_closed(
    stripe_checkout_server: StripeCheckoutServer, make_orders: MakeOrders
) -> None:
    server = stripe_checkout_server
    source = make_orders()
    won = server.add_session("won@example.com", seats=2)
    lost = server.add_session("lost@example.com", seats=1)
    _, cursor = source.events_since(None)
    dispute_won = server.dispute(won["id"])
    dispute_lost = server.dispute(lost["id"])
    orders, cursor = source.events_since(cursor)
    assert {o.order_id: o.status for o in orders} == {
        won["id"]: OrderStatus.DISPUTED,
        lost["id"]: OrderStatus.DISPUTED,
    }
    server.close_dispute(dispute_won["id"], "won")
    server.close_dispute(dispute_lost["id"], "lost")
    orders, cursor = source.events_since(cursor)
    assert {o.order_id: o.status for o in orders} == {
        won["id"]: OrderStatus.PAID,
        lost["id"]: OrderStatus.DISPUTED,
    }


def test_async_payment_and_client_reference(
    stripe_checkout_server: StripeCheckoutServer, make_orders: MakeOrders
) -> None:
    server = stripe_checkout_server
    source = make_orders()
    session = server.add_session(
        "sepa@example.com", seats=1, paid=False, client_reference_id="pending-17"
    )
    orders, cursor = source.events_since(None)
    [order] = orders
    assert (order.status, order.client_reference_id) == (OrderStatus.UNPAID, "pending-17")
    server.pay_async(session["id"])
    [order], cursor = source.events_since(cursor)
    assert (order.status, order.usable_seats) == (OrderStatus.PAID, 1)


def test_initial_cursor_skips_older_events(
    stripe_checkout_server: StripeCheckoutServer, make_orders: MakeOrders
) -> None:
    server = stripe_checkout_server
    server.add_session("old@example.com")
    server.advance(3600)
    cursor = StripeOrders.initial_cursor(datetime.fromtimestamp(server.now(), UTC))
    new = server.add_session("new@example.com")
    orders, _ = make_orders().events_since(cursor)
    assert [o.order_id for o in orders] == [new["id"]]


def test_failed_sync_keeps_the_old_cursor(
    stripe_checkout_server: StripeCheckoutServer, make_orders: MakeOrders
) -> None:
    server = stripe_checkout_server
    source = make_orders(max_retries=1)
    _, cursor = source.events_since(None)
    session = server.add_session("x@example.com")
    server.fail_next(2, status=503)
    with pytest.raises(StripeUnavailable):
        source.events_since(cursor)
    orders, _ = source.events_since(cursor)
    assert [o.order_id for o in orders] == [session["id"]]


# ---- failures ------------------------------------------------------------------------------


def test_rate_limit_then_success(
    stripe_checkout_server: StripeCheckoutServer, make_orders: MakeOrders
) -> None:
    server = stripe_checkout_server
    server.add_session("a@example.com")
    source = make_orders()
    server.fail_next(2, status=429, retry_after=0.01)
    assert len(list(source.all_orders())) == 1
    assert source.count_calls == 2 + 2  # two refused, then sessions and PaymentIntents


def test_server_errors_are_retried_by_the_library(
    stripe_checkout_server: StripeCheckoutServer, make_orders: MakeOrders
) -> None:
    server = stripe_checkout_server
    server.add_session("a@example.com")
    source = make_orders()
    server.fail_next(2, status=500)
    assert len(list(source.all_orders())) == 1
    assert source.count_calls == 4


def test_rate_limit_gives_up_with_stripe_unavailable(
    stripe_checkout_server: StripeCheckoutServer, make_orders: MakeOrders
) -> None:
    server = stripe_checkout_server
    source = make_orders(max_retries=2)
    server.fail_next(10, status=429)
    with pytest.raises(StripeUnavailable, match="rate limit") as info:
        source.lookup_email("a@example.com")
    assert not info.value.permanent
    assert source.count_calls == 3


def test_server_down_fails_fast_and_recovers(
    stripe_checkout_server: StripeCheckoutServer, make_orders: MakeOrders
) -> None:
    server = stripe_checkout_server
    server.add_session("a@example.com")
    source = make_orders(max_retries=2)
    assert len(list(source.all_orders())) == 1  # the connection is pooled now
    server.down()
    started = time.monotonic()
    with pytest.raises(StripeUnavailable, match="unreachable") as info:
        list(source.all_orders())
    assert time.monotonic() - started < 3
    assert not info.value.permanent
    server.up()
    assert len(list(source.all_orders())) == 1


def test_wrong_api_key_is_permanent(
    stripe_checkout_server: StripeCheckoutServer, make_orders: MakeOrders
) -> None:
    stripe_checkout_server.api_key = TEST_API_KEY
    source = make_orders(api_key="sk_test_someone_elses")
    with pytest.raises(StripeUnavailable) as info:
        list(source.all_orders())
    assert info.value.permanent
    assert "sk_test_someone_elses" not in str(info.value)


# ---- live lookups --------------------------------------------------------------------------


def test_lookup_email(
    stripe_checkout_server: StripeCheckoutServer, make_orders: MakeOrders
) -> None:
    server = stripe_checkout_server
    exact = server.add_session("ann@example.com", seats=2)
    server.add_session("someone@example.com")
    shape2 = server.add_payment_intent(3, 15000, customer_email="ann@example.com")
    source = make_orders()
    assert set(by_id(source.lookup_email("ann@example.com"))) == {exact["id"], shape2["id"]}
    # sessions by email, customers by email, that customer's sessions and PaymentIntents
    assert source.count_calls == 4

    # Typed with capitals at checkout: Stripe's exact filters miss it; the bounded scan of
    # recent purchases finds it.
    mixed = server.add_session("Bob.Smith@Example.com")
    found = source.lookup_email("bob.smith@example.com")
    assert [o.order_id for o in found] == [mixed["id"]]

    server.reset_requests()
    assert source.lookup_email("nobody@example.com") == []
    assert server.request_count <= 4  # bounded: no walk through the whole history


def test_lookup_reference(
    stripe_checkout_server: StripeCheckoutServer, make_orders: MakeOrders
) -> None:
    server = stripe_checkout_server
    session = server.add_session("ref@example.com", seats=2)
    custom = server.add_payment_intent(1, 5000, receipt_email="c@example.com")
    source = make_orders()
    order = by_id(source.all_orders())[session["id"]]
    for ref in order.aliases[:2] + (session["id"],):  # pi_, ch_, cs_
        assert source.lookup_reference(ref) == order
    assert source.lookup_reference(custom["id"]).order_id == custom["id"]  # type: ignore[union-attr]
    assert source.lookup_reference("cs_test_doesnotexist") is None
    assert source.lookup_reference("1234-5678") is None


# ---- webhooks ------------------------------------------------------------------------------


def test_webhook_signature(
    stripe_checkout_server: StripeCheckoutServer, make_orders: MakeOrders
) -> None:
    server = stripe_checkout_server
    session = server.add_session("hook@example.com")
    event_id = server.event_ids()[-1]
    payload = json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": "checkout.session.completed",
            "data": {"object": {"id": session["id"]}},
        }
    ).encode()
    secret = "whsec_test_secret"
    header = stripe.WebhookSignature.generate_signature_header(payload.decode(), secret)
    assert StripeOrders.verify_webhook(payload, header, secret) == event_id
    [order] = make_orders().orders_for_event(event_id)
    assert order.order_id == session["id"]

    # Signed by hand the way Stripe documents it: HMAC-SHA256 over "timestamp.payload".
    ts = int(time.time())
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + payload, hashlib.sha256).hexdigest()
    assert StripeOrders.verify_webhook(payload, f"t={ts},v1={mac}", secret) == event_id

    with pytest.raises(WebhookRejected):
        StripeOrders.verify_webhook(payload.replace(b"hook", b"hack") + b" ", header, secret)
    with pytest.raises(WebhookRejected):
        StripeOrders.verify_webhook(payload, header, "whsec_other")
    with pytest.raises(WebhookRejected):
        StripeOrders.verify_webhook(payload, "", secret)
    old = stripe.WebhookSignature.generate_signature_header(payload.decode(), secret, ts - 3600)
    with pytest.raises(WebhookRejected):
        StripeOrders.verify_webhook(payload, old, secret)
    not_event = json.dumps({"id": "cs_123"}).encode()
    with pytest.raises(WebhookRejected):
        StripeOrders.verify_webhook(
            not_event,
            stripe.WebhookSignature.generate_signature_header(not_event.decode(), secret),
            secret,
        )


def test_a_webhook_body_that_is_not_utf8_is_refused_not_a_server_error() -> None:
    with pytest.raises(WebhookRejected):
        StripeOrders.verify_webhook(b'\xff\xfe{"id": "evt_1"}', "t=1,v1=00", "whsec_test")


# ---- localstripe: PaymentIntents with metadata.seats, refunds --------------------------------


@pytest.fixture
def local_client(localstripe: str) -> Iterator[stripe.StripeClient]:
    """A plain library client on localstripe, playing the shop's custom checkout."""
    http = stripe.RequestsClient(timeout=10)
    client = stripe.StripeClient(
        TEST_API_KEY, base_addresses={"api": localstripe}, http_client=http
    )
    yield client
    http.close()


def _pay(
    client: stripe.StripeClient,
    amount: int,
    metadata: dict[str, str],
    email: str = "dana@example.com",
) -> str:
    customer = client.v1.customers.create(params={"email": email, "name": "Dana"})
    pi = client.v1.payment_intents.create(
        params={
            "amount": amount,
            "currency": "eur",
            "customer": customer.id,
            "payment_method": "pm_card_visa",
            "metadata": metadata,
        }
    )
    confirmed = client.v1.payment_intents.confirm(pi.id)
    assert confirmed.status == "succeeded"
    return pi.id


def test_localstripe_payment_intent_with_seats(
    localstripe: str, local_client: stripe.StripeClient, make_orders: MakeOrders
) -> None:
    pi_id = _pay(local_client, 3 * 4900, {"seats": "3"})
    _pay(local_client, 1000, {"note": "not a license purchase"}, email="other@example.com")
    source = make_orders(localstripe, price_ids=())
    [order] = source.all_orders()
    assert (order.order_id, order.email, order.name) == (pi_id, "dana@example.com", "Dana")
    assert (order.seats, order.status, order.amount_total, order.currency) == (
        3,
        OrderStatus.PAID,
        14700,
        "eur",
    )
    assert order.aliases and order.aliases[0].startswith("ch_")
    assert source.lookup_reference(pi_id) == order


def test_localstripe_refund(
    localstripe: str, local_client: stripe.StripeClient, make_orders: MakeOrders
) -> None:
    pi_id = _pay(local_client, 3 * 4900, {"seats": "3"})
    source = make_orders(localstripe, price_ids=())
    local_client.v1.refunds.create(params={"payment_intent": pi_id, "amount": 4900})
    [order] = source.all_orders()
    assert (order.status, order.refunded_seats, order.usable_seats) == (OrderStatus.PAID, 1, 2)
    local_client.v1.refunds.create(params={"payment_intent": pi_id})
    [order] = source.all_orders()
    assert order.status is OrderStatus.REFUNDED and order.usable_seats == 0
