"""Keeping the local copy of orders current, and acting on what changed.

    sync_orders(deps) ─┬─ webhook events queued by `mailbot webhook serve` (fetched again)
                      ├─ incremental: Stripe's Events API from the saved cursor
                      └─ full re-list: the first time, on `--full`, and every full_resync_hours
                            │
           after every stored batch of orders:
                            ├─ fulfil_paid_links: a paid pay-link session -> license mailed
                            ├─ flag_overused: refunded/disputed/reduced seats still carrying
                            │                 licenses -> one escalation per order (never a
                            │                 revocation)
                            └─ renew_due: a paid term moved forward -> its licenses re-signed
                                          and mailed, once per term (services/renewals.py)

A full re-list is resumable: the cursor of the next page is saved in the same transaction as
the page's orders, so a crash (or the time budget of a scheduled run) costs at most the page in
flight. The events cursor of the very first sync is taken *before* its re-list starts, so every
change made while the re-list runs is read again by the next incremental step.

Cursors live in the store's key/value state:
  stripe:events     the events cursor (OrderEvents.events_since)
  stripe:relist     JSON of an unfinished re-list: {cursor, events, started, orders}; "" = none
  stripe:last_full  when the last re-list finished (ISO 8601)
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from mailbot.services.context import Deps
from mailbot.services.finance_flags import flag_overused
from mailbot.services.orders import refresh_local_orders
from mailbot.services.payments import fulfil_paid_links
from mailbot.services.ports import OrderEvents, OrderSourceUnavailable
from mailbot.services.renewals import renew_due
from mailbot.store import Store, iso, parse_iso

log = logging.getLogger("mailbot.order_sync")

STATE_EVENTS = "stripe:events"
STATE_RELIST = "stripe:relist"
STATE_LAST_FULL = "stripe:last_full"
# A scheduled run shares the worker's only thread with mail: a long re-list continues on the
# next run instead of holding mail back (the cursor makes that free).
JOB_BUDGET_SECONDS = 30.0
WEBHOOK_BATCH = 100
WEBHOOK_KEEP = timedelta(days=30)
WEBHOOK_GIVE_UP = 3  # refusals (not outages) of one event before it is dropped

Progress = Callable[[int], None]


@dataclass
class SyncReport:
    """What one sync did, for the command's summary and the scheduler's log."""

    mode: str = "incremental"  # "backfill" (first) | "full" (re-list) | "incremental" | "file"
    resumed: bool = False  # a re-list continued from a saved cursor
    complete: bool = True  # False: a re-list stopped at its time budget; the next run resumes
    stored: set[str] = field(default_factory=set)  # ids of the orders stored, all steps
    pages: int = 0  # re-list pages stored
    events_orders: int = 0  # orders named by new events (some also in a re-list)
    webhook_events: int = 0  # queued webhook events processed
    fulfilled: list[str] = field(default_factory=list)  # pay-link requests fulfilled
    licenses_issued: int = 0
    escalations: list[int] = field(default_factory=list)  # created by this sync
    renewals: list[str] = field(default_factory=list)  # orders whose licenses were renewed
    api_calls: int = 0
    seconds: float = 0.0

    @property
    def orders(self) -> int:
        """Orders stored (new, changed or unchanged), each counted once: the first sync re-reads
        the last minutes' events after its re-list, which names some orders a second time."""
        return len(self.stored)

    def as_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "resumed": self.resumed,
            "complete": self.complete,
            "orders": self.orders,
            "pages": self.pages,
            "events_orders": self.events_orders,
            "webhook_events": self.webhook_events,
            "fulfilled": list(self.fulfilled),
            "licenses_issued": self.licenses_issued,
            "escalations": list(self.escalations),
            "renewals": list(self.renewals),
            "api_calls": self.api_calls,
            "seconds": round(self.seconds, 3),
        }


def sync_orders(
    deps: Deps,
    *,
    full: bool = False,
    progress: Progress | None = None,
    budget_seconds: float | None = None,
) -> SyncReport:
    """Bring the store's orders up to date with the order source, then act on the changes.

    `progress` gets the number of orders stored so far by a re-list, after each page.
    `budget_seconds` bounds a re-list (the scheduled job passes JOB_BUDGET_SECONDS); what is
    left is resumed by the next call. Raises OrderSourceUnavailable when the source cannot be
    asked: everything stored before that is kept, and the next call continues from there.
    """
    started = time.perf_counter()
    events = deps.order_events
    calls_before = events.count_calls if events is not None else 0
    report = SyncReport()
    try:
        if events is None:
            report.mode = "file"
            # A file has no events: it is read again whole, now, even if unchanged.
            refresh_local_orders(deps, force=True, seen=report.stored)
        else:
            _sync_events(deps, events, report, full, progress, budget_seconds)
    finally:
        report.api_calls = (events.count_calls if events is not None else 0) - calls_before
        report.seconds = time.perf_counter() - started
    # Also after a crash between an upsert and its checks: they look at the whole store.
    _after_upsert(deps, report)
    log.info(
        "orders synced",
        extra={
            "mode": report.mode,
            "orders": report.orders,
            "api_calls": report.api_calls,
            "fulfilled": len(report.fulfilled),
            "escalations": len(report.escalations),
        },
    )
    return report


def _sync_events(
    deps: Deps,
    source: OrderEvents,
    report: SyncReport,
    full: bool,
    progress: Progress | None,
    budget_seconds: float | None,
) -> None:
    store = deps.store
    process_webhook_events(deps, report)
    events_cursor = store.get_state(STATE_EVENTS) or None
    relist = _relist_state(store)
    if events_cursor is not None:
        _incremental(deps, source, events_cursor, report)
    if not (full or events_cursor is None or relist is not None or _full_due(deps)):
        return
    report.mode = "backfill" if events_cursor is None else "full"
    deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
    report.complete = _relist(deps, source, relist, report, progress, deadline)
    if report.complete and events_cursor is None:
        # The first re-list is done: catch up on what changed while it ran.
        first = store.get_state(STATE_EVENTS)
        if first:
            _incremental(deps, source, first, report)


def _relist_state(store: Store) -> dict[str, Any] | None:
    raw = store.get_state(STATE_RELIST)
    if not raw:
        return None
    try:
        state = json.loads(raw)
    except ValueError:
        log.warning("unreadable re-list cursor; starting the re-list again")
        return None
    return state if isinstance(state, dict) and "events" in state else None


def _full_due(deps: Deps) -> bool:
    hours = deps.settings.orders.full_resync_hours
    if hours <= 0:
        return False
    last = parse_iso(deps.store.get_state(STATE_LAST_FULL))
    return last is None or deps.clock.now() - last >= timedelta(hours=hours)


def _incremental(deps: Deps, source: OrderEvents, cursor: str, report: SyncReport) -> None:
    orders, new_cursor = source.events_since(cursor)
    with deps.store.transaction() as store:
        store.upsert_orders(orders, deps.clock.now())
        store.set_state(STATE_EVENTS, new_cursor)
    report.stored.update(o.order_id for o in orders)
    report.events_orders += len(orders)
    if orders:
        _after_upsert(deps, report)


def _relist(
    deps: Deps,
    source: OrderEvents,
    state: dict[str, Any] | None,
    report: SyncReport,
    progress: Progress | None,
    deadline: float | None,
) -> bool:
    """Walk the re-list from its saved cursor; True when it reached the end."""
    store = deps.store
    now = deps.clock.now()
    if state is None:
        # Taken before the first page is read: events from here on are read incrementally.
        state = {
            "cursor": None,
            "events": source.initial_cursor(now),
            "started": iso(now),
            "orders": 0,
        }
        with store.transaction():
            store.set_state(STATE_RELIST, json.dumps(state))
    else:
        report.resumed = True
    count = int(state.get("orders") or 0)
    pages = source.backfill(state.get("cursor"))
    try:
        for orders, cursor in pages:
            with store.transaction():
                store.upsert_orders(orders, deps.clock.now())
                count += len(orders)
                if cursor is None:
                    store.set_state(STATE_RELIST, "")
                    store.set_state(STATE_LAST_FULL, iso(deps.clock.now()))
                    if not store.get_state(STATE_EVENTS):
                        store.set_state(STATE_EVENTS, str(state["events"]))
                else:
                    store.set_state(
                        STATE_RELIST, json.dumps(dict(state, cursor=cursor, orders=count))
                    )
            report.stored.update(o.order_id for o in orders)
            report.pages += 1
            if orders:
                _after_upsert(deps, report)
            if progress is not None:
                progress(count)
            if cursor is None:
                return True
            if deadline is not None and time.monotonic() >= deadline:
                log.info(
                    "re-list paused at its time budget; the next sync resumes it",
                    extra={"orders": count},
                )
                return False
    finally:
        # Ends the page walk (and its connection use) when the loop is left early.
        pages.close()
    return True


def _after_upsert(deps: Deps, report: SyncReport) -> None:
    now = deps.clock.now()
    for done in fulfil_paid_links(deps, deps.store, now):
        report.fulfilled.append(done.pending_id)
        report.licenses_issued += len(done.issued)
        if done.escalation_id is not None:
            report.escalations.append(done.escalation_id)
    report.escalations.extend(flag_overused(deps, deps.store, now))
    report.renewals.extend(r.order_id for r in renew_due(deps, deps.store, now))


# -- webhook queue ---------------------------------------------------------------------------


def queue_webhook_event(store: Store, event_id: str, now: Any) -> bool:
    """Record that Stripe told us about an event; False when it was queued already."""
    return store.queue_webhook_event(event_id, now)


def process_webhook_events(
    deps: Deps, report: SyncReport | None = None, limit: int = WEBHOOK_BATCH
) -> int:
    """Fetch each queued event again from the source and store the current state of its
    orders.

    Stops at the first OrderSourceUnavailable (the rest stay queued and are tried again later)
    and re-raises it, so a caller sees the outage; an event the source keeps refusing (not an
    outage) is dropped after WEBHOOK_GIVE_UP tries. Returns how many events were processed."""
    source = deps.order_events
    if source is None:
        return 0
    store = deps.store
    events = store.waiting_webhook_events(limit)
    done = 0
    for event in events:
        attempts = event.attempts + 1
        try:
            orders = source.orders_for_event(event.id)
        except OrderSourceUnavailable as exc:
            if exc.permanent and attempts >= WEBHOOK_GIVE_UP:
                # Stripe keeps refusing this one: drop it rather than block the queue; the
                # Events API sync reads the same change anyway.
                log.warning("webhook event given up", extra={"event": event.id, "error": str(exc)})
                store.webhook_event_failed(
                    event.id, attempts, str(exc), given_up_at=deps.clock.now()
                )
                continue
            store.webhook_event_failed(event.id, attempts, str(exc))
            raise
        with store.transaction():
            store.upsert_orders(orders, deps.clock.now())
            store.webhook_event_done(event.id, attempts, deps.clock.now())
        done += 1
        if report is not None:
            report.stored.update(o.order_id for o in orders)
            report.webhook_events += 1
        if orders:
            _after_upsert(deps, report or SyncReport())
    if events and len(events) < limit:
        # The ids are only needed while Stripe may redeliver (it retries for 3 days).
        store.forget_webhook_events(deps.clock.now() - WEBHOOK_KEEP)
    return done
