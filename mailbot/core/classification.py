"""What classifying a mail yields: its `Kind`, the `Classification`, and one check's `Hit`.

Apart from `classify.py` so that the checks in `machine_mail.py` and `human_mail.py` and the
table that orders them can share these types without importing each other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from mailbot.core.model import Inbound, Policy, Reason


class Kind(str, Enum):
    IGNORE = "ignore"
    ESCALATE = "escalate"
    TRANSFER = "transfer"
    REQUEST = "request"
    LIST_LICENSES = "list_licenses"  # "which licenses do I have"
    RELEASE = "release"  # "release / deactivate SERIAL"


@dataclass(frozen=True)
class Classification:
    kind: Kind
    reason: Reason | None
    explanation: tuple[str, ...]
    old_serial: str | None = None
    new_serial: str | None = None


@dataclass(frozen=True)
class Hit:
    """A check's verdict: what to do and, in words for staff, why."""

    kind: Kind
    reason: Reason | None
    words: tuple[str, ...]
    old_serial: str | None = None
    new_serial: str | None = None


Check = Callable[[Inbound, Policy], Hit | None]
