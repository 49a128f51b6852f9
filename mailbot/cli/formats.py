"""How the command line writes times and ages, and who "you" are when acting."""

from __future__ import annotations

import getpass
import os
import re
from datetime import date, datetime, timedelta
from typing import Protocol

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhdw]?)\s*$", re.IGNORECASE)
_AGE_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks", "": "hours"}


def parse_age(text: str) -> timedelta:
    """ "90m", "2h", "3d", "1w" (a bare number is hours) -> a timedelta."""
    match = _AGE.match(text)
    if not match:
        raise ValueError(f"{text!r} is not an age; write e.g. 30m, 2h, 3d or 1w")
    number, unit = float(match.group(1)), match.group(2).lower()
    try:
        return timedelta(**{_AGE_UNITS[unit]: number})
    except OverflowError:
        raise ValueError(f"{text!r} is longer than any queue has existed") from None


def format_age(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{max(minutes, 0)}m"
    hours = minutes // 60
    if hours < 48:
        return f"{hours}h{minutes % 60:02d}m" if hours < 10 else f"{hours}h"
    return f"{hours // 24}d"


def when(at: datetime | None) -> str:
    """A stored UTC time as people read it: 2026-12-01 14:05."""
    return at.isoformat(timespec="minutes").replace("T", " ")[:16] if at else ""


def day(at: datetime | None) -> str:
    return at.date().isoformat() if at else ""


class _Dated(Protocol):
    @property
    def expires(self) -> date | None: ...
    @property
    def expired(self) -> bool: ...


class _Term(Protocol):
    @property
    def paid_until(self) -> date | None: ...
    @property
    def subscription_state(self) -> str: ...


def expiry(lic: _Dated) -> str:
    """A license's expiry (services/expiry.py) in words: 2026-12-31, "expired 2026-11-01" or
    "perpetual"."""
    if lic.expires is None:
        return "perpetual"
    return f"expired {lic.expires.isoformat()}" if lic.expired else lic.expires.isoformat()


def term(order: _Term) -> str:
    """An order's paid-until day and subscription state: "2026-12-31, past_due"; "" for an
    order bought for good."""
    parts = [order.paid_until.isoformat() if order.paid_until else "", order.subscription_state]
    return ", ".join(p for p in parts if p)


def default_actor() -> str:
    """Who is acting when `--as` is not given: the person behind sudo, else the OS user."""
    sudo_user = os.environ.get("SUDO_USER", "").strip()
    if sudo_user and sudo_user != "root":
        return sudo_user
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user database entry (containers)
        return "staff"


def actor(given: str | None) -> str:
    return (given or "").strip() or default_actor()
