"""Delivering the outbox: its own job, apart from deciding, so a retried send never decides
twice. Every row is sent at least once under its stable Message-ID, retried with backoff on a
temporary failure, and given up (and escalated, for a customer's reply) on a permanent one."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from mailbot.core.model import Reason
from mailbot.services.context import Deps
from mailbot.services.notify import raise_escalation
from mailbot.services.ports import Delivery, SendBlocked
from mailbot.store import Store
from mailbot.store.rows import NewEscalation, OutboxRow

log = logging.getLogger("mailbot.delivery")
BATCH = 100
MAX_ERRORS = 20  # a long outage repeats the same few; the report stays small


@dataclass
class DeliveryReport:
    """What one delivery pass did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)  # the first MAX_ERRORS different ones
    blocked: str = ""  # a setup problem stopped all sending

    def note(self, error: str) -> None:
        if len(self.errors) < MAX_ERRORS and error not in self.errors:
            self.errors.append(error)

    def add(self, other: DeliveryReport) -> None:
        """Another pass's figures added to these."""
        self.sent += other.sent
        self.retrying += other.retrying
        self.failed += other.failed
        for error in other.errors:
            self.note(error)
        self.blocked = self.blocked or other.blocked


def deliver_outbox(deps: Deps, stop: threading.Event | None = None) -> DeliveryReport:
    """Send every due outbox row, a batch at a time over the sender's connection. Each batch's
    results are recorded in one transaction, and only then are copies filed in Sent."""
    report = DeliveryReport()
    store = deps.store
    last = 0
    while stop is None or not stop.is_set():
        now = deps.clock.now()
        rows = store.due_outbox(now, limit=BATCH, after=last)
        if not rows:
            break
        last = rows[-1].id
        try:
            results = deps.sender.send([(r.id, r.to_addr, r.raw) for r in rows])
        except SendBlocked as exc:
            # Every row would fail alike (login refused, no STARTTLS): leave them pending,
            # use up none of their attempts, and say what to fix.
            log.error("cannot send mail", extra={"error": str(exc)})
            report.note(str(exc))
            report.blocked = str(exc)
            break
        with store.transaction():
            sent = _record(deps, store, rows, results, report, now)
        for r in sent:
            _file_copy(deps, r)
    return report


def _record(
    deps: Deps,
    store: Store,
    rows: list[OutboxRow],
    results: dict[int, Delivery],
    report: DeliveryReport,
    now: datetime,
) -> list[OutboxRow]:
    """Each row's result in the store; the rows that went out."""
    max_attempts = deps.settings.outbox.max_attempts
    sent: list[OutboxRow] = []
    for r in rows:
        delivery = results.get(r.id)
        attempts = r.attempts + 1
        if delivery is not None and delivery.ok:
            report.sent += 1
            sent.append(r)
            continue
        error = delivery.error if delivery else "no result from the sender"
        report.note(error)
        if (delivery is not None and delivery.permanent) or attempts >= max_attempts:
            _failed(deps, store, r, attempts, error, now)
            report.failed += 1
        else:
            backoff = timedelta(minutes=min(60, 2 ** (attempts - 1)))
            store.outbox_retry(r.id, attempts, error, now + backoff)
            report.retrying += 1
    store.outbox_all_sent([(r.id, r.attempts + 1) for r in sent], now)
    return sent


def _file_copy(deps: Deps, row: OutboxRow) -> None:
    try:
        deps.mailbox.file_sent(row.raw)
    except Exception as exc:  # noqa: BLE001 - a copy is a courtesy, the mail went out
        log.warning("could not file a copy in Sent", extra={"error": str(exc)})


def _failed(
    deps: Deps, store: Store, row: OutboxRow, attempts: int, error: str, now: datetime
) -> None:
    with store.transaction():
        store.outbox_failed(row.id, attempts, error)
        if row.kind == "reply" and row.message_row:
            reply_failed(
                deps,
                store,
                row.message_row,
                f"our reply to {row.to_addr} could not be delivered: {error}",
                now,
            )
    log.warning("reply undeliverable", extra={"outbox_id": row.id, "error": error})


def reply_failed(deps: Deps, store: Store, message_row: int, detail: str, now: datetime) -> int:
    """A reply that will never arrive: a person must reach the customer another way."""
    message = store.message(message_row)
    return raise_escalation(
        deps,
        store,
        NewEscalation(
            reason=Reason.REPLY_BOUNCED.value,
            detail=detail,
            sender=message.sender if message else "",
            message_row=message_row,
            serials=message.serials if message else (),
        ),
        now,
    )
