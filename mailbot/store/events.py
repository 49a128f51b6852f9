"""The `events` table: what mailbot did, for the vendor's other systems, written in the
transaction of the change it reports (so an event exists exactly when its change committed)
and delivered by its own job as a signed webhook, like the outbox (services/webhooks.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from mailbot.store.engine import Engine, dumps, iso, loads, parse_iso, when
from mailbot.store.rows import EventRow

_COLUMNS = (
    "id, event_id, type, created_at, payload, state, attempts, next_attempt_at, last_error, "
    "delivered_at"
)


class EventsTable(Engine):
    """Queries on `events`."""

    # The event types this store records: the wiring sets them from `[webhooks]` (none without
    # a url), so every service reports a change with the same one call and no settings.
    recorded_events: frozenset[str] = frozenset()

    def another_connection(self) -> Any:
        """The twin connection (engine.py) records the same events as this one."""
        other = super().another_connection()
        if other is not None:
            other.recorded_events = self.recorded_events
        return other

    def add_event(
        self, *, event_id: str, type: str, payload: dict[str, Any], created_at: datetime
    ) -> int:
        return self._insert(
            "INSERT INTO events (event_id, type, created_at, payload, state, attempts) "
            "VALUES (?, ?, ?, ?, 'pending', 0)",
            [event_id, type, iso(created_at), dumps(payload)],
        )

    def due_events(self, now: datetime, limit: int = 50, after: int = 0) -> list[EventRow]:
        """Pending events whose next try is due, oldest first, above row id `after`."""
        rows = self._rows(
            f"SELECT {_COLUMNS} FROM events WHERE state = 'pending' "
            "AND (next_attempt_at IS NULL OR next_attempt_at <= ?) AND id > ? "
            "ORDER BY id LIMIT ?",
            [iso(now), after, limit],
        )
        return [_event(r) for r in rows]

    def event_delivered(self, row_id: int, attempts: int, at: datetime) -> None:
        self._exec(
            "UPDATE events SET state = 'delivered', attempts = ?, delivered_at = ?, "
            "next_attempt_at = NULL, last_error = NULL WHERE id = ?",
            [attempts, iso(at), row_id],
        )

    def event_retry(self, row_id: int, attempts: int, error: str, at: datetime) -> None:
        self._exec(
            "UPDATE events SET attempts = ?, last_error = ?, next_attempt_at = ? WHERE id = ?",
            [attempts, error, iso(at), row_id],
        )

    def event_failed(self, row_id: int, attempts: int, error: str) -> None:
        self._exec(
            "UPDATE events SET state = 'failed', attempts = ?, last_error = ?, "
            "next_attempt_at = NULL WHERE id = ?",
            [attempts, error, row_id],
        )

    def requeue_event(self, event_id: str, at: datetime) -> bool:
        """Queue an event again (a failed one, or a delivered one a receiver lost) with a
        fresh round of tries from `at`; False when there is no such event."""
        changed = self._exec(
            "UPDATE events SET state = 'pending', attempts = 0, next_attempt_at = ? "
            "WHERE event_id = ?",
            [iso(at), event_id],
        )
        return changed > 0

    def event(self, event_id: str) -> EventRow | None:
        row = self._row(f"SELECT {_COLUMNS} FROM events WHERE event_id = ?", [event_id])
        return _event(row) if row is not None else None

    def events(
        self,
        *,
        states: Sequence[str] = (),
        types: Sequence[str] = (),
        limit: int = 100,
    ) -> list[EventRow]:
        """The newest events first, of these states and types (all when empty)."""
        where: list[str] = []
        params: list[Any] = []
        if states:
            where.append(f"state IN ({','.join('?' * len(states))})")
            params += list(states)
        if types:
            where.append(f"type IN ({','.join('?' * len(types))})")
            params += list(types)
        clause = f"WHERE {' AND '.join(where)} " if where else ""
        rows = self._rows(
            f"SELECT {_COLUMNS} FROM events {clause}ORDER BY id DESC LIMIT ?", [*params, limit]
        )
        return [_event(r) for r in rows]

    def event_counts(self) -> dict[str, int]:
        """How many events there are in each state."""
        return {
            str(r["state"]): int(r["n"])
            for r in self._rows("SELECT state, count(*) AS n FROM events GROUP BY state")
        }


def _event(r: Any) -> EventRow:
    return EventRow(
        id=int(r["id"]),
        event_id=r["event_id"],
        type=r["type"],
        created_at=when(r["created_at"]),
        payload=loads(r["payload"], {}),
        state=r["state"],
        attempts=int(r["attempts"]),
        next_attempt_at=parse_iso(r["next_attempt_at"]),
        last_error=r["last_error"] or "",
        delivered_at=parse_iso(r["delivered_at"]),
    )
