"""Read-side questions people and scripts ask of the store, and the small writes that go with
them (recording an offline order, expiring unpaid pay-link requests)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from mailbot.core.model import Order, OrderStatus, Reason
from mailbot.store import Store, iso


def list_messages(store: Store, *, outcome: str | None = None, sender: str | None = None,
                  limit: int = 0) -> list[dict[str, Any]]:
    where, params = ["1 = 1"], []
    if outcome:
        where.append("outcome = ?")
        params.append(outcome)
    if sender:
        where.append("sender = ?")
        params.append(sender.lower())
    sql = (
        "SELECT id, mailbox_key, message_id, sender, subject, received_at, processed_at, "
        f"outcome, reason, serials FROM messages WHERE {' AND '.join(where)} ORDER BY id"
    )
    if limit:
        sql = f"SELECT * FROM ({sql} DESC LIMIT {int(limit)}) ORDER BY id"
    rows = store.query(sql, params)
    for r in rows:
        r["serials"] = json.loads(r["serials"] or "[]")
    return rows


def add_manual_order(store: Store, now: datetime, *, email: str, seats: int, name: str = "",
                     order_id: str = "", status: str = "paid") -> Order:
    email = email.strip().lower()
    if "@" not in email:
        raise ValueError(f"{email!r} is not an email address")
    with store.transaction():
        if not order_id:
            prefix = f"MAN-{now:%Y%m%d}-"
            n = store.one("SELECT count(*) AS n FROM orders WHERE order_id LIKE ?",
                          [prefix + "%"])
            number = (n["n"] if n else 0) + 1
            # A reference typed by hand may already hold the next number.
            while store.order(f"{prefix}{number}") is not None:
                number += 1
            order_id = f"{prefix}{number}"
        existing = store.order(order_id)
        if existing is not None and existing.source != "manual":
            # The sync would put it back anyway; until then its seats would be wrong.
            raise ValueError(f"order {order_id} comes from {existing.source} and cannot be "
                             "replaced; choose another --order-id")
        order = Order(order_id=order_id, email=email, name=name, seats=seats,
                      status=OrderStatus(status), created=now, source="manual")
        store.upsert_orders([order], now)
    return order


def order_rows(store: Store, email: str | None = None) -> list[dict[str, Any]]:
    orders = store.orders_for_email(email) if email else store.all_orders()
    used = {r["order_id"]: r["n"] for r in store.query(
        "SELECT order_id, count(*) AS n FROM licenses WHERE state = 'active' "
        "AND order_id IS NOT NULL GROUP BY order_id")}
    rows = []
    for o in orders:
        n = used.get(o.order_id, 0)
        rows.append({
            "order_id": o.order_id, "email": o.email, "name": o.name, "status": o.status.value,
            "seats": o.seats, "refunded_seats": o.refunded_seats, "used": n,
            "free": o.usable_seats - n, "source": o.source, "created": iso(o.created),
            "currency": o.currency, "amount_total": o.amount_total,
        })
    return rows


def expire_pending_payments(
    store: Store, now: datetime,
    on_escalated: Callable[[Store, int, datetime], None] | None = None,
) -> int:
    """Pay-link requests nobody paid in time go to a person (who may chase or close them)."""
    expired = store.query(
        "SELECT * FROM pending_payments WHERE state = 'open' AND expires_at <= ?", [iso(now)])
    count = 0
    for p in expired:
        serials = [
            {"serial": s, "as_found": s, "status": "ok", "new": False,
             "action": "await_payment", "reason": Reason.PAYMENT_EXPIRED.value,
             "order_id": None, "old_serial": None}
            for s in json.loads(p["serials"] or "[]")
        ]
        with store.transaction():
            # Looked at before the write lock: a sync may have fulfilled it since.
            changed = store.db.execute(
                "UPDATE pending_payments SET state = 'expired' WHERE id = ? AND state = 'open'",
                [p["id"]]).rowcount
            if not changed:
                continue
            count += 1
            esc = store.add_escalation(
                {"message_row": p["message_row"], "reason": Reason.PAYMENT_EXPIRED.value,
                 "detail": f"pay-link request {p['id']} was not paid by {p['expires_at']}",
                 "sender": p["sender"], "serials": json.dumps(serials), "facts": "{}"},
                "mailbot", now)
            if on_escalated is not None:
                on_escalated(store, esc, now)
    return count
