"""Pay-link requests that were not paid in time (mailbot/services/payments.py); the whole pay-link
flow against Stripe is tests/services/test_order_sync.py."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from mailbot.services.payments import expire_pending_payments
from mailbot.store import Store
from mailbot.store.rows import NewPendingPayment, PendingPayment
from tests.db import one
from tests.staff_env import T0, Env, make_env, order_row


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return make_env(tmp_path, [order_row("ORD-1", "alice@northwind.example", 3)])


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
