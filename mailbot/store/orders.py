"""The `orders` and `order_aliases` tables: orders from every source, and seats in use."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import date, datetime

from mailbot.core.model import Order, OrderStatus
from mailbot.core.terms import subscription_state
from mailbot.store.engine import (
    Engine,
    address_condition,
    dumps,
    iso,
    like_pattern,
    loads,
    marks,
    when,
)
from mailbot.store.rows import OrderUse

_UPSERT = (
    "INSERT INTO orders (order_id, email, name, seats, refunded_seats, status, created, "
    "currency, amount_total, source, client_reference_id, aliases, updated_at, language, "
    "paid_until, subscription, cancel_at_period_end, monthly_amount) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (order_id) DO UPDATE SET email = excluded.email, name = excluded.name, "
    "seats = excluded.seats, refunded_seats = excluded.refunded_seats, "
    "status = excluded.status, created = excluded.created, currency = excluded.currency, "
    "amount_total = excluded.amount_total, source = excluded.source, "
    # A subscription listed on its own does not know the Checkout Session (and pay-link
    # reference) that created it: what its session said is kept.
    "client_reference_id = CASE WHEN excluded.client_reference_id != '' THEN "
    "excluded.client_reference_id ELSE orders.client_reference_id END, "
    "aliases = CASE WHEN excluded.aliases != '[]' THEN excluded.aliases ELSE orders.aliases END, "
    # Nor the Checkout locale it was bought in: a language once known is kept.
    "updated_at = excluded.updated_at, language = CASE WHEN excluded.language != '' THEN "
    "excluded.language ELSE orders.language END, "
    "paid_until = excluded.paid_until, "
    "subscription = excluded.subscription, "
    "cancel_at_period_end = excluded.cancel_at_period_end, "
    "monthly_amount = excluded.monthly_amount"
)
_ALIAS = (
    "INSERT INTO order_aliases (alias, order_id) VALUES (?, ?) "
    "ON CONFLICT (alias) DO UPDATE SET order_id = excluded.order_id"
)


def order_of(row: sqlite3.Row) -> Order:
    return Order(
        order_id=row["order_id"],
        email=row["email"],
        name=row["name"] or "",
        seats=int(row["seats"] or 0),
        status=OrderStatus(row["status"]),
        created=when(row["created"]),
        refunded_seats=int(row["refunded_seats"] or 0),
        currency=row["currency"] or "",
        amount_total=int(row["amount_total"] or 0),
        source=row["source"] or "",
        client_reference_id=row["client_reference_id"] or "",
        aliases=tuple(loads(row["aliases"], [])),
        language=row["language"] or "",
        paid_until=date.fromisoformat(row["paid_until"]) if row["paid_until"] else None,
        subscription=row["subscription"] or "",
        cancel_at_period_end=bool(row["cancel_at_period_end"]),
        monthly_amount=int(row["monthly_amount"] or 0),
    )


def order_use(order: Order, used: int) -> OrderUse:
    """An order with its seats in use; free may be negative (more licenses than seats)."""
    return OrderUse(
        order_id=order.order_id,
        email=order.email,
        name=order.name,
        status=order.status.value,
        seats=order.seats,
        refunded_seats=order.refunded_seats,
        used=used,
        free=order.usable_seats - used,
        source=order.source,
        created=order.created,
        currency=order.currency,
        amount_total=order.amount_total,
        paid_until=order.paid_until,
        subscription=order.subscription,
        cancel_at_period_end=order.cancel_at_period_end,
        subscription_state=subscription_state(order.subscription, order.cancel_at_period_end),
    )


class OrdersTable(Engine):
    """Queries on `orders`."""

    def upsert_orders(self, orders: Iterable[Order], now: datetime) -> int:
        """Store orders (new or changed), one batched statement per table."""
        stamp = iso(now)
        orders = list(orders)
        self._many(
            _UPSERT,
            [
                (
                    o.order_id,
                    o.email.lower(),
                    o.name,
                    o.seats,
                    o.refunded_seats,
                    o.status.value,
                    iso(o.created),
                    o.currency,
                    o.amount_total,
                    o.source,
                    o.client_reference_id,
                    dumps(list(o.aliases)),
                    stamp,
                    o.language,
                    o.paid_until.isoformat() if o.paid_until else None,
                    o.subscription,
                    int(o.cancel_at_period_end),
                    o.monthly_amount,
                )
                for o in orders
            ],
        )
        self._many(_ALIAS, [(alias.upper(), o.order_id) for o in orders for alias in o.aliases])
        return len(orders)

    def order(self, order_id: str) -> Order | None:
        row = self._row("SELECT * FROM orders WHERE order_id = ?", [order_id])
        return order_of(row) if row else None

    def orders_for_email(self, email: str) -> list[Order]:
        rows = self._rows(
            "SELECT * FROM orders WHERE email = ? ORDER BY created, order_id", [email.lower()]
        )
        return [order_of(r) for r in rows]

    def orders_by_reference(self, refs: Iterable[str]) -> list[Order]:
        """Orders a mail names by id or by an alias (PaymentIntent, charge, receipt)."""
        found: dict[str, Order] = {}
        for ref in refs:
            row = self._row(
                "SELECT * FROM orders WHERE upper(order_id) = ? UNION ALL "
                "SELECT o.* FROM order_aliases a JOIN orders o ON o.order_id = a.order_id "
                "WHERE a.alias = ? LIMIT 1",
                [ref.upper(), ref.upper()],
            )
            if row:
                found[row["order_id"]] = order_of(row)
        return list(found.values())

    def all_orders(self) -> list[Order]:
        return [order_of(r) for r in self._rows("SELECT * FROM orders ORDER BY created, order_id")]

    def count_orders_like(self, prefix: str) -> int:
        """How many order ids start with `prefix` (taken literally)."""
        return int(
            self._scalar(
                "SELECT count(*) FROM orders WHERE order_id LIKE ? ESCAPE '\\'",
                [like_pattern(prefix) + "%"],
            )
            or 0
        )

    def seats_in_use(self, order_ids: Iterable[str] | None = None) -> dict[str, int]:
        """Active licenses per order: of these orders, or of all."""
        if order_ids is None:
            rows = self._rows(
                "SELECT order_id, count(*) AS n FROM licenses WHERE state = "
                "'active' AND order_id IS NOT NULL GROUP BY order_id"
            )
        else:
            ids = list(dict.fromkeys(order_ids))
            if not ids:
                return {}
            rows = self._rows(
                f"SELECT order_id, count(*) AS n FROM licenses WHERE state = "
                f"'active' AND order_id IN ({marks(ids)}) GROUP BY order_id",
                ids,
            )
        return {r["order_id"]: int(r["n"]) for r in rows}

    def order_uses(self, email: str | None = None) -> list[OrderUse]:
        """Orders (one customer's, "@domain", or all) with their seats used and free."""
        if email:
            condition, value = address_condition("email", email)
            rows = self._rows(
                f"SELECT * FROM orders WHERE {condition} ORDER BY created, order_id", [value]
            )
            orders = [order_of(r) for r in rows]
            used = self.seats_in_use(o.order_id for o in orders)
        else:
            orders = self.all_orders()
            used = self.seats_in_use()
        return [order_use(o, used.get(o.order_id, 0)) for o in orders]

    def overused_orders(
        self, order_ids: Iterable[str] | None = None
    ) -> list[tuple[Order, list[int]]]:
        """Refunded, disputed or partly refunded orders, and paid orders with terms (whose
        quantity may have gone down), that carry active licenses, with those license
        numbers: the candidates for a finance flag."""
        params: list[str] = []
        only = ""
        if order_ids is not None:
            params = list(order_ids)
            if not params:
                return []
            only = f" AND o.order_id IN ({marks(params)})"
        rows = self._rows(
            "SELECT o.*, l.license_no FROM orders o JOIN licenses l ON l.order_id = o.order_id "
            "AND l.state = 'active' WHERE (o.status IN ('refunded', 'disputed') OR "
            # A paid subscription whose quantity went down (issue 13).
            "o.refunded_seats > 0 OR (o.paid_until IS NOT NULL AND o.status = 'paid'))"
            f"{only} ORDER BY o.order_id, l.license_no",
            params,
        )
        grouped: dict[str, tuple[Order, list[int]]] = {}
        for r in rows:
            entry = grouped.setdefault(r["order_id"], (order_of(r), []))
            entry[1].append(int(r["license_no"]))
        return list(grouped.values())

    def paid_orders_for_references(self) -> list[tuple[str, str]]:
        """(pay-link request id, paid order id) for requests still waiting, oldest first."""
        rows = self._rows(
            "SELECT p.id AS pending_id, o.order_id FROM pending_payments p "
            "JOIN orders o ON o.client_reference_id = p.id "
            "WHERE p.state IN ('open', 'expired') AND o.status = 'paid' "
            "ORDER BY p.created_at, p.id, o.created, o.order_id"
        )
        return [(r["pending_id"], r["order_id"]) for r in rows]
