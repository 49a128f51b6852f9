"""Finance reconciliation: the report's figures, checked against an independent computation
straight from the inputs each test creates (orders, requests, refunds, disputes, staff actions)."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.core.model import License, LicenseState, Order, OrderStatus
from mailbot.services import licenses as licensing
from mailbot.services.report import Period, build_report, period_for
from mailbot.services.report_render import render_csv
from tests.db import one
from tests.staff_env import Env, make_env, new_serial, request

NOV = ("--from", "2026-11-01", "--to", "2026-11-30")

# The inputs: (order_id, email, seats, currency, amount, created). Statuses change below.
ORDERS = {
    "ORD-1": ("alice@northwind.example", 3, "eur", 30000, "2026-11-02T10:00:00+00:00"),
    "ORD-2": ("bob@contoso.example", 2, "usd", 20000, "2026-11-03T10:00:00+00:00"),
    "ORD-3": ("carol@beispiel.example", 1, "eur", 10000, "2026-11-04T10:00:00+00:00"),
    "ORD-4": ("dave@fabrikam.example", 2, "gbp", 16000, "2026-11-05T10:00:00+00:00"),
    "ORD-5": ("erin@wingtip.example", 4, "eur", 40000, "2026-11-06T10:00:00+00:00"),
    "ORD-6": ("frank@tailspin.example", 1, "eur", 10000, "2026-11-07T10:00:00+00:00"),
    "ORD-OLD": ("gina@litware.example", 2, "eur", 20000, "2026-10-15T10:00:00+00:00"),
}


def csv_rows(status: dict[str, str], refunded: dict[str, int]) -> list[str]:
    return [
        f"{oid},{email},{email.split('@')[0].title()},{seats},{status.get(oid, 'paid')},"
        f"{created},{currency},{refunded.get(oid, 0)},{amount}"
        for oid, (email, seats, currency, amount, created) in ORDERS.items()
    ]


def test_report_figures_match_an_independent_computation(tmp_path: Path) -> None:
    status = {"ORD-6": "unpaid"}
    refunded: dict[str, int] = {}
    env = make_env(tmp_path, csv_rows(status, refunded))
    active: dict[str, set[str]] = {oid: set() for oid in ORDERS}  # order -> active serials
    revoked: dict[str, int] = Counter()
    transfers: dict[str, int] = Counter()
    expected_exceptions: set[tuple[str, str | None, str | None]] = set()

    def ask(order_id: str, count: int) -> list[str]:
        serials = [new_serial() for _ in range(count)]
        env.send(request(ORDERS[order_id][0], *serials))
        active[order_id].update(serials)
        return serials

    a1, a2 = ask("ORD-1", 2)
    b1, b2 = ask("ORD-2", 2)
    (c1,) = ask("ORD-3", 1)
    (d1,) = ask("ORD-4", 1)
    ask("ORD-OLD", 1)
    now = env.clock.now()

    # Staff: move a1 to a new PC, revoke a2, grant a press copy without an order.
    a3 = new_serial()
    licensing.transfer(env.app, a1, a3, "ann", now, reason="new PC")
    active["ORD-1"] -= {a1}
    active["ORD-1"] |= {a3}
    transfers["ORD-1"] += 1
    expected_exceptions.add(("transfer", "ORD-1", a1))
    no_a2 = one(env.store, "SELECT license_no FROM licenses WHERE serial = ?", [a2])["license_no"]
    licensing.revoke(env.app, no_a2, "customer asked", "ann", now)
    active["ORD-1"] -= {a2}
    revoked["ORD-1"] += 1
    expected_exceptions.add(("revoked", "ORD-1", a2))
    press = new_serial()
    licensing.grant(env.app, press, "press@news.example", "review copy", "ann", now)
    expected_exceptions.add(("manual_grant", None, press))

    # Money comes back: bob one seat of two, carol all, dave disputes.
    refunded["ORD-2"] = 1
    status.update({"ORD-3": "refunded", "ORD-4": "disputed"})
    env.write_orders(csv_rows(status, refunded))
    expected_exceptions |= {
        ("over_seats", "ORD-2", None),
        ("refunded_with_license", "ORD-3", c1),
        ("disputed_with_license", "ORD-4", d1),
        ("unused_order", "ORD-5", None),
    }

    result = env.cli("report", *NOV, "--format", "json")
    assert result.exit_code == 0, result.output
    got = json.loads(result.output)

    # The independent computation, from the inputs above only.
    expected_orders = {}
    for oid, (email, seats, currency, amount, created) in ORDERS.items():
        # November's orders, and older ones whose licenses were issued in November (all were).
        if not (created.startswith("2026-11") or active[oid]):
            continue
        st_ = status.get(oid, "paid")
        refunded_seats = seats if st_ == "refunded" else refunded.get(oid, 0)
        usable = seats - refunded_seats if st_ == "paid" else 0
        expected_orders[oid] = {
            "order_id": oid,
            "email": email,
            "seats": seats,
            "paid_seats": 0 if st_ == "unpaid" else seats,
            "refunded_seats": refunded_seats,
            "usable_seats": usable,
            "licenses_issued": len(active[oid]),
            "licenses_revoked": revoked[oid],
            "transfers": transfers[oid],
            "seats_free": usable - len(active[oid]),
            "currency": currency,
            "amount_total": amount,
            "status": st_,
        }
    got_orders = {o["order_id"]: {k: o[k] for k in expected_orders["ORD-1"]} for o in got["orders"]}
    assert got_orders == expected_orders
    assert {
        (e["kind"], e["order_id"], e["serial"]) for e in got["exceptions"]
    } == expected_exceptions
    kinds = [e["kind"] for e in got["exceptions"]]
    assert (
        kinds.index("refunded_with_license")
        < kinds.index("manual_grant")
        < kinds.index("unused_order")
    )  # the most serious first

    expected_totals: dict[str, dict[str, int]] = {}
    for line in expected_orders.values():
        t = expected_totals.setdefault(line["currency"], Counter())  # type: ignore[arg-type]
        t["orders"] += 1
        for name in (
            "amount_total",
            "seats",
            "paid_seats",
            "refunded_seats",
            "usable_seats",
            "licenses_issued",
            "seats_free",
        ):
            t[name] += line[name]
    assert {
        t["currency"]: {k: v for k, v in t.items() if k != "currency"} for t in got["totals"]
    } == {c: dict(v) for c, v in expected_totals.items()}

    # The same figures as CSV, for spreadsheets.
    csv_out = env.cli("report", *NOV, "--format", "csv")
    rows = {r["order_id"]: r for r in csv.DictReader(io.StringIO(csv_out.output))}
    assert {oid: int(r["seats_free"]) for oid, r in rows.items()} == {
        oid: o["seats_free"] for oid, o in expected_orders.items()
    }
    exc_csv = env.cli("report", *NOV, "--format", "csv", "--section", "exceptions")
    assert len(list(csv.DictReader(io.StringIO(exc_csv.output)))) == len(expected_exceptions)
    totals_csv = env.cli("report", *NOV, "--format", "csv", "--section", "totals")
    assert {r["currency"] for r in csv.DictReader(io.StringIO(totals_csv.output))} == {
        "eur",
        "usd",
        "gbp",
    }

    # For people: exceptions come before the orders.
    table = env.cli("report", *NOV)
    assert table.exit_code == 0
    text = table.output
    assert text.index("Exceptions") < text.index("Orders") < text.index("Totals per currency")
    assert "refunded_with_license" in text and "300.00 EUR" in text

    # Another period: only October's order (its license came in November, but it was created in
    # October); the open problems stay listed, November's events do not.
    october = json.loads(
        env.cli("report", "--from", "2026-10-01", "--to", "2026-10-31", "--format", "json").output
    )
    assert [o["order_id"] for o in october["orders"]] == ["ORD-OLD"]
    assert {e["kind"] for e in october["exceptions"]} == {
        "over_seats",
        "refunded_with_license",
        "disputed_with_license",
    }
    out = tmp_path / "r.json"
    assert env.cli("report", *NOV, "--format", "json", "-o", str(out)).exit_code == 0
    assert json.loads(out.read_text())["orders"] == got["orders"]


def test_period_defaults() -> None:
    today = date(2026, 11, 29)
    assert period_for(None, None, today) == Period(date(2026, 11, 1), date(2026, 11, 30))
    assert period_for(date(2026, 9, 15), None, today) == Period(date(2026, 9, 15), today)
    assert period_for(None, date(2026, 2, 10), today) == Period(date(2026, 2, 1), date(2026, 2, 10))
    assert period_for(None, None, date(2028, 2, 3)).end == date(2028, 2, 29)


def test_a_reversed_period_is_refused(tmp_path: Path) -> None:
    env = make_env(tmp_path, [])
    result = env.cli("report", "--from", "2026-11-30", "--to", "2026-11-01")
    assert result.exit_code == 2 and "before it starts" in result.output


def _env_with_nothing(tmp_path: Path) -> Env:
    return make_env(tmp_path, [])


def test_empty_report_and_progress(tmp_path: Path) -> None:
    env = _env_with_nothing(tmp_path)
    got = json.loads(env.cli("report", "--format", "json").output)
    assert got["orders"] == [] and got["exceptions"] == [] and got["totals"] == []
    seen: list[tuple[int, int]] = []
    orders = [
        Order(f"O{i}", "a@b.example", "", 1, OrderStatus.PAID, datetime(2026, 11, 2, tzinfo=UTC))
        for i in range(3)
    ]
    build_report(
        orders,
        [],
        Period(date(2026, 11, 1), date(2026, 11, 30)),
        datetime(2026, 11, 30, tzinfo=UTC),
        progress=lambda d, t: seen.append((d, t)),
    )
    assert seen[-1] == (3, 3)


# -- the pure computation, on random inputs ---------------------------------------------------

DAY0 = datetime(2026, 11, 1, tzinfo=UTC)
statuses = st.sampled_from(list(OrderStatus))


@st.composite
def books(draw: Any) -> tuple[list[Order], list[License]]:
    n = draw(st.integers(0, 6))
    orders = []
    for i in range(n):
        seats = draw(st.integers(0, 4))
        orders.append(
            Order(
                order_id=f"O{i}",
                email=f"c{i}@x.example",
                name="",
                seats=seats,
                status=draw(statuses),
                created=DAY0 + timedelta(days=draw(st.integers(-40, 40))),
                refunded_seats=draw(st.integers(0, seats)),
                currency=draw(st.sampled_from(["eur", "usd", ""])),
                amount_total=draw(st.integers(0, 10**6)),
            )
        )
    records = []
    for no in range(1, draw(st.integers(0, 12)) + 1):
        order_id = draw(st.sampled_from([None] + [o.order_id for o in orders]))
        state = draw(st.sampled_from(["active", "revoked"]))
        records.append(
            License(
                license_no=no,
                serial=f"S{no}",
                customer_email="c@x.example",
                order_id=order_id,
                seat_key=no,
                issued_at=DAY0 + timedelta(days=draw(st.integers(-40, 40))),
                license_string="",
                state=LicenseState(state),
                revoked_at=DAY0 + timedelta(days=draw(st.integers(-40, 40)))
                if state == "revoked"
                else None,
                replaced_by=draw(st.sampled_from([None, no + 100])) if state == "revoked" else None,
            )
        )
    return orders, records


@settings(max_examples=60, deadline=None)
@given(books())
def test_pure_figures_on_random_books(data: tuple[list[Order], list[License]]) -> None:
    orders, records = data
    period = Period(date(2026, 11, 1), date(2026, 11, 30))
    report = build_report(orders, records, period, DAY0)
    got = {o.order_id: o for o in report.orders}
    for order in orders:
        mine = [r for r in records if r.order_id == order.order_id]
        created_inside = date(2026, 11, 1) <= order.created.date() <= date(2026, 11, 30)
        touched = any(
            date(2026, 11, 1) <= r.issued_at.date() <= date(2026, 11, 30)
            or (
                r.revoked_at is not None
                and date(2026, 11, 1) <= r.revoked_at.date() <= date(2026, 11, 30)
            )
            for r in mine
        )
        assert (order.order_id in got) == (created_inside or touched)
        if order.order_id not in got:
            continue
        active = sum(1 for r in mine if r.state is LicenseState.ACTIVE)
        refunded = order.seats if order.status is OrderStatus.REFUNDED else order.refunded_seats
        usable = order.seats - order.refunded_seats if order.status is OrderStatus.PAID else 0
        line = got[order.order_id]
        assert (line.refunded_seats, line.usable_seats, line.licenses_issued, line.seats_free) == (
            refunded,
            usable,
            active,
            usable - active,
        )
        assert line.licenses_revoked + line.transfers == len(mine) - active
    grants = {r.serial for r in records if r.order_id is None and period.contains(r.issued_at)}
    assert {e.serial for e in report.exceptions if e.kind == "manual_grant"} == grants
    assert sum(t.orders for t in report.totals) == len(report.orders)
    csv_rows_ = list(csv.DictReader(io.StringIO(render_csv(report))))
    assert len(csv_rows_) == len(report.orders)
