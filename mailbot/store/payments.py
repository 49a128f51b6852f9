"""The `pending_payments` and `webhook_events` tables: pay-link requests waiting for their
payment, and Stripe event ids a webhook announced."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from mailbot.store.engine import Engine, dumps, iso, loads, parse_iso, when
from mailbot.store.rows import NewPendingPayment, PendingPayment, WebhookEvent


def _pending(row: sqlite3.Row) -> PendingPayment:
    return PendingPayment(
        id=row["id"],
        message_row=row["message_row"],
        sender=row["sender"] or "",
        serials=tuple(str(s) for s in loads(row["serials"], [])),
        created_at=when(row["created_at"]),
        expires_at=when(row["expires_at"]),
        state=row["state"],
        order_id=row["order_id"],
        fulfilled_at=parse_iso(row["fulfilled_at"]),
    )


class PaymentsTable(Engine):
    """Queries on `pending_payments` and `webhook_events`."""

    def add_pending_payment(self, p: NewPendingPayment) -> None:
        self._exec(
            "INSERT INTO pending_payments (id, message_row, sender, serials, created_at, "
            "expires_at, state) VALUES (?, ?, ?, ?, ?, ?, 'open')",
            [
                p.id,
                p.message_row,
                p.sender,
                dumps(list(p.serials)),
                iso(p.created_at),
                iso(p.expires_at),
            ],
        )

    def pending_payment(self, pending_id: str) -> PendingPayment | None:
        row = self._row("SELECT * FROM pending_payments WHERE id = ?", [pending_id])
        return _pending(row) if row else None

    def pending_payments_of(self, sender: str) -> list[PendingPayment]:
        rows = self._rows(
            "SELECT * FROM pending_payments WHERE sender = ? ORDER BY created_at", [sender]
        )
        return [_pending(r) for r in rows]

    def overdue_payments(self, now: datetime) -> list[PendingPayment]:
        rows = self._rows(
            "SELECT * FROM pending_payments WHERE state = 'open' AND "
            "expires_at <= ? ORDER BY created_at, id",
            [iso(now)],
        )
        return [_pending(r) for r in rows]

    def expire_payment(self, pending_id: str) -> bool:
        """Mark an open request expired; False when a sync fulfilled it meanwhile."""
        return (
            self._exec(
                "UPDATE pending_payments SET state = 'expired' WHERE id = ? AND state = 'open'",
                [pending_id],
            )
            > 0
        )

    def fulfil_payment(self, pending_id: str, order_id: str, at: datetime) -> None:
        self._exec(
            "UPDATE pending_payments SET state = 'fulfilled', order_id = ?, "
            "fulfilled_at = ? WHERE id = ?",
            [order_id, iso(at), pending_id],
        )

    # -- webhook events ------------------------------------------------------------------

    def queue_webhook_event(self, event_id: str, at: datetime) -> bool:
        """Record that Stripe told us about an event; False when it was queued already.
        SQLite: INSERT OR IGNORE."""
        return (
            self._exec(
                "INSERT OR IGNORE INTO webhook_events (id, received_at, attempts) VALUES (?, ?, 0)",
                [event_id, iso(at)],
            )
            > 0
        )

    def waiting_webhook_events(self, limit: int) -> list[WebhookEvent]:
        rows = self._rows(
            "SELECT id, attempts FROM webhook_events WHERE processed_at IS NULL "
            "ORDER BY received_at, id LIMIT ?",
            [limit],
        )
        return [WebhookEvent(id=r["id"], attempts=int(r["attempts"] or 0)) for r in rows]

    def webhook_event_failed(
        self, event_id: str, attempts: int, error: str, given_up_at: datetime | None = None
    ) -> None:
        self._exec(
            "UPDATE webhook_events SET attempts = ?, last_error = ?, processed_at = ? WHERE id = ?",
            [attempts, error[:500], iso(given_up_at) if given_up_at else None, event_id],
        )

    def webhook_event_done(self, event_id: str, attempts: int, at: datetime) -> None:
        self._exec(
            "UPDATE webhook_events SET processed_at = ?, attempts = ?, last_error = NULL "
            "WHERE id = ?",
            [iso(at), attempts, event_id],
        )

    def forget_webhook_events(self, before: datetime) -> None:
        self._exec("DELETE FROM webhook_events WHERE processed_at < ?", [iso(before)])
