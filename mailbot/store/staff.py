"""The `staff` and `web_sessions` tables: who may use the web console, and who is logged in."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from mailbot.store.engine import Engine, iso, parse_iso, when
from mailbot.store.rows import StaffRow, WebSession

_STAFF = "SELECT name, email, role, password_hash, created_at, password_changed_at FROM staff"
_SESSION = "SELECT token_hash, staff_name, csrf, created_at, expires_at FROM web_sessions"


def _staff(row: sqlite3.Row) -> StaffRow:
    return StaffRow(
        name=row["name"],
        email=row["email"] or "",
        role=row["role"],
        password_hash=row["password_hash"],
        created_at=when(row["created_at"]),
        password_changed_at=parse_iso(row["password_changed_at"]),
    )


def _session(row: sqlite3.Row) -> WebSession:
    return WebSession(
        token_hash=row["token_hash"],
        staff_name=row["staff_name"],
        csrf=row["csrf"],
        created_at=when(row["created_at"]),
        expires_at=when(row["expires_at"]),
    )


class StaffTable(Engine):
    """Queries on `staff` and `web_sessions`."""

    def add_staff(self, name: str, email: str, role: str, password_hash: str, at: datetime) -> None:
        """A new account; `Conflict` when the name or the address is taken."""
        self._exec(
            "INSERT INTO staff (name, email, role, password_hash, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            [name, email, role, password_hash, iso(at)],
        )

    def staff_member(self, name: str) -> StaffRow | None:
        row = self._row(f"{_STAFF} WHERE name = ?", [name])
        return _staff(row) if row else None

    def staff_by_email(self, email: str) -> StaffRow | None:
        """The account whose mail comes from this address (case does not matter)."""
        if not email:
            return None
        row = self._row(f"{_STAFF} WHERE lower(email) = lower(?) AND email != ''", [email])
        return _staff(row) if row else None

    def all_staff(self) -> list[StaffRow]:
        return [_staff(r) for r in self._rows(f"{_STAFF} ORDER BY name")]

    def remove_staff(self, name: str) -> bool:
        """Remove an account and log out its sessions; False when there was none."""
        self._exec("DELETE FROM web_sessions WHERE staff_name = ?", [name])
        return self._exec("DELETE FROM staff WHERE name = ?", [name]) > 0

    def set_staff_password(self, name: str, password_hash: str, at: datetime) -> bool:
        """A new password hash; every session of the account is logged out."""
        changed = self._exec(
            "UPDATE staff SET password_hash = ?, password_changed_at = ? WHERE name = ?",
            [password_hash, iso(at), name],
        )
        self._exec("DELETE FROM web_sessions WHERE staff_name = ?", [name])
        return changed > 0

    def rehash_staff_password(self, name: str, password_hash: str) -> None:
        """The same password under newer hashing parameters: no one is logged out."""
        self._exec("UPDATE staff SET password_hash = ? WHERE name = ?", [password_hash, name])

    def set_staff_role(self, name: str, role: str) -> bool:
        return self._exec("UPDATE staff SET role = ? WHERE name = ?", [role, name]) > 0

    def add_web_session(
        self, token_hash: str, staff_name: str, csrf: str, at: datetime, expires_at: datetime
    ) -> None:
        self._exec(
            "INSERT INTO web_sessions (token_hash, staff_name, csrf, created_at, expires_at) "
            "VALUES (?, ?, ?, ?, ?)",
            [token_hash, staff_name, csrf, iso(at), iso(expires_at)],
        )

    def web_session(self, token_hash: str, now: datetime) -> WebSession | None:
        """The session of this token while it has not expired."""
        row = self._row(
            f"{_SESSION} WHERE token_hash = ? AND expires_at > ?", [token_hash, iso(now)]
        )
        return _session(row) if row else None

    def drop_web_session(self, token_hash: str) -> None:
        self._exec("DELETE FROM web_sessions WHERE token_hash = ?", [token_hash])

    def drop_expired_web_sessions(self, now: datetime) -> int:
        return self._exec("DELETE FROM web_sessions WHERE expires_at <= ?", [iso(now)])
