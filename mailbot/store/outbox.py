"""The `outbox` table: every mail mailbot sends, written in the transaction that decided it and
delivered by its own job, at least once, under a stable Message-ID."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from mailbot.store.engine import Engine, iso, marks
from mailbot.store.rows import OutboxRef, OutboxRow


class OutboxTable(Engine):
    """Queries on `outbox`."""

    def add_outbox(
        self,
        *,
        message_id: str,
        kind: str,
        to_addr: str,
        subject: str,
        raw: bytes,
        created_at: datetime,
        message_row: int | None = None,
        escalation_id: int | None = None,
    ) -> int:
        return self._insert(
            "INSERT INTO outbox (message_id, kind, to_addr, subject, raw, state, attempts, "
            "created_at, message_row, escalation_id) VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?, "
            "?)",
            [message_id, kind, to_addr, subject, raw, iso(created_at), message_row, escalation_id],
        )

    def replies_since(self, addresses: Iterable[str], since: datetime) -> int:
        """Replies (not staff mail) to any of these addresses since `since`."""
        wanted = sorted(set(addresses) - {""})
        if not wanted:
            return 0
        return int(
            self._scalar(
                f"SELECT count(*) FROM outbox WHERE kind = 'reply' AND to_addr IN "
                f"({marks(wanted)}) AND created_at >= ?",
                [*wanted, iso(since)],
            )
            or 0
        )

    def due_outbox(self, now: datetime, limit: int = 100, after: int = 0) -> list[OutboxRow]:
        """Pending rows whose next attempt is due, in order, above row id `after`."""
        rows = self._rows(
            "SELECT id, message_id, kind, to_addr, raw, attempts, message_row FROM outbox "
            "WHERE state = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= ?) "
            "AND id > ? ORDER BY id LIMIT ?",
            [iso(now), after, limit],
        )
        return [
            OutboxRow(
                id=int(r["id"]),
                message_id=r["message_id"],
                kind=r["kind"],
                to_addr=r["to_addr"],
                raw=bytes(r["raw"]),
                attempts=int(r["attempts"]),
                message_row=r["message_row"],
            )
            for r in rows
        ]

    def outbox_sent(self, row_id: int, attempts: int, at: datetime) -> None:
        self.outbox_all_sent([(row_id, attempts)], at)

    def outbox_all_sent(self, sent: Sequence[tuple[int, int]], at: datetime) -> None:
        """Rows (id, attempts so far) that went out at `at`: one prepared statement."""
        when = iso(at)
        self._many(
            "UPDATE outbox SET state = 'sent', sent_at = ?, attempts = ?, "
            "last_error = NULL WHERE id = ?",
            [(when, attempts, row_id) for row_id, attempts in sent],
        )

    def outbox_retry(self, row_id: int, attempts: int, error: str, at: datetime) -> None:
        self._exec(
            "UPDATE outbox SET attempts = ?, last_error = ?, next_attempt_at = ? WHERE id = ?",
            [attempts, error, iso(at), row_id],
        )

    def outbox_failed(self, row_id: int, attempts: int, error: str) -> None:
        self._exec(
            "UPDATE outbox SET state = 'failed', attempts = ?, last_error = ? WHERE id = ?",
            [attempts, error, row_id],
        )

    def outbox_by_message_ids(self, message_ids: Iterable[str]) -> list[OutboxRef]:
        ids = [m.strip("<>") for m in message_ids]
        if not ids:
            return []
        rows = self._rows(
            f"SELECT id, message_id, kind, to_addr, state, message_row FROM "
            f"outbox WHERE message_id IN ({marks(ids)})",
            ids,
        )
        return [
            OutboxRef(
                id=int(r["id"]),
                message_id=r["message_id"],
                kind=r["kind"],
                to_addr=r["to_addr"],
                state=r["state"],
                message_row=r["message_row"],
            )
            for r in rows
        ]

    def mark_outbox_bounced(self, message_ids: Sequence[str], detail: str) -> None:
        """Rows a delivery report names: they reached a server and came back, so they count
        as failed, and a row still pending (sent, then a crash) is not sent again."""
        if message_ids:
            self._exec(
                f"UPDATE outbox SET state = 'bounced', last_error = ? WHERE message_id "
                f"IN ({marks(message_ids)})",
                [detail, *message_ids],
            )

    def outbox_kinds(self, row_ids: Iterable[int]) -> dict[int, str]:
        ids = list(row_ids)
        if not ids:
            return {}
        return {
            int(r["id"]): r["kind"]
            for r in self._rows(f"SELECT id, kind FROM outbox WHERE id IN ({marks(ids)})", ids)
        }
