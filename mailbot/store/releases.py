"""The `seat_releases` table: seats a customer freed by mail ("release SERIAL").

A released seat keeps its history: the next license on the same order takes over the released
license's `seat_key`, so `transfers_in_window` counts it as a move of that seat. That is what
makes releases share the per-seat limit with transfers: releasing a serial and licensing
another is a transfer done in two mails, and counts as one.
"""

from __future__ import annotations

from datetime import datetime

from mailbot.store.engine import Engine, iso


class ReleasesTable(Engine):
    def add_release(
        self,
        *,
        license_no: int,
        seat_key: int,
        order_id: str,
        released_at: datetime,
        message_row: int | None,
    ) -> None:
        """Record that license `license_no` was released and its seat is free."""
        self._exec(
            "INSERT INTO seat_releases (license_no, seat_key, order_id, released_at, "
            "message_row) VALUES (?, ?, ?, ?, ?)",
            [license_no, seat_key, order_id, iso(released_at), message_row],
        )

    def take_released_seat(self, order_id: str, license_no: int) -> int | None:
        """The seat_key of the order's oldest released seat not yet taken, now taken by
        `license_no`; None when the order has none."""
        row = self._row(
            "SELECT license_no, seat_key FROM seat_releases WHERE order_id = ? "
            "AND taken_by IS NULL ORDER BY released_at, license_no LIMIT 1",
            [order_id],
        )
        if row is None:
            return None
        self._exec(
            "UPDATE seat_releases SET taken_by = ? WHERE license_no = ?",
            [license_no, int(row["license_no"])],
        )
        return int(row["seat_key"])
