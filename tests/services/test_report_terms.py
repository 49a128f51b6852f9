"""The finance report on orders with terms (issue 13): subscriptions in every state counted per
currency, renewals inside the period only, the licenses expiring within 30 days with those
finance must act on first; the same figures in the JSON, the CSV sections and the CLI."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from mailbot.core.license_format import day_of
from mailbot.core.model import Order, OrderStatus
from mailbot.services.report import Period, load_report
from mailbot.services.report_render import render_csv, render_json
from mailbot.services.report_terms import SUBSCRIPTION_FIELDS
from tests.staff_env import T0, Env, make_env, new_serial, order_row, request

GRACE = 7
NOV = Period(date(2026, 11, 1), date(2026, 11, 30))
TODAY = T0.date()  # 2026-11-29: the window is 2026-11-29 .. 2026-12-29


def sub(
    order_id: str,
    seats: int,
    paid_until: date,
    state: str = "active",
    *,
    cancel: bool = False,
    monthly: int = 0,
    currency: str = "eur",
    source: str = "stripe",
) -> Order:
    paid = state in ("active", "past_due", "trialing") or source != "stripe"
    return Order(
        order_id=order_id,
        email=f"{order_id.lower()}@acme.example",
        name=order_id.title(),
        seats=seats,
        status=OrderStatus.PAID if paid else OrderStatus.UNPAID,
        created=datetime(2026, 9, 1, tzinfo=UTC),
        currency=currency,
        source=source,
        paid_until=paid_until,
        subscription=state if source == "stripe" else "",
        cancel_at_period_end=cancel,
        monthly_amount=monthly,
    )


ORDERS = [
    sub("SUB-ACT", 3, date(2026, 12, 10), monthly=3000),
    sub("SUB-DUE", 2, date(2026, 12, 1), "past_due", monthly=2000),
    sub("SUB-END", 1, date(2026, 12, 5), cancel=True, monthly=1000),
    sub("SUB-CAN", 1, date(2026, 12, 3), monthly=500),  # cancelled after its license
    sub("SUB-LAP", 1, date(2026, 11, 1), monthly=700),  # term + grace over on 2026-11-09
    sub("SUB-USD", 1, date(2027, 2, 1), monthly=1500, currency="usd"),
    sub("ORD-TERM", 2, date(2026, 12, 15), source="manual"),  # an offline order with a term
]


def licensed(env: Env, order: Order, count: int = 1) -> list[int]:
    serials = [new_serial() for _ in range(count)]
    done = env.send(request(order.email, *serials))
    assert done.outcome.value == "issued", done
    return [env.store.active_license(s).license_no for s in serials]


@pytest.fixture
def env(tmp_path: Path) -> Env:
    made = make_env(
        tmp_path,
        [order_row("ORD-1", "perpetual@acme.example", 1)],
        product={"subscription_grace_days": GRACE},
    )
    store, now = made.store, made.clock.now()
    store.upsert_orders(ORDERS, now)
    by_id = {o.order_id: o for o in ORDERS}
    numbers = {
        oid: licensed(made, by_id[oid], n)
        for oid, n in (
            ("SUB-ACT", 2),
            ("SUB-DUE", 1),
            ("SUB-END", 1),
            ("SUB-CAN", 1),
            ("SUB-USD", 1),
            ("ORD-TERM", 1),
        )
    }
    licensed(made, Order("ORD-1", "perpetual@acme.example", "", 1, OrderStatus.PAID, now))
    store.upsert_orders(
        [replace(by_id["SUB-CAN"], subscription="canceled", status=OrderStatus.UNPAID)], now
    )
    for oid, term, at in (
        ("SUB-ACT", date(2026, 11, 10), datetime(2026, 11, 3, tzinfo=UTC)),  # inside
        ("SUB-ACT", date(2026, 10, 10), datetime(2026, 10, 31, 23, 59, tzinfo=UTC)),  # before
        ("SUB-USD", date(2026, 11, 20), datetime(2026, 11, 30, 23, 0, tzinfo=UTC)),  # inside
        ("SUB-DUE", date(2026, 12, 1), datetime(2026, 12, 1, 0, 0, tzinfo=UTC)),  # after
    ):
        assert store.add_renewal(oid, term, "x@acme.example", numbers[oid], None, at)
    return made


def test_subscriptions_per_currency_in_every_state(env: Env) -> None:
    report = load_report(env.store, NOV, T0, grace_days=GRACE)
    rows = {s.currency: s for s in report.subscriptions}
    eur, usd = rows["eur"], rows["usd"]
    assert (eur.active, eur.past_due, eur.cancel_at_period_end, eur.lapsed, eur.canceled) == (
        2,  # SUB-ACT and the offline ORD-TERM
        1,
        1,
        1,
        1,
    )
    assert eur.subscriptions == 6
    assert eur.seats == 3 + 2 + 2 + 1  # in force only: not the lapsed or cancelled ones
    assert (eur.renewed, eur.renewed_licenses) == (1, 2)  # October's and December's left out
    assert (eur.monthly_recurring, eur.monthly_ending) == (3000 + 2000 + 1000, 1000)
    assert (usd.subscriptions, usd.active, usd.seats, usd.renewed, usd.monthly_recurring) == (
        1,
        1,
        1,
        1,
        1500,
    )
    # Without the grace, SUB-LAP lapsed all the same; with a long one it is still active.
    later = {s.currency: s for s in load_report(env.store, NOV, T0, grace_days=60).subscriptions}
    assert (later["eur"].lapsed, later["eur"].active) == (0, 3)


def test_expiring_licenses_with_finance_action_first(env: Env) -> None:
    report = load_report(env.store, NOV, T0, grace_days=GRACE)
    assert report.expiring_window == (TODAY, TODAY + timedelta(days=30))
    seen = [(e.order_id, e.outlook, e.needs_action, e.expires) for e in report.expiring]
    assert seen == [
        ("SUB-DUE", "payment_due", True, "2026-12-08"),
        ("ORD-TERM", "invoice_due", True, "2026-12-22"),
        ("SUB-CAN", "ends", False, "2026-12-10"),
        ("SUB-END", "ends", False, "2026-12-12"),
        ("SUB-ACT", "renews", False, "2026-12-17"),
        ("SUB-ACT", "renews", False, "2026-12-17"),
    ]  # SUB-USD expires 2027-02-08 and ORD-1 never: not listed
    can = next(e for e in report.expiring if e.order_id == "SUB-CAN")
    assert can.subscription == "canceled" and can.days_left == 11
    assert next(e for e in report.expiring if e.order_id == "SUB-END").subscription == (
        "cancel at period end"
    )
    # A cancelled subscription's license lapses on its own: no exception needs action for it.
    assert not [e for e in report.exceptions if e.order_id == "SUB-CAN"]
    lic = env.store.license(can.license_no)
    assert lic is not None and day_of(lic.expires_day).isoformat() == can.expires


def test_json_and_csv_carry_them(env: Env) -> None:
    report = load_report(env.store, NOV, T0, grace_days=GRACE)
    data = json.loads(render_json(report))
    assert list(data)[:5] == ["period", "generated_at", "exceptions", "orders", "totals"]
    assert data["expiring"]["from"] == "2026-11-29" and data["expiring"]["to"] == "2026-12-29"
    assert [e["order_id"] for e in data["expiring"]["licenses"]][:2] == ["SUB-DUE", "ORD-TERM"]
    eur = next(s for s in data["subscriptions"] if s["currency"] == "eur")
    assert eur["monthly_recurring"] == 6000 and eur["lapsed"] == 1
    subs = list(csv.DictReader(io.StringIO(render_csv(report, "subscriptions"))))
    assert tuple(subs[0]) == SUBSCRIPTION_FIELDS
    assert {r["currency"]: r["canceled"] for r in subs} == {"eur": "1", "usd": "0"}
    expiring = list(csv.DictReader(io.StringIO(render_csv(report, "expiring"))))
    assert [(r["order_id"], r["needs_action"]) for r in expiring[:3]] == [
        ("SUB-DUE", "true"),
        ("ORD-TERM", "true"),
        ("SUB-CAN", "false"),
    ]
    # The old tables keep their columns.
    header = render_csv(report, "totals").splitlines()[0]
    assert header == (
        "currency,orders,amount_total,seats,paid_seats,refunded_seats,usable_seats,"
        "licenses_issued,seats_free"
    )


def test_the_cli_writes_the_new_sections(env: Env) -> None:
    args = ("report", "--from", "2026-11-01", "--to", "2026-11-30")
    # The CLI runs on the real clock: only figures that do not depend on the day are checked.
    out = env.cli(*args, "--format", "csv", "--section", "subscriptions")
    assert out.exit_code == 0, out.output
    rows = {r["currency"]: r for r in csv.DictReader(io.StringIO(out.output))}
    assert (rows["eur"]["canceled"], rows["eur"]["renewed"], rows["usd"]["renewed"]) == (
        "1",
        "1",
        "1",
    )
    data = json.loads(env.cli(*args, "--format", "json").output)
    window = data["expiring"]
    assert date.fromisoformat(window["to"]) - date.fromisoformat(window["from"]) == timedelta(30)
    table = env.cli(*args).output
    assert "Subscriptions per currency" in table
    assert "Licenses expiring" in table or "No license expires" in table
