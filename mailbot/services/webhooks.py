"""Delivering the events queue as signed webhooks: its own job, after the commits that wrote
the events, never inside a mail's transaction (services/events.py writes them).

Every event is posted at least once under its stable `evt_` id (receivers dedupe on the
`Mailbot-Event-Id` header), retried with backoff (core/events.retry_after) and given up as
`failed` after `[webhooks] max_attempts`, visible in `mailbot webhooks list` and queued again
with `mailbot webhooks resend`. A pass is bounded: a batch at a time, a short timeout per post,
a time budget, and it stops at the first failure, so a receiver that is down costs one timeout
per pass and never holds up the mail behind it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mailbot.core.errors import SetupError
from mailbot.core.events import EVENT_STATES, EVENT_TYPES, retry_after
from mailbot.services.context import Deps
from mailbot.services.ports import Check, EventSender
from mailbot.store import Store, iso
from mailbot.store.rows import EventRow

log = logging.getLogger("mailbot.webhooks")
BATCH = 50
BUDGET_SECONDS = 20.0  # one pass; what is left waits for the next (every few seconds)
MAX_ERRORS = 20


class WebhookError(ValueError):
    """A webhooks command that cannot be done; the message says why."""


@dataclass
class WebhookReport:
    """What one delivery pass did."""

    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    blocked: str = ""  # a setup problem (no secret) stopped all delivery

    def note(self, error: str) -> None:
        if len(self.errors) < MAX_ERRORS and error not in self.errors:
            self.errors.append(error)

    def as_json(self) -> dict[str, Any]:
        return {
            "delivered": self.delivered,
            "retrying": self.retrying,
            "failed": self.failed,
            "errors": list(self.errors),
            "blocked": self.blocked,
        }


def event_body(event: EventRow) -> bytes:
    """What is posted: the event's id, type and time around its data, as compact JSON."""
    document = {
        "id": event.event_id,
        "type": event.type,
        "created": int(event.created_at.timestamp()),
        "created_at": iso(event.created_at),
        "data": event.payload,
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def deliver_events(
    deps: Deps, stop: threading.Event | None = None, budget_seconds: float = BUDGET_SECONDS
) -> WebhookReport:
    """Post every due event, oldest first, until none is due, one fails, the budget is spent
    or `stop` is set. Each result is committed as it comes (a crash re-sends at most the one
    event in flight, under the same id)."""
    report = WebhookReport()
    store = deps.store
    if not store.due_events(deps.clock.now(), limit=1):
        return report  # most passes: nothing to do, and no need for the secret
    try:
        sender = deps.event_sender
    except SetupError as exc:
        report.blocked = str(exc)
        report.note(str(exc))
        log.error("cannot send webhooks", extra={"error": str(exc)})
        return report
    if sender is None:
        return report
    deadline = time.monotonic() + budget_seconds
    last = 0
    while (stop is None or not stop.is_set()) and time.monotonic() < deadline:
        rows = store.due_events(deps.clock.now(), limit=BATCH, after=last)
        if not rows:
            break
        for event in rows:
            last = event.id
            if not _deliver_one(deps, store, sender, event, report):
                return report  # the receiver is in trouble: the rest wait for the next pass
            if (stop is not None and stop.is_set()) or time.monotonic() >= deadline:
                return report
    return report


def _deliver_one(
    deps: Deps, store: Store, sender: EventSender, event: EventRow, report: WebhookReport
) -> bool:
    """Post one event and record the result; False when it failed."""
    now = deps.clock.now()
    result = sender.send(event.event_id, event.type, event_body(event), int(now.timestamp()))
    attempts = event.attempts + 1
    with store.transaction():
        if result.ok:
            store.event_delivered(event.id, attempts, now)
            report.delivered += 1
            return True
        report.note(result.error)
        if attempts >= deps.settings.webhooks.max_attempts:
            store.event_failed(event.id, attempts, result.error)
            report.failed += 1
            log.warning(
                "webhook given up",
                extra={"event": event.event_id, "attempts": attempts, "error": result.error},
            )
        else:
            store.event_retry(event.id, attempts, result.error, now + retry_after(attempts))
            report.retrying += 1
            log.info(
                "webhook will be retried",
                extra={"event": event.event_id, "attempts": attempts, "error": result.error},
            )
    return False


# -- what staff see and do -------------------------------------------------------------------


def list_events(
    store: Store, *, states: Sequence[str] = (), types: Sequence[str] = (), limit: int = 100
) -> list[EventRow]:
    """The newest events first; unknown states or types are a WebhookError."""
    for state in states:
        if state not in EVENT_STATES:
            raise WebhookError(f"no state {state!r}; one of: {', '.join(EVENT_STATES)}")
    for kind in types:
        if kind not in EVENT_TYPES:
            raise WebhookError(f"no event type {kind!r}; one of: {', '.join(EVENT_TYPES)}")
    return store.events(states=states, types=types, limit=limit)


def get_event(store: Store, event_id: str) -> EventRow:
    event = store.event(event_id.strip())
    if event is None:
        raise WebhookError(f"no event {event_id!r}; `mailbot webhooks list` lists them")
    return event


def resend(store: Store, event_id: str, now: datetime) -> EventRow:
    """Queue an event again (failed, or delivered and lost by the receiver) under its own id,
    with a fresh round of tries; the next delivery pass posts it."""
    with store.transaction():
        get_event(store, event_id)
        store.requeue_event(event_id.strip(), now)
    log.info("webhook queued again", extra={"event": event_id.strip()})
    return get_event(store, event_id)


def webhook_checks(deps: Deps) -> list[Check]:
    """`mailbot doctor`: the webhook setup (url and secret), without sending anything."""
    if not deps.settings.webhooks.url:
        return []
    try:
        sender = deps.event_sender
    except SetupError as exc:
        return [Check("webhooks", False, str(exc))]
    return sender.checks() if sender is not None else []


def event_json(event: EventRow) -> dict[str, Any]:
    """An event as `webhooks list --json` and `show --json` give it."""
    return {
        "id": event.event_id,
        "type": event.type,
        "state": event.state,
        "created_at": iso(event.created_at),
        "attempts": event.attempts,
        "next_attempt_at": iso(event.next_attempt_at) if event.next_attempt_at else None,
        "delivered_at": iso(event.delivered_at) if event.delivered_at else None,
        "last_error": event.last_error or None,
        "data": event.payload,
    }
