"""CsvOrders: the orders file of the embedded setup, forgiving row by row, strict about columns."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from mailbot.adapters.orders.csv_file import CsvOrders
from mailbot.config import ConfigError
from mailbot.core.model import OrderStatus

HEADER = "order_id,email,name,seats,status,created"


def orders_file(tmp_path: Path, *rows: str, header: str = HEADER) -> Path:
    path = tmp_path / "orders.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def test_rows_become_orders_with_optional_columns(tmp_path: Path) -> None:
    path = orders_file(
        tmp_path,
        "INV-1,It@Acme.Example,ACME IT,3,paid,2026-11-02T10:00:00,2,eur,14700",
        header=HEADER + ",refunded_seats,currency,amount_total",
    )
    [order] = CsvOrders(path).all_orders()
    assert (order.order_id, order.email, order.name, order.seats) == (
        "INV-1",
        "it@acme.example",
        "ACME IT",
        3,
    )
    assert order.status is OrderStatus.PAID and order.source == "csv"
    assert order.created == datetime(2026, 11, 2, 10, 0, tzinfo=UTC)  # no zone: UTC
    assert (order.refunded_seats, order.usable_seats, order.currency) == (2, 1, "eur")
    assert order.amount_total == 14700


def test_a_bad_row_is_skipped_with_its_line_number_and_the_rest_still_count(
    tmp_path: Path,
) -> None:
    path = orders_file(
        tmp_path,
        "INV-1,a@acme.example,A,1,paid,2026-11-02T10:00:00+00:00",
        "INV-2,not-an-address,B,1,paid,2026-11-02T10:00:00+00:00",
        "INV-3,c@acme.example,C,two,paid,2026-11-02T10:00:00+00:00",
        "INV-4,d@acme.example,D,1,maybe,2026-11-02T10:00:00+00:00",
        "INV-5,e@acme.example,E,1,refunded,2026-11-02T10:00:00+00:00",
    )
    source = CsvOrders(path)
    assert [o.order_id for o in source.all_orders()] == ["INV-1", "INV-5"]
    assert [p.split(":")[0] for p in source.problems] == [
        "orders.csv line 3",
        "orders.csv line 4",
        "orders.csv line 5",
    ]
    [check] = source.checks()
    assert check.ok and "2 order(s)" in check.detail and "3 row(s) skipped" in check.detail


def test_missing_columns_stop_everything(tmp_path: Path) -> None:
    path = orders_file(tmp_path, "1,a@b.example", header="id,mail")
    with pytest.raises(ConfigError, match="missing column"):
        list(CsvOrders(path).all_orders())
    [check] = CsvOrders(path).checks()
    assert not check.ok and "order_id" in check.detail


def test_an_unreadable_file_says_mail_waits(tmp_path: Path) -> None:
    source = CsvOrders(tmp_path / "gone.csv")
    with pytest.raises(ConfigError, match="mail waits"):
        source.version()
    with pytest.raises(ConfigError, match="mail waits"):
        list(source.all_orders())


def test_the_version_changes_with_the_file(tmp_path: Path) -> None:
    path = orders_file(tmp_path, "INV-1,a@acme.example,A,1,paid,2026-11-02T10:00:00+00:00")
    source = CsvOrders(path)
    before = source.version()
    path.write_text(path.read_text() + "INV-2,b@acme.example,B,1,paid,2026-11-03T10:00:00Z\n")
    assert source.version() != before
    assert [o.email for o in source.lookup_email("B@acme.example")] == ["b@acme.example"]


def test_a_language_column_gives_the_customers_language_and_junk_gives_none(
    tmp_path: Path,
) -> None:
    path = orders_file(
        tmp_path,
        "A,a@x.example,A,1,paid,2026-11-02T10:00:00,de-AT",
        "B,b@x.example,B,1,paid,2026-11-02T10:00:00,",
        "C,c@x.example,C,1,paid,2026-11-02T10:00:00,<script>",
        header=HEADER + ",language",
    )
    assert [o.language for o in CsvOrders(path).all_orders()] == ["de", "", ""]
    # Without the column every order's language is unknown.
    [order] = CsvOrders(orders_file(tmp_path, "A,a@x.example,A,1,paid,2026-11-02")).all_orders()
    assert order.language == ""
