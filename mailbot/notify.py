"""Telling staff about new escalations without them polling a command."""

from __future__ import annotations

from datetime import datetime

from .bootstrap import App
from .store import Store


def escalation_created(app: App, store: Store, escalation_id: int, now: datetime) -> None:
    """Called inside the transaction that created the escalation."""
    return None
