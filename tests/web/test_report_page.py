"""The finance report page and its CSV: finance and admins only, exceptions first, the same
files as `mailbot report --format csv`, formulas neutralized, bad periods said in words."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from tests.staff_env import new_serial, order_row, request
from tests.web.console import Console, make_console

NOV = {"from": "2026-11-01", "to": "2026-11-30"}
FORMULA_NAME = "=HYPERLINK(1+2)"


@pytest.fixture
def console(tmp_path: Path) -> Console:
    orders = [
        order_row("ORD-1", "buyer@acme.example", 2, amount=12345, name=FORMULA_NAME),
        order_row("ORD-2", "quitter@acme.example", 1, amount=5000, name="<b>Quit</b>"),
    ]
    console = make_console(tmp_path, orders)
    console.env.send(request("quitter@acme.example", new_serial()))
    orders[1] = order_row(
        "ORD-2", "quitter@acme.example", 1, "refunded", amount=5000, name="<b>Quit</b>"
    )
    console.env.write_orders(orders)  # refunded after its license went out
    return console


def test_finance_sees_exceptions_first_then_totals_and_orders(console: Console) -> None:
    console.login("fin")
    page = console.client.get("/report", params={"month": "2026-11"})
    assert page.status_code == 200
    text = page.text
    assert text.index("Exceptions") < text.index("Totals per currency") < text.index(">Orders")
    needs = text.index("needs action")
    assert text.index("refunded_with_license") > needs > text.index("Exceptions")
    assert "unused_order" in text and "for the record" in text
    assert "123.45 EUR" in text and "173.45 EUR" in text  # order and currency total
    assert 'href="/customers/quitter@acme.example"' in text
    assert "&lt;b&gt;Quit&lt;/b&gt;" in text and "<b>Quit" not in text
    assert "/report.csv?from=2026-11-01&amp;to=2026-11-30&amp;section=exceptions" in text


def test_only_finance_and_admins_open_the_report(console: Console) -> None:
    console.login("sam")
    for path in ("/report", "/report.csv"):
        refused = console.client.get(path)
        assert refused.status_code == 403 and "cannot do this" in refused.text
    console.client.cookies.clear()
    console.login("ada")
    assert console.client.get("/report").status_code == 200


def test_the_csv_is_the_clis_with_formulas_neutralized(console: Console) -> None:
    console.login("fin")
    for section in ("orders", "exceptions", "totals"):
        answer = console.client.get("/report.csv", params={**NOV, "section": section})
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
        assert answer.headers["content-disposition"] == (
            f'attachment; filename="mailbot-report-2026-11-01-2026-11-30-{section}.csv"'
        )
        cli = console.env.cli(
            "report",
            "--from",
            NOV["from"],
            "--to",
            NOV["to"],
            "--format",
            "csv",
            "--section",
            section,
        )
        assert answer.text == cli.output
    rows = list(csv.DictReader(io.StringIO(console.client.get("/report.csv", params=NOV).text)))
    names = {r["order_id"]: r["name"] for r in rows}
    assert names["ORD-1"] == "'" + FORMULA_NAME
    assert {r["order_id"]: int(r["seats_free"]) for r in rows}["ORD-2"] == -1  # still a number


@pytest.mark.parametrize(
    ("params", "said"),
    [
        ({"month": "2026-13"}, "is not a month"),
        ({"month": "November"}, "is not a month"),
        ({"from": "2026-02-30"}, "is not a date"),
        ({"from": "x<script>"}, "&#39;x&lt;script&gt;&#39; is not a date"),
        ({"from": "2026-11-30", "to": "2026-11-01"}, "before it starts"),
        ({"from": "2000-01-01", "to": "2026-11-30"}, "at most 366"),
        ({"from": "0001-01-01", "to": "9999-12-31"}, "at most 366"),
    ],
)
def test_a_bad_period_is_said_in_words(console: Console, params: dict[str, str], said: str) -> None:
    console.login("fin")
    page = console.client.get("/report", params=params)
    assert page.status_code == 400 and said in page.text and "Traceback" not in page.text
    download = console.client.get("/report.csv", params=params)
    assert download.status_code == 400 and said in download.text


def test_an_unknown_csv_table_is_refused(console: Console) -> None:
    console.login("fin")
    answer = console.client.get("/report.csv", params={"section": "../secrets"})
    assert answer.status_code == 400 and "orders, exceptions, totals" in answer.text


def test_finance_sees_subscriptions_and_expiring_licenses_support_does_not(
    tmp_path: Path,
) -> None:
    from datetime import UTC, date, datetime

    from mailbot.core.model import Order, OrderStatus

    console = make_console(tmp_path, [], product={"subscription_grace_days": 7})
    env, now = console.env, console.env.clock.now()

    def sub(order_id: str, state: str, until: date, monthly: int, cancel: bool = False) -> Order:
        return Order(
            order_id,
            f"{order_id}@acme.example",
            "",
            1,
            OrderStatus.PAID,
            datetime(2026, 9, 1, tzinfo=UTC),
            currency="eur",
            source="stripe",
            paid_until=until,
            subscription=state,
            cancel_at_period_end=cancel,
            monthly_amount=monthly,
        )

    env.store.upsert_orders(
        [
            sub("sub_due", "past_due", date(2026, 12, 1), 2000),
            sub("sub_end", "active", date(2027, 5, 1), 1234, cancel=True),
        ],
        now,
    )
    env.send(request("sub_due@acme.example", new_serial()))
    console.login("sam")
    assert console.client.get("/report").status_code == 403
    assert console.client.get("/report.csv", params={"section": "expiring"}).status_code == 403
    console.client.cookies.clear()
    console.login("fin")
    page = console.client.get("/report", params=NOV).text
    assert page.index("Exceptions") < page.index("Subscriptions") < page.index("Licenses expiring")
    assert "32.34 EUR" in page and "12.34 EUR" in page  # recurring, of which ending
    expiring = page[page.index("Licenses expiring 2026-11-29 to 2026-12-29") :]
    assert "sub_due@acme.example" in expiring and "needs action" in expiring
    assert "lapses unless the failed payment is collected" in expiring
    answer = console.client.get("/report.csv", params={**NOV, "section": "expiring"})
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [(r["order_id"], r["expires"], r["needs_action"]) for r in rows] == [
        ("sub_due", "2026-12-08", "true")
    ]
