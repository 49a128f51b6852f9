"""The pure Stripe JSON -> Order mapping, on Stripe's own example objects (fixtures3.json).

No server and no network: every object is a deep copy of an example from
tests/data/stripe_fixtures/fixtures3.json, edited to the case at hand.
"""

from __future__ import annotations

from typing import Any

import pytest

from mailbot.adapters.orders.stripe.mapping import (
    ChargeState,
    charge_state,
    decode_cursor,
    encode_cursor,
    expanded,
    licensed_items,
    mentions_email,
    metadata_seats,
    object_id,
    payment_intent_order,
    session_order,
    without_line_items,
)
from mailbot.core.model import OrderStatus
from tests.servers.stripe_server import DEFAULT_PRICE, DEFAULT_PRODUCT, example


def _charge(amount: int, refunded: int = 0, disputed: bool = False) -> dict[str, Any]:
    charge = example("charge")
    charge.update(
        amount=amount, amount_refunded=refunded, disputed=disputed, refunded=refunded >= amount
    )
    return charge


def test_partial_refund_removes_whole_seats_in_the_customers_favour() -> None:
    # 3 seats at 4900: refunding just under two seats' worth removes one seat, not two.
    assert charge_state(_charge(14700, 9799), 3, 14700).refunded_seats == 1
    assert charge_state(_charge(14700, 9800), 3, 14700).refunded_seats == 2
    assert charge_state(_charge(14700, 1), 3, 14700).refunded_seats == 0
    state = charge_state(_charge(14700, 14700), 3, 14700)
    assert (state.status, state.refunded_seats) == (OrderStatus.REFUNDED, 3)
    # A refunded add-on worth less than a seat costs no seat (seats_amount excludes it).
    assert charge_state(_charge(15200, 500), 3, 14700).refunded_seats == 0


def test_dispute_status_decides_between_disputed_and_paid() -> None:
    disputed = _charge(4900, disputed=True)
    assert charge_state(disputed, 1, 4900).status is OrderStatus.DISPUTED
    assert (
        charge_state(disputed, 1, 4900, [{"status": "needs_response"}]).status
        is OrderStatus.DISPUTED
    )
    assert charge_state(disputed, 1, 4900, [{"status": "lost"}]).status is OrderStatus.DISPUTED
    assert charge_state(disputed, 1, 4900, [{"status": "won"}]).status is OrderStatus.PAID


def test_session_translation_skips_what_is_not_a_licensed_paid_purchase() -> None:
    session = example("checkout.session")
    session.update(
        status="complete",
        payment_status="paid",
        mode="payment",
        currency="eur",
        amount_total=9800,
        client_reference_id="req_42",
    )
    session["customer_details"].update(email="Ann@Example.COM", name="Ann")
    item = example("item")
    item.update(quantity=2, amount_total=9800)
    item["price"].update(id=DEFAULT_PRICE, product=DEFAULT_PRODUCT)
    order = session_order(session, [item], [DEFAULT_PRICE], [])
    assert order is not None
    assert (order.email, order.name, order.seats, order.status) == (
        "ann@example.com",
        "Ann",
        2,
        OrderStatus.PAID,
    )
    assert (order.currency, order.amount_total, order.client_reference_id) == (
        "eur",
        9800,
        "req_42",
    )
    assert order.aliases == (session["payment_intent"],)
    # matched by product instead of price
    assert session_order(session, [item], ["price_other"], [DEFAULT_PRODUCT]) is not None
    # no licensed line item: not an order
    assert session_order(session, [item], ["price_other"], ["prod_other"]) is None
    # async payment still pending: an unpaid order
    pending = dict(session, payment_status="unpaid")
    assert session_order(pending, [item], [DEFAULT_PRICE], []).status is OrderStatus.UNPAID  # type: ignore[union-attr]
    # open/expired sessions and subscriptions are not orders
    assert session_order(dict(session, status="open"), [item], [DEFAULT_PRICE], []) is None
    assert session_order(dict(session, mode="subscription"), [item], [DEFAULT_PRICE], []) is None


def test_payment_intent_translation_reads_seats_and_email_fallbacks() -> None:
    pi = example("payment_intent")
    pi.update(
        status="succeeded",
        amount=9800,
        amount_received=9800,
        currency="usd",
        metadata={"seats": "2", "email": "Meta@Example.com"},
        receipt_email=None,
    )
    order = payment_intent_order(pi)
    assert order is not None and (order.seats, order.email) == (2, "meta@example.com")
    pi["receipt_email"] = "receipt@example.com"
    assert payment_intent_order(pi).email == "receipt@example.com"  # type: ignore[union-attr]
    pi.update(
        receipt_email=None,
        metadata={"seats": "2"},
        customer={"id": "cus_1", "email": "cus@example.com"},
    )
    assert payment_intent_order(pi).email == "cus@example.com"  # type: ignore[union-attr]
    assert payment_intent_order(dict(pi, status="processing")) is None
    for bad in ("", "0", "-1", "two", "1.5", "999999999"):
        assert metadata_seats({"seats": bad}) == 0


# ---- pieces without a test of their own before the split ----------------------------------


def _item(price_id: str, product: Any, quantity: int, amount_total: int) -> dict[str, Any]:
    item = example("item")
    item.update(quantity=quantity, amount_total=amount_total)
    item["price"].update(id=price_id, product=product)
    return item


def test_licensed_items_sums_only_licensed_lines_by_price_or_product() -> None:
    seat = _item(DEFAULT_PRICE, "prod_other", 2, 9800)
    team = _item("price_team", {"id": DEFAULT_PRODUCT, "object": "product"}, 5, 20000)
    addon = _item("price_addon", "prod_addon", 1, 500)
    items = [seat, team, addon]
    assert licensed_items(items, [DEFAULT_PRICE], []) == (2, 9800)
    # a product matches whether Stripe sent its id or the expanded object
    assert licensed_items(items, [], [DEFAULT_PRODUCT]) == (5, 20000)
    assert licensed_items(items, [DEFAULT_PRICE], [DEFAULT_PRODUCT]) == (7, 29800)
    assert licensed_items(items, [], []) == (0, 0)
    # a price sent as a bare id (not expanded) still matches by price, never by product
    bare = dict(seat, price=DEFAULT_PRICE)
    assert licensed_items([bare], [DEFAULT_PRICE], ["prod_other"]) == (2, 9800)
    assert licensed_items([bare], [], ["prod_other"]) == (0, 0)


def test_charge_state_without_a_charge_and_with_the_charge_ids() -> None:
    assert charge_state(None, 3, 14700) == ChargeState(OrderStatus.PAID, 0)
    charge = example("charge")
    charge.update(amount=14700, amount_refunded=0, receipt_number="1234-5678")
    state = charge_state(charge, 3, 14700)
    assert state == ChargeState(OrderStatus.PAID, 0, charge["id"], "1234-5678")
    # partial refunds that add up to every seat make the order refunded
    charge.update(amount=15200, amount_refunded=14700)
    assert charge_state(charge, 3, 14700).status is OrderStatus.REFUNDED
    # a disputed charge whose disputes list is empty is still disputed
    charge.update(amount_refunded=0, disputed=True)
    assert charge_state(charge, 3, 14700, []).status is OrderStatus.DISPUTED
    assert charge_state(charge, 3, 14700, [{"status": "warning_closed"}]).status is OrderStatus.PAID


def test_session_with_expanded_payment_intent_carries_its_charge() -> None:
    charge = example("charge")
    charge.update(amount=9800, amount_refunded=4900, receipt_number="2222-3333")
    pi = example("payment_intent")
    pi.update(status="succeeded", latest_charge=charge)
    session = example("checkout.session")
    session.update(status="complete", payment_status="paid", payment_intent=pi, created=1700000000)
    item = _item(DEFAULT_PRICE, DEFAULT_PRODUCT, 2, 9800)
    order = session_order(session, [item], [DEFAULT_PRICE], [])
    assert order is not None
    assert order.aliases == (pi["id"], charge["id"], "2222-3333")
    assert (order.status, order.refunded_seats, order.usable_seats) == (OrderStatus.PAID, 1, 1)
    assert (order.email, order.source) == ("example@example.com", "stripe")
    assert order.created.timestamp() == 1700000000 and order.created.tzinfo is not None
    # an async payment on its way: unpaid, refunds not read, the charge id kept for lookups
    unpaid = session_order(dict(session, payment_status="unpaid"), [item], [DEFAULT_PRICE], [])
    assert unpaid is not None
    assert (unpaid.status, unpaid.refunded_seats) == (OrderStatus.UNPAID, 0)
    assert unpaid.aliases == (pi["id"], charge["id"])


def test_payment_intent_name_and_client_reference_from_metadata_then_fallbacks() -> None:
    charge = example("charge")  # billing_details.name is "Jenny Rosen"
    charge.update(amount=4900, receipt_number="9999-0000")
    pi = example("payment_intent")
    pi.update(
        status="succeeded",
        amount=4900,
        amount_received=0,
        latest_charge=charge,
        metadata={"seats": "1", "email": "x@example.com", "client_reference_id": "req_7"},
    )
    order = payment_intent_order(pi)
    assert order is not None
    assert (order.name, order.client_reference_id) == ("Jenny Rosen", "req_7")
    assert order.amount_total == 4900  # amount when amount_received is not there yet
    assert order.aliases == (charge["id"], "9999-0000")
    pi["customer"] = {"id": "cus_1", "name": "Cus Tomer"}
    assert payment_intent_order(pi).name == "Cus Tomer"  # type: ignore[union-attr]
    pi["metadata"] = dict(pi["metadata"], name="Meta Name")
    assert payment_intent_order(pi).name == "Meta Name"  # type: ignore[union-attr]


def test_mentions_email_looks_everywhere_an_email_is_read_case_insensitively() -> None:
    session = example("checkout.session")  # customer_details.email is example@example.com
    assert mentions_email(session, "example@example.com")
    assert not mentions_email(session, "other@example.com")
    pi = example("payment_intent")
    assert not mentions_email(pi, "ann@example.com")
    for place in (
        {"receipt_email": " Ann@Example.com "},
        {"metadata": {"email": "ANN@example.com"}},
        {"customer": {"id": "cus_1", "email": "ann@example.com"}},
        {"customer_email": "ann@EXAMPLE.com"},
    ):
        assert mentions_email(dict(pi, **place), "ann@example.com"), place
    # an unexpanded customer id says nothing about the email
    assert not mentions_email(dict(pi, customer="cus_1"), "cus_1")


def test_without_line_items_drops_only_that_expansion() -> None:
    params = {"status": "complete", "expand": ["data.line_items", "data.payment_intent"]}
    assert without_line_items(params) == {"status": "complete", "expand": ["data.payment_intent"]}
    assert params["expand"] == ["data.line_items", "data.payment_intent"]  # input left alone
    assert without_line_items({"limit": 1}) == {"limit": 1, "expand": []}


def test_object_id_and_expanded_read_either_form_of_an_expandable_field() -> None:
    customer = example("customer")
    assert object_id(customer) == customer["id"] and expanded(customer) is customer
    assert object_id("cus_1") == "cus_1" and expanded("cus_1") is None
    assert object_id(None) == "" and expanded(None) is None


def test_cursor_codec_round_trips_and_refuses_a_foreign_cursor() -> None:
    state = {"kind": "events", "t": 1700000000, "seen": {"evt_2": 2, "evt_1": 1}}
    cursor = encode_cursor(state)
    assert decode_cursor(cursor, "events") == state
    assert cursor == encode_cursor(dict(reversed(list(state.items()))))  # stable: sorted keys
    assert " " not in cursor  # compact: it is persisted once per sync
    assert decode_cursor(None, "events") is None and decode_cursor("", "events") is None
    for foreign in (encode_cursor({"kind": "backfill"}), "[1, 2]", "not json"):
        with pytest.raises(ValueError, match="not a Stripe events cursor"):
            decode_cursor(foreign, "events")


def test_the_customers_preferred_locale_then_the_checkout_locale_give_the_language() -> None:
    session = example("checkout.session")
    session.update(status="complete", payment_status="paid", mode="payment", locale="de")
    items = [{"price": {"id": DEFAULT_PRICE, "product": DEFAULT_PRODUCT}, "quantity": 1}]
    order = session_order(session, items, [DEFAULT_PRICE], [])
    assert order is not None and order.language == "de"
    customer = dict(example("customer"), preferred_locales=["fr-FR", "de"])
    order = session_order(dict(session, customer=customer), items, [DEFAULT_PRICE], [])
    assert order is not None and order.language == "fr"  # what the customer chose comes first
    order = session_order(dict(session, locale="auto"), items, [DEFAULT_PRICE], [])
    assert order is not None and order.language == ""  # "auto" says nothing

    pi = example("payment_intent")
    pi.update(status="succeeded", metadata={"seats": "1"}, customer=customer)
    order = payment_intent_order(pi)
    assert order is not None and order.language == "fr"
    pi.update(customer=dict(customer, preferred_locales="de"))  # not a list: ignored
    order = payment_intent_order(pi)
    assert order is not None and order.language == ""
