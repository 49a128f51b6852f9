"""Expiry and subscription state on every display (issue 13): each license shows its last
valid day, "perpetual", or "expired"; each order its paid-until day and subscription state;
in the console's customer, escalation and license pages and in `mailbot customer`, `queue
show` and `licenses list/show`.

The CLI runs on the real clock, the console on the frozen one: the dates are far enough in the
past and future that both read them the same."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from html import unescape
from pathlib import Path

import pytest

from mailbot.core.license_format import day_number
from mailbot.core.model import Order, OrderStatus
from tests.db import execute
from tests.staff_env import new_serial, order_row, request
from tests.web.console import Console, make_console

ANNA = "anna@acme.example"  # one subscription per state, and a perpetual order
OWEN = "owen@acme.example"  # a past_due subscription of one seat, asked for two more


def sub(order_id: str, email: str, state: str, paid_until: date, cancel: bool = False) -> Order:
    return Order(
        order_id=order_id,
        email=email,
        name="Anna",
        seats=1,
        status=OrderStatus.PAID if state != "canceled" else OrderStatus.UNPAID,
        created=datetime(2026, 9, 1, tzinfo=UTC),
        currency="eur",
        source="stripe",
        paid_until=paid_until,
        subscription=state,
        cancel_at_period_end=cancel,
    )


@pytest.fixture
def console(tmp_path: Path) -> Console:
    made = make_console(tmp_path, [order_row("ORD-1", ANNA, 1)])
    env, now = made.env, made.env.clock.now()
    env.store.upsert_orders(
        [
            sub("sub_active", ANNA, "active", date(2099, 12, 1)),
            sub("sub_ending", ANNA, "active", date(2099, 6, 1), cancel=True),
            sub("sub_due", OWEN, "past_due", date(2099, 3, 1)),
        ],
        now,
    )
    env.send(request(ANNA, *(new_serial() for _ in range(3))))  # perpetual, 2099-12-08, -06-08
    owen = new_serial()
    env.send(request(OWEN, owen))
    env.send(request(OWEN, new_serial(), new_serial()))  # one seat: escalation #1
    # One of Anna's licenses ran out (its term lapsed long ago, set here directly).
    execute(
        env.store,
        "UPDATE licenses SET expires_day = ? WHERE order_id = 'sub_ending'",
        [day_number(date(2026, 1, 31))],
    )
    env.store.upsert_orders([sub("sub_gone", ANNA, "canceled", date(2026, 1, 1))], now)
    return made


def text(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def test_the_customer_page_shows_expiry_and_subscription_state(console: Console) -> None:
    console.login("sam")
    page = text(console.client.get(f"/customers/{ANNA}").text)
    assert "2099-12-01 active" in page  # paid until, state
    assert "2099-06-01 cancel at period end" in page
    assert "2026-01-01 canceled" in page
    assert "2099-12-08" in page and "perpetual" in page
    assert "expired 2026-01-31" in page


def test_the_escalation_facts_and_the_license_pages(console: Console) -> None:
    console.login("sam")
    page = text(console.client.get("/escalations/1").text)
    assert "seats_exhausted" in page
    assert "2099-03-01 past_due" in page  # the sender's order
    assert "2099-03-08" in page  # the sender's license
    listing = text(console.client.get("/licenses", params={"q": ANNA}).text)
    assert "expired 2026-01-31" in listing and "perpetual" in listing and "2099-12-08" in listing
    number = console.env.store.licenses(order_id="sub_active")[0].license_no
    detail = text(console.client.get(f"/licenses/{number}").text)
    assert "Paid until 2099-12-01 active" in detail and "Expires 2099-12-08" in detail


def test_the_cli_shows_them_too(console: Console) -> None:
    env = console.env
    shown = env.cli("customer", ANNA)
    assert shown.exit_code == 0, shown.output
    assert "2099-12-01, active" in shown.output
    assert "2099-06-01, cancel at period end" in shown.output
    assert "2026-01-01, canceled" in shown.output
    assert "expired 2026-01-31" in shown.output and "perpetual" in shown.output
    queue = env.cli("queue", "show", "1").output
    assert "2099-03-01, past_due" in queue and "2099-03-08" in queue
    listed = env.cli("licenses", "list", "--customer", ANNA).output
    assert "expired 2026-01-31" in listed and "2099-12-08" in listed and "perpetual" in listed
    number = env.store.licenses(order_id="sub_active")[0].license_no
    one = env.cli("licenses", "show", str(number)).output
    assert "paid until 2099-12-01, active" in one and "expires:  2099-12-08" in one
    data = env.cli_json("customer", ANNA)
    expiries = {lic["order_id"]: (lic["expires"], lic["expired"]) for lic in data["licenses"]}
    assert expiries == {
        "ORD-1": (None, False),
        "sub_active": ("2099-12-08", False),
        "sub_ending": ("2026-01-31", True),
    }
    states = {o["order_id"]: o["subscription_state"] for o in data["orders"]}
    assert states["sub_ending"] == "cancel at period end" and states["ORD-1"] == ""
