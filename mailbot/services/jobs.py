"""The periodic jobs of `mailbot run` besides mail and outbox, as (name, callable, seconds)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mailbot.app import App
from mailbot.services.notify import escalation_created, send_digest
from mailbot.services.queries import expire_pending_payments


def scheduled_jobs(app: App) -> list[tuple[str, Callable[[], Any], float]]:
    jobs: list[tuple[str, Callable[[], Any], float]] = [
        ("expire-payments",
         lambda: expire_pending_payments(
             app.store, app.clock.now(),
             on_escalated=lambda store, esc, now: escalation_created(app, store, esc, now)),
         3600),
        # Checks every minute; sends only when a digest is due (see notify.py).
        ("staff-digest", lambda: send_digest(app, app.clock.now()), 60),
    ]
    if app.settings.orders.kind == "stripe":
        from mailbot.services.order_sync import JOB_BUDGET_SECONDS, sync_orders

        # Incremental every sync_minutes; the full re-list comes due every full_resync_hours
        # and runs in slices of the budget, so mail never waits long behind it.
        jobs.append(("stripe-sync",
                     lambda: sync_orders(app, budget_seconds=JOB_BUDGET_SECONDS),
                     max(1, app.settings.orders.sync_minutes) * 60))
    return jobs
