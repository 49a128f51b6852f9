"""The `renewals` table: which order's licenses were re-signed for which paid term (issue 13).

The primary key (order, paid term) is the guard that a renewal is mailed once: the row is
written in the transaction that re-signs the licenses and queues the mail, so a crash leaves
all three or none, and a second sync finds the row (or no license left to renew).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import date, datetime

from mailbot.core.model import License, Order
from mailbot.store.engine import Engine, dumps, iso, loads, marks, when
from mailbot.store.licenses import license_of
from mailbot.store.orders import order_of
from mailbot.store.rows import Renewal, RenewalCount, TermCount

# An order with a paid term in the finance report's one state, first match wins; the same
# order as people read it on an order (core/terms.py `subscription_state`), with "lapsed" for
# a term that gives no seats any more. Counted here rather than in Python: a shop may have
# many subscriptions, and the report needs only these sums.
_TERM_STATE = (
    "CASE WHEN subscription IN ('canceled', 'incomplete_expired') THEN 'canceled' "
    "WHEN status != 'paid' OR paid_until < ? THEN 'lapsed' "
    "WHEN subscription = 'past_due' THEN 'past_due' "
    "WHEN cancel_at_period_end THEN 'cancel_at_period_end' "
    "ELSE 'active' END"
)


def _renewal_of(row: sqlite3.Row) -> Renewal:
    return Renewal(
        order_id=row["order_id"],
        paid_until=date.fromisoformat(row["paid_until"]),
        created_at=when(row["created_at"]),
        email=row["email"] or "",
        licenses=tuple(int(n) for n in loads(row["licenses"], [])),
        outbox_id=row["outbox_id"],
    )


class RenewalsTable(Engine):
    """Queries on `renewals`, and the orders whose licenses a renewal is due for."""

    def orders_with_terms_and_licenses(self) -> list[tuple[Order, list[License]]]:
        """Paid orders with a paid term and their active licenses: what a renewal may extend
        (the caller compares each license's expiry with the term's)."""
        orders = {
            r["order_id"]: order_of(r)
            for r in self._rows(
                "SELECT * FROM orders WHERE paid_until IS NOT NULL AND status = 'paid' "
                "AND EXISTS (SELECT 1 FROM licenses l WHERE l.order_id = orders.order_id "
                "AND l.state = 'active') ORDER BY order_id"
            )
        }
        if not orders:
            return []
        grouped: dict[str, list[License]] = {order_id: [] for order_id in orders}
        for r in self._rows(
            f"SELECT * FROM licenses WHERE state = 'active' AND order_id IN ({marks(orders)}) "
            "ORDER BY license_no",
            list(orders),
        ):
            grouped[r["order_id"]].append(license_of(r))
        return [(orders[order_id], licenses) for order_id, licenses in grouped.items()]

    def add_renewal(
        self,
        order_id: str,
        paid_until: date,
        email: str,
        licenses: Iterable[int],
        outbox_id: int | None,
        at: datetime,
    ) -> bool:
        """Record a renewal; False when this order's term was renewed already.
        SQLite: INSERT OR IGNORE."""
        return (
            self._exec(
                "INSERT OR IGNORE INTO renewals (order_id, paid_until, created_at, email, "
                "licenses, outbox_id) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    order_id,
                    paid_until.isoformat(),
                    iso(at),
                    email,
                    dumps(list(licenses)),
                    outbox_id,
                ],
            )
            == 1
        )

    def renewal(self, order_id: str, paid_until: date) -> Renewal | None:
        row = self._row(
            "SELECT * FROM renewals WHERE order_id = ? AND paid_until = ?",
            [order_id, paid_until.isoformat()],
        )
        return _renewal_of(row) if row else None

    def renewals(self, since: datetime | None = None, order_id: str | None = None) -> list[Renewal]:
        """Renewals (since a time, of an order, or all), oldest first."""
        where, params = ["1 = 1"], []
        if since is not None:
            where.append("created_at >= ?")
            params.append(iso(since))
        if order_id is not None:
            where.append("order_id = ?")
            params.append(order_id)
        rows = self._rows(
            f"SELECT * FROM renewals WHERE {' AND '.join(where)} ORDER BY created_at, order_id",
            params,
        )
        return [_renewal_of(r) for r in rows]

    def term_counts(self, lapsed_before: date) -> list[TermCount]:
        """Orders with a paid term (subscriptions, CSV rows with `expires`) per currency and
        state; a term whose last day is before `lapsed_before` (today less the grace) lapsed."""
        rows = self._rows(
            f"SELECT currency, {_TERM_STATE} AS state, count(*) AS n, "
            "sum(max(seats - min(refunded_seats, seats), 0)) AS seats, "
            "sum(monthly_amount) AS monthly FROM orders "
            "WHERE paid_until IS NOT NULL OR subscription != '' "
            "GROUP BY currency, state ORDER BY currency, state",
            [lapsed_before.isoformat()],
        )
        return [
            TermCount(
                currency=r["currency"] or "",
                state=r["state"],
                orders=int(r["n"]),
                seats=int(r["seats"] or 0),
                monthly_amount=int(r["monthly"] or 0),
            )
            for r in rows
        ]

    def renewal_counts(self, start: datetime, end: datetime | None) -> list[RenewalCount]:
        """Renewals recorded from `start` to before `end` (None: no end), per currency."""
        where, params = ["r.created_at >= ?"], [iso(start)]
        if end is not None:
            where.append("r.created_at < ?")
            params.append(iso(end))
        rows = self._rows(
            "SELECT coalesce(o.currency, '') AS currency, count(*) AS n, "
            "sum(json_array_length(r.licenses)) AS licenses FROM renewals r "
            "LEFT JOIN orders o ON o.order_id = r.order_id "
            f"WHERE {' AND '.join(where)} GROUP BY 1 ORDER BY 1",
            params,
        )
        return [RenewalCount(r["currency"], int(r["n"]), int(r["licenses"] or 0)) for r in rows]
