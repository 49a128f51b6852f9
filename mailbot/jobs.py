"""The periodic jobs of `mailbot run` besides mail and outbox, as (name, callable, seconds)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .bootstrap import App
from .notify import send_digest
from .queries import expire_pending_payments


def scheduled_jobs(app: App) -> list[tuple[str, Callable[[], Any], float]]:
    return [
        ("expire-payments", lambda: expire_pending_payments(app.store, app.clock.now()), 3600),
        # Checks every minute; sends only when a digest is due (see notify.py).
        ("staff-digest", lambda: send_digest(app, app.clock.now()), 60),
    ]
