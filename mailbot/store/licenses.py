"""The `licenses` table. The database itself allows one active license per serial (a partial
unique index), so no code path, crash or second process can give a serial two."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import datetime

from mailbot.core.model import License, LicenseState
from mailbot.store.engine import Engine, address_condition, iso, marks, parse_iso, when

_COLUMNS = (
    "license_no, serial, customer_email, order_id, seat_key, issued_at, license_string, "
    "state, key_id, expires_day, revoked_at, revoked_reason, replaced_by, message_row, "
    "granted_by, grant_reason, renewed_at"
)


def license_of(row: sqlite3.Row) -> License:
    return License(
        license_no=int(row["license_no"]),
        serial=row["serial"],
        customer_email=row["customer_email"] or "",
        order_id=row["order_id"] or None,
        seat_key=int(row["seat_key"] or row["license_no"]),
        issued_at=when(row["issued_at"]),
        license_string=row["license_string"] or "",
        state=LicenseState(row["state"]),
        key_id=int(row["key_id"] or 0),
        expires_day=int(row["expires_day"] or 0),
        revoked_at=parse_iso(row["revoked_at"]),
        revoked_reason=row["revoked_reason"] or "",
        replaced_by=row["replaced_by"],
        message_row=row["message_row"],
        granted_by=row["granted_by"] or "",
        grant_reason=row["grant_reason"] or "",
        renewed_at=parse_iso(row["renewed_at"]),
    )


class LicensesTable(Engine):
    """Queries on `licenses`."""

    def next_license_no(self) -> int:
        return int(self._scalar("SELECT coalesce(max(license_no), 0) + 1 FROM licenses") or 1)

    def add_license(self, lic: License) -> None:
        """Insert; Conflict when the serial already has an active license."""
        self._exec(
            f"INSERT INTO licenses ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
            "?, ?, ?, ?)",
            [
                lic.license_no,
                lic.serial,
                lic.customer_email,
                lic.order_id,
                lic.seat_key,
                iso(lic.issued_at),
                lic.license_string,
                lic.state.value,
                lic.key_id,
                lic.expires_day,
                iso(lic.revoked_at) if lic.revoked_at else None,
                lic.revoked_reason or None,
                lic.replaced_by,
                lic.message_row,
                lic.granted_by or None,
                lic.grant_reason or None,
                iso(lic.renewed_at) if lic.renewed_at else None,
            ],
        )

    def renew_license(
        self, license_no: int, license_string: str, key_id: int, expires_day: int, at: datetime
    ) -> bool:
        """Put a re-signed string with a later expiry on an active license (a paid renewal);
        False when it is no longer active (revoked in between)."""
        return (
            self._exec(
                "UPDATE licenses SET license_string = ?, key_id = ?, expires_day = ?, "
                "renewed_at = ? WHERE license_no = ? AND state = 'active'",
                [license_string, key_id, expires_day, iso(at), license_no],
            )
            == 1
        )

    def licenses_expiring(self, first_day: int, last_day: int) -> list[License]:
        """Active licenses whose expiry day (days since 2000-01-01) falls in the range."""
        rows = self._rows(
            f"SELECT {_COLUMNS} FROM licenses WHERE state = 'active' AND expires_day "
            "BETWEEN ? AND ? ORDER BY expires_day, license_no",
            [first_day, last_day],
        )
        return [license_of(r) for r in rows]

    def revoke_license(
        self, license_no: int, reason: str, at: datetime, replaced_by: int | None = None
    ) -> None:
        self._exec(
            "UPDATE licenses SET state = 'revoked', revoked_at = ?, revoked_reason = ?, "
            "replaced_by = ? WHERE license_no = ?",
            [iso(at), reason, replaced_by, license_no],
        )

    def license(self, license_no: int) -> License | None:
        row = self._row(f"SELECT {_COLUMNS} FROM licenses WHERE license_no = ?", [license_no])
        return license_of(row) if row else None

    def active_license(self, serial: str) -> License | None:
        row = self._row(
            f"SELECT {_COLUMNS} FROM licenses WHERE serial = ? AND state = 'active'", [serial]
        )
        return license_of(row) if row else None

    def licenses_for_serials(self, serials: Iterable[str]) -> dict[str, License]:
        """The license each serial has: the active one, else its newest revoked one."""
        names = list(dict.fromkeys(serials))
        if not names:
            return {}
        rows = self._rows(
            f"SELECT {_COLUMNS} FROM licenses WHERE serial IN ({marks(names)}) "
            "ORDER BY state = 'active', license_no",
            names,
        )
        # Ordered so the row that should win comes last for each serial.
        return {r["serial"]: license_of(r) for r in rows}

    def licenses_of_serials(self, serials: Iterable[str]) -> list[License]:
        """Every license these serials ever had, oldest first."""
        names = list(dict.fromkeys(serials))
        if not names:
            return []
        rows = self._rows(
            f"SELECT {_COLUMNS} FROM licenses WHERE serial IN ({marks(names)}) ORDER BY license_no",
            names,
        )
        return [license_of(r) for r in rows]

    def licenses_of_customer(self, email: str) -> list[License]:
        """Every license under exactly this address, any state, oldest first."""
        rows = self._rows(
            f"SELECT {_COLUMNS} FROM licenses WHERE customer_email = ? ORDER BY license_no",
            [email.lower()],
        )
        return [license_of(r) for r in rows]

    def active_licenses_for_orders(self, order_ids: Iterable[str]) -> list[License]:
        ids = list(dict.fromkeys(order_ids))
        if not ids:
            return []
        rows = self._rows(
            f"SELECT {_COLUMNS} FROM licenses WHERE state = 'active' AND "
            f"order_id IN ({marks(ids)})",
            ids,
        )
        return [license_of(r) for r in rows]

    def transfers_in_window(self, seat_keys: Iterable[int], since: datetime) -> dict[int, int]:
        """Transfers per seat since `since`: licenses on the seat after its first one."""
        keys = sorted(set(seat_keys))
        if not keys:
            return {}
        rows = self._rows(
            f"SELECT seat_key, count(*) AS n FROM licenses WHERE seat_key IN "
            f"({marks(keys)}) AND license_no != seat_key AND issued_at >= ? "
            "GROUP BY seat_key",
            [*keys, iso(since)],
        )
        counts = {int(r["seat_key"]): int(r["n"]) for r in rows}
        return {key: counts.get(key, 0) for key in keys}

    def licenses(
        self,
        *,
        email: str | None = None,
        order_id: str | None = None,
        serial: str | None = None,
        state: str | None = None,
    ) -> list[License]:
        """Licenses matching all given filters, oldest first; `email` may be "@domain"."""
        where, params = ["1 = 1"], []
        if email:
            condition, value = address_condition("customer_email", email)
            where.append(condition)
            params.append(value)
        if order_id:
            where.append("order_id = ?")
            params.append(order_id)
        if serial:
            where.append("serial = ?")
            params.append(serial)
        if state:
            where.append("state = ?")
            params.append(state)
        rows = self._rows(
            f"SELECT {_COLUMNS} FROM licenses WHERE {' AND '.join(where)} ORDER BY license_no",
            params,
        )
        return [license_of(r) for r in rows]

    def seat_history(self, seat_key: int) -> list[License]:
        rows = self._rows(
            f"SELECT {_COLUMNS} FROM licenses WHERE seat_key = ? ORDER BY license_no", [seat_key]
        )
        return [license_of(r) for r in rows]

    def revoked_license_numbers(self) -> list[int]:
        return [
            int(r[0])
            for r in self._rows(
                "SELECT license_no FROM licenses WHERE state = 'revoked' ORDER BY license_no"
            )
        ]

    def count_rows(self) -> int:
        """Orders plus licenses: how much a finance report walks."""
        return int(
            self._scalar("SELECT (SELECT count(*) FROM orders) + (SELECT count(*) FROM licenses)")
            or 0
        )
