"""Staff accounts of the web console: add, list, remove, change a password, log in.

Passwords are hashed with argon2id (argon2-cffi's defaults, which follow RFC 9106's second
recommended option) and never stored or logged in clear. A hash made with older parameters is
replaced at the next successful login. Roles decide what the console lets a person do:

    support   work the queue: claim, reply, issue, grant, reject, note; licenses and customers
    finance   read everything, the finance report and its CSV; no issuing and no replies
    admin     all of the above
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from mailbot.mail.parse.headers import valid_address
from mailbot.store import Store
from mailbot.store.errors import Conflict
from mailbot.store.rows import StaffRow

ROLES = ("support", "finance", "admin")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # hashing a megabyte on every login attempt is a way to burn our CPU
_NAME = re.compile(r"[a-z][a-z0-9._-]{0,39}\Z")
_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the name is unknown, so a wrong name costs as long as a wrong
    password. Made on first use: a hash takes 64 MiB and a few tens of ms, which no command
    but a login should pay."""
    return _hasher.hash("not a real password, only for constant work")


class AccountError(ValueError):
    """A refusal in plain words (a taken name, a short password)."""


@dataclass(frozen=True)
class Account:
    """An account as people see it: never the hash."""

    name: str
    email: str
    role: str
    created_at: datetime

    @classmethod
    def of(cls, row: StaffRow) -> Account:
        return cls(name=row.name, email=row.email, role=row.role, created_at=row.created_at)

    def may(self, action: str) -> bool:
        """Whether this role may do `action` (see PERMISSIONS)."""
        return self.role in PERMISSIONS.get(action, ())


# What each action needs; the web console checks these on the server for every request.
PERMISSIONS: dict[str, tuple[str, ...]] = {
    "read": ROLES,
    "act": ("support", "admin"),  # claim, note, reject, resolve, retry, reopen
    "issue": ("support", "admin"),  # issue, grant, transfer, resend, revoke
    "reply": ("support", "admin"),
    "finance": ("finance", "admin"),  # the report and its CSV
    "amounts": ("finance", "admin"),  # money on screen; support too with [web] setting
}


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password must have at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"the password must have at most {MAX_PASSWORD} characters")


def _check(name: str, email: str, role: str) -> None:
    if not _NAME.match(name):
        raise AccountError(
            f"{name!r} is not a usable name: lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter, at most 40"
        )
    if role not in ROLES:
        raise AccountError(f"{role!r} is not a role; use one of {', '.join(ROLES)}")
    if email and not valid_address(email):
        raise AccountError(f"{email!r} is not a mail address")


def add(
    store: Store, name: str, role: str, password: str, now: datetime, email: str = ""
) -> Account:
    _check(name, email, role)
    check_password(password)
    try:
        with store.transaction():
            store.add_staff(name, email, role, _hasher.hash(password), now)
    except Conflict:
        taken = "name" if store.staff_member(name) else "address"
        raise AccountError(f"an account with that {taken} exists already") from None
    return Account(name=name, email=email, role=role, created_at=now)


def accounts(store: Store) -> list[Account]:
    return [Account.of(row) for row in store.all_staff()]


def remove(store: Store, name: str) -> None:
    with store.transaction():
        if not store.remove_staff(name):
            raise AccountError(f"there is no account {name!r}")


def set_password(store: Store, name: str, password: str, now: datetime) -> None:
    """A new password; every browser logged in as this account is logged out."""
    check_password(password)
    with store.transaction():
        if not store.set_staff_password(name, _hasher.hash(password), now):
            raise AccountError(f"there is no account {name!r}")


def authenticate(store: Store, name: str, password: str, now: datetime) -> Account | None:
    """The account when name and password match, else None (the same work either way)."""
    row = store.staff_member(name) if len(password) <= MAX_PASSWORD else None
    try:
        _hasher.verify(row.password_hash if row else _dummy_hash(), password[:MAX_PASSWORD])
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if row is None:
        return None
    if _hasher.check_needs_rehash(row.password_hash):
        with store.transaction():
            store.rehash_staff_password(row.name, _hasher.hash(password))
    return Account.of(row)
