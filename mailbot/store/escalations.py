"""The `escalations` and `audit` tables: the human queue and who did what in it."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import datetime

from mailbot.store.engine import (
    Engine,
    address_condition,
    dumps,
    iso,
    loads,
    marks,
    parse_iso,
    when,
)
from mailbot.store.messages import serial_items
from mailbot.store.rows import AuditEntry, EscalationRow, NewEscalation, SerialItem
from mailbot.store.search import index_escalation

_SELECT = (
    "SELECT e.id, e.message_row, e.reason, e.detail, e.state, e.claimed_by, e.created_at, "
    "e.updated_at, e.sender, e.serials, e.facts, e.notified_at, m.message_id, m.subject "
    "FROM escalations e LEFT JOIN messages m ON m.id = e.message_row"
)


def _escalation(row: sqlite3.Row) -> EscalationRow:
    return EscalationRow(
        id=int(row["id"]),
        message_row=row["message_row"],
        reason=row["reason"] or "",
        detail=row["detail"] or "",
        state=row["state"],
        claimed_by=row["claimed_by"] or None,
        created_at=when(row["created_at"]),
        updated_at=when(row["updated_at"]),
        sender=row["sender"] or "",
        serials=serial_items(row["serials"]),
        facts=loads(row["facts"], {}),
        notified_at=parse_iso(row["notified_at"]),
        message_id=row["message_id"],
        subject=row["subject"],
    )


class EscalationsTable(Engine):
    """Queries on `escalations` and `audit`."""

    def add_escalation(self, e: NewEscalation, actor: str, at: datetime) -> int:
        """Open an escalation, with its first audit line."""
        esc_id = self._insert(
            "INSERT INTO escalations (message_row, reason, detail, state, created_at, "
            "updated_at, sender, serials, facts) VALUES (?, ?, ?, 'open', ?, ?, ?, ?, ?)",
            [
                e.message_row,
                e.reason,
                e.detail,
                iso(at),
                iso(at),
                e.sender,
                dumps([s.as_json() for s in e.serials]),
                dumps(e.facts),
            ],
        )
        index_escalation(self, esc_id)
        self.add_audit(esc_id, actor, "escalated", e.detail or e.reason, at)
        return esc_id

    def escalation(self, escalation_id: int) -> EscalationRow | None:
        row = self._row(f"{_SELECT} WHERE e.id = ?", [escalation_id])
        return _escalation(row) if row else None

    def escalations(
        self,
        *,
        state: str | None = None,
        reason: str | None = None,
        sender: str | None = None,
        created_before: datetime | None = None,
        created_after: datetime | None = None,
    ) -> list[EscalationRow]:
        """Escalations matching all filters, oldest first (who waited longest comes first)."""
        where, params = ["1 = 1"], []
        if state:
            where.append("e.state = ?")
            params.append(state)
        if reason:
            where.append("e.reason = ?")
            params.append(reason)
        if sender:
            condition, value = address_condition("e.sender", sender)
            where.append(condition)
            params.append(value)
        if created_before is not None:
            where.append("e.created_at <= ?")
            params.append(iso(created_before))
        if created_after is not None:
            where.append("e.created_at >= ?")
            params.append(iso(created_after))
        rows = self._rows(
            f"{_SELECT} WHERE {' AND '.join(where)} ORDER BY e.created_at, e.id", params
        )
        return [_escalation(r) for r in rows]

    def set_escalation_state(self, escalation_id: int, state: str, at: datetime) -> None:
        self._exec(
            "UPDATE escalations SET state = ?, updated_at = ? WHERE id = ?",
            [state, iso(at), escalation_id],
        )

    def set_claim(self, escalation_id: int, claimed_by: str | None, at: datetime) -> None:
        self._exec(
            "UPDATE escalations SET claimed_by = ?, updated_at = ? WHERE id = ?",
            [claimed_by, iso(at), escalation_id],
        )

    def touch_escalation(self, escalation_id: int, at: datetime) -> None:
        self._exec("UPDATE escalations SET updated_at = ? WHERE id = ?", [iso(at), escalation_id])

    def update_escalation(
        self,
        escalation_id: int,
        *,
        reason: str,
        detail: str,
        serials: Iterable[SerialItem],
        facts: dict[str, object],
        at: datetime,
    ) -> None:
        """What the bot saw, seen again (a retry, a changed finance picture)."""
        self._exec(
            "UPDATE escalations SET reason = ?, detail = ?, serials = ?, facts = ?, "
            "updated_at = ? WHERE id = ?",
            [
                reason,
                detail,
                dumps([s.as_json() for s in serials]),
                dumps(facts),
                iso(at),
                escalation_id,
            ],
        )
        index_escalation(self, escalation_id)

    def not_notified(self) -> list[EscalationRow]:
        """Open escalations nobody was told about yet, oldest first."""
        rows = self._rows(
            f"{_SELECT} WHERE e.state = 'open' AND e.notified_at IS NULL "
            "ORDER BY e.created_at, e.id"
        )
        return [_escalation(r) for r in rows]

    def mark_notified(self, escalation_ids: Iterable[int], at: datetime) -> None:
        ids = list(escalation_ids)
        if ids:
            self._exec(
                f"UPDATE escalations SET notified_at = ? WHERE id IN ({marks(ids)})",
                [iso(at), *ids],
            )

    def open_escalations_of_message(self, reason: str, message_row: int | None) -> list[int]:
        return [
            int(r[0])
            for r in self._rows(
                "SELECT id FROM escalations WHERE state = 'open' AND reason = ? "
                "AND message_row IS ?",
                [reason, message_row],
            )
        ]

    def finance_flags(self, order_id: str, reasons: Iterable[str]) -> list[EscalationRow]:
        """Escalations raised for this order's over-use after a refund or dispute, newest
        first. SQLite: json_extract."""
        names = list(reasons)
        rows = self._rows(
            f"{_SELECT} WHERE e.reason IN ({marks(names)}) AND "
            "json_extract(e.facts, '$.overused_order') = ? ORDER BY e.id DESC",
            [*names, order_id],
        )
        return [_escalation(r) for r in rows]

    # -- audit ---------------------------------------------------------------------------

    def add_audit(
        self, escalation_id: int | None, actor: str, action: str, detail: str, at: datetime
    ) -> None:
        """A line of the audit trail; license actions outside the queue have no escalation."""
        self._exec(
            "INSERT INTO audit (escalation_id, at, actor, action, detail) VALUES (?, ?, ?, ?, ?)",
            [escalation_id, iso(at), actor, action, detail],
        )

    def audit_of(self, escalation_id: int) -> list[AuditEntry]:
        rows = self._rows(
            "SELECT at, actor, action, detail, escalation_id FROM audit WHERE "
            "escalation_id = ? ORDER BY id",
            [escalation_id],
        )
        return [_audit(r) for r in rows]

    def audit_of_license(self, license_no: int) -> list[AuditEntry]:
        """What people did to one license (its audit lines start with "license #N:")."""
        rows = self._rows(
            "SELECT at, actor, action, detail, escalation_id FROM audit WHERE "
            "detail LIKE ? ORDER BY id",
            [f"license #{int(license_no)}:%"],
        )
        return [_audit(r) for r in rows]


def _audit(row: sqlite3.Row) -> AuditEntry:
    return AuditEntry(
        at=when(row["at"]),
        actor=row["actor"] or "",
        action=row["action"] or "",
        detail=row["detail"] or "",
        escalation_id=row["escalation_id"],
    )
