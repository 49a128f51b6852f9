"""Staff-side defects found in review: each test failed before its fix."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mailbot.adapters.orders.stripe import StripeOrders, WebhookRejected
from mailbot.services.payments import expire_pending_payments
from mailbot.store import Store
from mailbot.store.rows import NewPendingPayment, PendingPayment
from tests.db import one
from tests.staff_env import T0, Env, make_env, order_row


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return make_env(tmp_path, [order_row("ORD-1", "alice@northwind.example", 3)])


def _plain(result: Any) -> str:
    """The command failed with one sentence (exit 2), not a traceback."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    return str(result.output)


# -- commands: one plain sentence on bad input ------------------------------------------------


def test_orders_add_with_a_bad_address_is_one_sentence(env: Env) -> None:
    out = _plain(env.cli("orders", "add", "--email", "not-an-address", "--seats", "1"))
    assert "not an email address" in out


def test_orders_add_never_overwrites_an_order_from_another_source(env: Env) -> None:
    out = _plain(
        env.cli(
            "orders", "add", "--order-id", "ORD-1", "--email", "eve@evil.example", "--seats", "100"
        )
    )
    assert "ORD-1" in out
    order = env.store.order("ORD-1")
    assert order.email == "alice@northwind.example" and order.seats == 3


def test_orders_add_numbers_never_collide_with_an_existing_order(env: Env) -> None:
    day = f"MAN-{T0:%Y%m%d}-"
    assert (
        env.cli(
            "orders", "add", "--order-id", f"{day}2", "--email", "a@acme.example", "--seats", "5"
        ).exit_code
        == 0
    )
    first = env.cli("orders", "add", "--email", "b@acme.example", "--seats", "1")
    second = env.cli("orders", "add", "--email", "c@acme.example", "--seats", "1")
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    kept = env.store.order(f"{day}2")
    assert kept.email == "a@acme.example" and kept.seats == 5
    emails = {o.email for o in env.store.all_orders() if o.source == "manual"}
    assert emails == {"a@acme.example", "b@acme.example", "c@acme.example"}


def test_orders_add_can_still_mark_a_manual_order_paid(env: Env) -> None:
    assert (
        env.cli(
            "orders",
            "add",
            "--order-id",
            "INV-7",
            "--email",
            "a@acme.example",
            "--seats",
            "2",
            "--status",
            "unpaid",
        ).exit_code
        == 0
    )
    result = env.cli(
        "orders", "add", "--order-id", "INV-7", "--email", "a@acme.example", "--seats", "2"
    )
    assert result.exit_code == 0, result.output
    assert env.store.order("INV-7").status.value == "paid"


@pytest.mark.parametrize(
    "args",
    [
        ("queue", "show", "99999999999999999999999"),
        ("queue", "claim", "99999999999999999999999"),
        ("queue", "issue", "99999999999999999999999", "--grant", "x"),
        ("licenses", "show", "99999999999999999999999"),
        ("licenses", "revoke", "99999999999999999999999", "--reason", "x"),
        ("queue", "list", "--older-than", "9999999999999w"),
    ],
)
def test_out_of_range_numbers_are_one_sentence(env: Env, args: tuple[str, ...]) -> None:
    _plain(env.cli(*args))


def test_an_age_older_than_the_calendar_lists_everything(env: Env) -> None:
    result = env.cli("queue", "list", "--newer-than", "999999w")
    assert result.exit_code == 0 and "The queue is empty." in result.output


def test_report_into_a_missing_folder_is_one_sentence(env: Env, tmp_path: Path) -> None:
    for fmt in ("csv", "table"):
        out = _plain(
            env.cli(
                "report", "--format", fmt, "-o", str(tmp_path / "no" / "such" / "dir" / "r.csv")
            )
        )
        assert "cannot write" in out


def test_report_up_to_the_last_representable_day(env: Env) -> None:
    result = env.cli("report", "--from", "2026-11-01", "--to", "9999-12-31", "--format", "json")
    assert result.exit_code == 0, result.output
    assert [o["order_id"] for o in json.loads(result.output)["orders"]] == ["ORD-1"]


# -- money and mail ---------------------------------------------------------------------------


def test_expiry_leaves_a_request_that_was_fulfilled_meanwhile_alone(env: Env) -> None:
    """The expiry job reads the open requests, then writes one transaction per request: a
    request a sync (another process) fulfilled in between must not become `expired` again and
    get a payment_expired escalation, or the next sync would mail its licenses a second time."""
    store = env.store
    with store.transaction():
        store.add_pending_payment(
            NewPendingPayment(
                id="mb_race",
                message_row=0,
                sender="alice@northwind.example",
                serials=(),
                created_at=T0 - timedelta(days=30),
                expires_at=T0 - timedelta(days=1),
            )
        )

    class Racing(Store):
        def overdue_payments(self, now: datetime) -> list[PendingPayment]:
            rows = super().overdue_payments(now)
            # Another process fulfils the request right after the job looked.
            self.conn.execute(
                "UPDATE pending_payments SET state = 'fulfilled' WHERE id = ?", ["mb_race"]
            )
            return rows

    racing = Racing(store.conn, store.path)
    env.app.__dict__["store"] = racing  # the App's cached store, swapped for the racing one
    expire_pending_payments(env.app, T0)
    assert (
        one(store, "SELECT state FROM pending_payments WHERE id = 'mb_race'")["state"]
        == "fulfilled"
    )
    assert env.escalations() == []


def test_a_webhook_body_that_is_not_utf8_is_refused_not_a_server_error() -> None:
    with pytest.raises(WebhookRejected):
        StripeOrders.verify_webhook(b'\xff\xfe{"id": "evt_1"}', "t=1,v1=00", "whsec_test")


def test_a_reply_file_that_is_not_utf8_is_one_sentence(env: Env, tmp_path: Path) -> None:
    answer = tmp_path / "answer.txt"
    answer.write_bytes(b"Gr\xfc\xdfe, das geht so nicht")  # Latin-1, as some editors save
    out = _plain(env.cli("queue", "reply", "1", "--text-file", str(answer)))
    assert "UTF-8" in out


def test_signed_list_into_an_unwritable_place_is_one_sentence(env: Env, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    out = _plain(env.cli("licenses", "revoked", "--signed", "-o", str(blocker / "revoked.json")))
    assert "cannot write" in out
