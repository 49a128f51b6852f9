"""The console's queue: one page of escalations by view, reason and search, and the counts.

Paged in SQL (LIMIT/OFFSET over the `state, created_at` index), so a queue of ten thousand
renders as fast as one of ten; the search is a join on the FTS5 index (store/search.py).
"""

from __future__ import annotations

from datetime import datetime

from mailbot.store.engine import Engine, iso, marks
from mailbot.store.escalations import _SELECT, _escalation
from mailbot.store.payments import _pending
from mailbot.store.rows import EscalationRow, PendingPayment, QueueCounts

# Escalations that wait for money: the order is unpaid, or a pay link ran out. Besides these,
# any open escalation of a sender who has an open pay-link request.
PAYMENT_REASONS = ("unpaid_order", "payment_expired")
VIEWS = ("open", "mine", "unclaimed", "payment", "closed")

_PAYMENT = (
    f"(e.reason IN ({marks(PAYMENT_REASONS)}) OR EXISTS (SELECT 1 FROM pending_payments p "
    "WHERE p.sender = e.sender AND p.state = 'open'))"
)
_UNCLAIMED = "coalesce(e.claimed_by, '') = ''"


class QueueTable(Engine):
    """The queries behind the console's queue page."""

    def queue_page(
        self,
        *,
        view: str,
        actor: str,
        reason: str = "",
        match: str = "",
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[EscalationRow], int]:
        """One page of the view (oldest first; closed ones newest first) and the total.
        `match` is an FTS5 expression (search.match_expression), never a person's raw text."""
        where: list[str] = []
        params: list[str | int] = []
        if view == "closed":
            where.append("e.state != 'open'")
        else:
            where.append("e.state = 'open'")
        if view == "mine":
            where.append("e.claimed_by = ?")
            params.append(actor)
        elif view == "unclaimed":
            where.append(_UNCLAIMED)
        elif view == "payment":
            where.append(_PAYMENT)
            params.extend(PAYMENT_REASONS)
        if reason:
            where.append("e.reason = ?")
            params.append(reason)
        if match:
            where.append(
                "e.id IN (SELECT rowid FROM escalation_search WHERE escalation_search MATCH ?)"
            )
            params.append(match)
        condition = " AND ".join(where)
        total = int(self._scalar(f"SELECT count(*) FROM escalations e WHERE {condition}", params))
        order = "e.updated_at DESC, e.id DESC" if view == "closed" else "e.created_at, e.id"
        rows = self._rows(
            f"{_SELECT} WHERE {condition} ORDER BY {order} LIMIT ? OFFSET ?",
            [*params, int(limit), int(offset)],
        )
        return [_escalation(r) for r in rows], total

    def queue_counts(self, actor: str, overdue_before: datetime) -> QueueCounts:
        """The numbers beside each view; `overdue_before`: created at or before this moment."""
        row = self._row(
            "SELECT count(*) AS open, "
            "coalesce(sum(e.claimed_by = ?), 0) AS mine, "
            f"coalesce(sum({_UNCLAIMED}), 0) AS unclaimed, "
            f"coalesce(sum({_PAYMENT}), 0) AS payment, "
            "coalesce(sum(e.created_at <= ?), 0) AS overdue "
            "FROM escalations e WHERE e.state = 'open'",
            [actor, *PAYMENT_REASONS, iso(overdue_before)],
        )
        assert row is not None
        by_reason = self._rows(
            "SELECT reason, count(*) AS n FROM escalations WHERE state = 'open' "
            "GROUP BY reason ORDER BY n DESC, reason"
        )
        return QueueCounts(
            open=int(row["open"]),
            mine=int(row["mine"]),
            unclaimed=int(row["unclaimed"]),
            waiting_payment=int(row["payment"]),
            overdue=int(row["overdue"]),
            closed=int(self._scalar("SELECT count(*) FROM escalations WHERE state != 'open'") or 0),
            by_reason=tuple((str(r["reason"] or ""), int(r["n"])) for r in by_reason),
            open_pay_links=int(
                self._scalar("SELECT count(*) FROM pending_payments WHERE state = 'open'") or 0
            ),
        )

    def open_pay_links(self, limit: int = 50) -> list[PendingPayment]:
        """Pay-link requests still waiting for their payment, the oldest first."""
        rows = self._rows(
            "SELECT * FROM pending_payments WHERE state = 'open' ORDER BY created_at, id LIMIT ?",
            [int(limit)],
        )
        return [_pending(r) for r in rows]

    def audit_count(self, escalation_id: int) -> int:
        """How many lines the escalation's history has (the console's "changed since")."""
        return int(
            self._scalar("SELECT count(*) FROM audit WHERE escalation_id = ?", [escalation_id]) or 0
        )

    def outbox_raw(self, row_id: int) -> bytes | None:
        """The composed mail of an outbox row, as it will be sent."""
        value = self._scalar("SELECT raw FROM outbox WHERE id = ?", [row_id])
        return bytes(value) if value else None
