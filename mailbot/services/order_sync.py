"""Keeping the local copy of orders current, and acting on what changed.

    sync_orders(app) ─┬─ webhook events queued by `mailbot webhook serve` (fetched again)
                      ├─ incremental: Stripe's Events API from the saved cursor
                      └─ full re-list: the first time, on `--full`, and every full_resync_hours
                            │
           after every stored batch of orders:
                            ├─ fulfil_paid_links: a paid pay-link session -> license mailed
                            └─ flag_overused: refunded/disputed seats still carrying licenses
                                              -> one escalation per order (never a revocation)

A full re-list is resumable: the cursor of the next page is saved in the same transaction as
the page's orders, so a crash (or the time budget of a scheduled run) costs at most the page in
flight. The events cursor of the very first sync is taken *before* its re-list starts, so every
change made while the re-list runs is read again by the next incremental step.

Cursors live in the store's key/value state:
  stripe:events     the events cursor (StripeOrders.events_since)
  stripe:relist     JSON of an unfinished re-list: {cursor, events, started, orders}; "" = none
  stripe:last_full  when the last re-list finished (ISO 8601)
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from mailbot.app import App
from mailbot.services.licenses import audit
from mailbot.core.model import License, LicenseState, Order, OrderStatus, Reason
from mailbot.services.notify import escalation_created
from mailbot.adapters.orders.stripe import StripeOrders, StripeUnavailable
from mailbot.services.mailing import queue_mail, thread_of
from mailbot.store import Store, iso, parse_iso

log = logging.getLogger("mailbot.services.order_sync")
BOT = "mailbot"

STATE_EVENTS = "stripe:events"
STATE_RELIST = "stripe:relist"
STATE_LAST_FULL = "stripe:last_full"
# A scheduled run shares the worker's only thread with mail: a long re-list continues on the
# next run instead of holding mail back (the cursor makes that free).
JOB_BUDGET_SECONDS = 30.0
WEBHOOK_BATCH = 100
WEBHOOK_KEEP = timedelta(days=30)
WEBHOOK_GIVE_UP = 3  # refusals (not outages) of one event before it is dropped
OVERUSE_REASONS = (Reason.REFUNDED_ORDER.value, Reason.DISPUTED_ORDER.value)

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
    api_calls: int = 0
    seconds: float = 0.0

    @property
    def orders(self) -> int:
        """Orders stored (new, changed or unchanged), each counted once: the first sync re-reads
        the last minutes' events after its re-list, which names some orders a second time."""
        return len(self.stored)

    def as_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode, "resumed": self.resumed, "complete": self.complete,
            "orders": self.orders, "pages": self.pages, "events_orders": self.events_orders,
            "webhook_events": self.webhook_events, "fulfilled": list(self.fulfilled),
            "licenses_issued": self.licenses_issued, "escalations": list(self.escalations),
            "api_calls": self.api_calls, "seconds": round(self.seconds, 3),
        }


def _calls(source: Any) -> int:
    return int(getattr(source, "count_calls", 0) or 0)


def sync_orders(app: App, *, full: bool = False, progress: Progress | None = None,
                budget_seconds: float | None = None) -> SyncReport:
    """Bring the store's orders up to date with the order source, then act on the changes.

    `progress` gets the number of orders stored so far by a re-list, after each page.
    `budget_seconds` bounds a re-list (the scheduled job passes JOB_BUDGET_SECONDS); what is
    left is resumed by the next call. Raises StripeUnavailable when Stripe cannot be asked:
    everything stored before that is kept, and the next call continues from there.
    """
    started = time.perf_counter()
    source = app.orders
    calls_before = _calls(source)
    report = SyncReport()
    try:
        if not isinstance(source, StripeOrders):
            _sync_file(app, source, report)
        else:
            _sync_stripe(app, source, report, full, progress, budget_seconds)
    finally:
        report.api_calls = _calls(source) - calls_before
        report.seconds = time.perf_counter() - started
    # Also after a crash between an upsert and its checks: they look at the whole store.
    _after_upsert(app, report)
    log.info("orders synced", extra={"mode": report.mode, "orders": report.orders,
                                     "api_calls": report.api_calls,
                                     "fulfilled": len(report.fulfilled),
                                     "escalations": len(report.escalations)})
    return report


def _sync_file(app: App, source: Any, report: SyncReport) -> None:
    """A local orders file has no events: re-read it whole (it is small)."""
    report.mode = "file"
    orders = list(source.all_orders())
    with app.store.transaction() as store:
        store.upsert_orders(orders, app.clock.now())
    report.stored.update(o.order_id for o in orders)


def _sync_stripe(app: App, source: StripeOrders, report: SyncReport, full: bool,
                 progress: Progress | None, budget_seconds: float | None) -> None:
    store = app.store
    process_webhook_events(app, report)
    events_cursor = store.get_state(STATE_EVENTS) or None
    relist = _relist_state(store)
    if events_cursor is not None:
        _incremental(app, source, events_cursor, report)
    if not (full or events_cursor is None or relist is not None or _full_due(app)):
        return
    report.mode = "backfill" if events_cursor is None else "full"
    deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
    report.complete = _relist(app, source, relist, report, progress, deadline)
    if report.complete and events_cursor is None:
        # The first re-list is done: catch up on what changed while it ran.
        first = store.get_state(STATE_EVENTS)
        if first:
            _incremental(app, source, first, report)


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


def _full_due(app: App) -> bool:
    hours = app.settings.orders.full_resync_hours
    if hours <= 0:
        return False
    last = parse_iso(app.store.get_state(STATE_LAST_FULL))
    return last is None or app.clock.now() - last >= timedelta(hours=hours)


def _incremental(app: App, source: StripeOrders, cursor: str, report: SyncReport) -> None:
    orders, new_cursor = source.events_since(cursor)
    with app.store.transaction() as store:
        store.upsert_orders(orders, app.clock.now())
        store.set_state(STATE_EVENTS, new_cursor)
    report.stored.update(o.order_id for o in orders)
    report.events_orders += len(orders)
    if orders:
        _after_upsert(app, report)


def _relist(app: App, source: StripeOrders, state: dict[str, Any] | None, report: SyncReport,
            progress: Progress | None, deadline: float | None) -> bool:
    """Walk the re-list from its saved cursor; True when it reached the end."""
    store = app.store
    now = app.clock.now()
    if state is None:
        # Taken before the first page is read: events from here on are read incrementally.
        state = {"cursor": None, "events": StripeOrders.initial_cursor(now),
                 "started": iso(now), "orders": 0}
        with store.transaction():
            store.set_state(STATE_RELIST, json.dumps(state))
    else:
        report.resumed = True
    count = int(state.get("orders") or 0)
    pages = source.backfill(state.get("cursor"))
    try:
        for orders, cursor in pages:
            with store.transaction():
                store.upsert_orders(orders, app.clock.now())
                count += len(orders)
                if cursor is None:
                    store.set_state(STATE_RELIST, "")
                    store.set_state(STATE_LAST_FULL, iso(app.clock.now()))
                    if not store.get_state(STATE_EVENTS):
                        store.set_state(STATE_EVENTS, str(state["events"]))
                else:
                    store.set_state(STATE_RELIST, json.dumps(
                        dict(state, cursor=cursor, orders=count)))
            report.stored.update(o.order_id for o in orders)
            report.pages += 1
            if orders:
                _after_upsert(app, report)
            if progress is not None:
                progress(count)
            if cursor is None:
                return True
            if deadline is not None and time.monotonic() >= deadline:
                log.info("re-list paused at its time budget; the next sync resumes it",
                         extra={"orders": count})
                return False
    finally:
        # Ends the page walk (and its connection use) when the loop is left early.
        close = getattr(pages, "close", None)
        if close is not None:
            close()
    return True


def _after_upsert(app: App, report: SyncReport) -> None:
    now = app.clock.now()
    for done in fulfil_paid_links(app, app.store, now):
        report.fulfilled.append(done.pending_id)
        report.licenses_issued += len(done.issued)
        if done.escalation_id is not None:
            report.escalations.append(done.escalation_id)
    report.escalations.extend(flag_overused(app, app.store, now))


# -- webhook queue ---------------------------------------------------------------------------


def queue_webhook_event(store: Store, event_id: str, now: datetime) -> bool:
    """Record that Stripe told us about an event; False when it was queued already."""
    cursor = store.db.execute(
        "INSERT OR IGNORE INTO webhook_events (id, received_at, attempts) VALUES (?, ?, 0)",
        [event_id, iso(now)])
    return cursor.rowcount > 0


def process_webhook_events(app: App, report: SyncReport | None = None,
                           limit: int = WEBHOOK_BATCH) -> int:
    """Fetch each queued event again from Stripe and store the current state of its orders.

    Stops at the first StripeUnavailable (the rest stay queued and are tried again later) and
    re-raises it, so a caller sees the outage; an event Stripe keeps refusing (not an outage)
    is dropped after WEBHOOK_GIVE_UP tries. Returns how many events were processed."""
    source = app.orders
    if not isinstance(source, StripeOrders):
        return 0
    store = app.store
    rows = store.query("SELECT id, attempts FROM webhook_events WHERE processed_at IS NULL "
                       "ORDER BY received_at, id LIMIT ?", [limit])
    done = 0
    for row in rows:
        attempts = int(row["attempts"] or 0) + 1
        try:
            orders = source.orders_for_event(row["id"])
        except StripeUnavailable as exc:
            if exc.permanent and attempts >= WEBHOOK_GIVE_UP:
                # Stripe keeps refusing this one: drop it rather than block the queue; the
                # Events API sync reads the same change anyway.
                log.warning("webhook event given up", extra={"event": row["id"],
                                                              "error": str(exc)})
                store.db["webhook_events"].update(row["id"], {
                    "attempts": attempts, "last_error": str(exc)[:500],
                    "processed_at": iso(app.clock.now())})
                continue
            store.db["webhook_events"].update(row["id"], {
                "attempts": attempts, "last_error": str(exc)[:500]})
            raise
        with store.transaction():
            store.upsert_orders(orders, app.clock.now())
            store.db["webhook_events"].update(row["id"], {
                "processed_at": iso(app.clock.now()), "attempts": attempts, "last_error": None})
        done += 1
        if report is not None:
            report.stored.update(o.order_id for o in orders)
            report.webhook_events += 1
        if orders:
            _after_upsert(app, report or SyncReport())
    if rows and len(rows) < limit:
        # The ids are only needed while Stripe may redeliver (it retries for 3 days).
        store.db.execute("DELETE FROM webhook_events WHERE processed_at < ?",
                         [iso(app.clock.now() - WEBHOOK_KEEP)])
    return done


# -- pay by link -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Fulfilment:
    pending_id: str
    order_id: str
    to: str
    issued: tuple[int, ...]  # license numbers issued now
    resent: tuple[int, ...]  # licenses the serials had got meanwhile, mailed again
    escalated: tuple[str, ...]  # serials left for a person
    escalation_id: int | None
    outbox_id: int | None


def fulfil_paid_links(app: App, store: Store, now: datetime) -> list[Fulfilment]:
    """License and mail every pay-link request whose payment has arrived.

    A request is fulfilled by the first paid order carrying its id as client_reference_id. An
    expired request that is paid after all is fulfilled too (the customer paid; staff's
    payment_expired escalation is resolved with a note). One transaction per request; the
    request's state is the guard against doing it twice (a second sync, a second process), and
    the one-active-license-per-serial index backs it up.
    """
    rows = store.query(
        "SELECT p.id AS pending_id, o.order_id FROM pending_payments p "
        "JOIN orders o ON o.client_reference_id = p.id "
        "WHERE p.state IN ('open', 'expired') AND o.status = ? "
        "ORDER BY p.created_at, p.id, o.created, o.order_id",
        [OrderStatus.PAID.value])
    done: list[Fulfilment] = []
    seen: set[str] = set()
    for row in rows:
        if row["pending_id"] in seen:
            continue  # paid twice: the first order serves it; the other keeps its seats
        seen.add(row["pending_id"])
        try:
            result = _fulfil(app, store, row["pending_id"], row["order_id"], now)
        except sqlite3.IntegrityError:
            # Another path licensed a serial in between; the next sync re-sends it instead.
            log.warning("pay-link fulfilment collided with another license; retried next sync",
                        extra={"pending": row["pending_id"]})
            continue
        except Exception as exc:  # noqa: BLE001 - one request must not block the others
            log.error("pay-link fulfilment failed; retried next sync",
                      extra={"pending": row["pending_id"], "error": str(exc)})
            continue
        if result is not None:
            done.append(result)
    return done


def _fulfil(app: App, store: Store, pending_id: str, order_id: str,
            now: datetime) -> Fulfilment | None:
    from mailbot.services.worker import REASON_TEXT, Worker  # the worker imports the whole pipeline

    with store.transaction():
        pending = store.one("SELECT * FROM pending_payments WHERE id = ?", [pending_id])
        if pending is None or pending["state"] not in ("open", "expired"):
            return None
        order = store.order(order_id)
        if order is None or order.status is not OrderStatus.PAID:
            return None
        serials: list[str] = list(dict.fromkeys(json.loads(pending["serials"] or "[]")))
        message_row = pending["message_row"]
        free = order.usable_seats - len(store.active_licenses_for_orders([order.order_id]))
        existing = store.licenses_for_serials(serials)
        worker = Worker(app)
        results: list[dict[str, Any]] = []
        issued: list[License] = []
        resent: list[License] = []
        left: list[tuple[str, Reason]] = []
        for serial in serials:
            lic = existing.get(serial)
            if lic is not None and lic.state is LicenseState.ACTIVE:
                if lic.customer_email == order.email:
                    resent.append(lic)
                    results.append(_item(serial, "resend", lic))
                else:
                    left.append((serial, Reason.SERIAL_LICENSED_ELSEWHERE))
            elif lic is not None:
                left.append((serial, Reason.SERIAL_REVOKED))  # only staff re-license these
            elif free <= 0:
                left.append((serial, Reason.SEATS_EXHAUSTED))
            else:
                new = worker.issue_license(store, app.signer, serial, order.email,
                                           order.order_id, now, message_row)
                free -= 1
                issued.append(new)
                results.append(_item(serial, "issue", new))
                audit(store, None, BOT, "license_issued",
                      f"license #{new.license_no}: {serial} issued to {order.email} against "
                      f"order {order.order_id} (paid pay-link request {pending_id})", now)
        for serial, reason in left:
            results.append({**_item(serial, "escalate", None), "reason": reason.value,
                            "reason_text": REASON_TEXT.get(reason, "")})

        escalation_id = None
        if left:
            escalation_id = _escalate_leftovers(app, store, pending, order, left, now)
        message = store.one("SELECT message_id, subject, sender, raw FROM messages WHERE id = ?",
                            [message_row]) if message_row else None
        thread = thread_of(message["raw"], message["message_id"], message["subject"],
                           message["sender"]) if message else None
        outbox_id = None
        licensed = bool(issued or resent)
        if licensed or app.policy.acknowledge_escalations:
            outbox_id = queue_mail(
                app, store, to=order.email, template="issued" if licensed else "escalated",
                context={"customer_name": order.name or (thread.sender_name if thread else ""),
                         "results": results, "licensed": licensed,
                         "outcome": "issued" if licensed else "escalated",
                         "original_subject": thread.subject if thread else ""},
                now=now, kind="reply", thread=thread, message_row=message_row)
        store.db["pending_payments"].update(pending_id, {
            "state": "fulfilled", "order_id": order.order_id, "fulfilled_at": iso(now)})
        if pending["state"] == "expired":
            _close_expired(store, message_row, pending_id, order, now)
    log.info("pay-link request fulfilled",
             extra={"pending": pending_id, "order": order.order_id, "issued": len(issued),
                    "resent": len(resent), "escalated": len(left)})
    return Fulfilment(pending_id, order.order_id, order.email,
                      tuple(lic.license_no for lic in issued),
                      tuple(lic.license_no for lic in resent),
                      tuple(s for s, _ in left), escalation_id, outbox_id)


def _item(serial: str, action: str, lic: License | None) -> dict[str, Any]:
    """One serial as the reply templates show it (see templates/_results.txt)."""
    return {"serial": serial, "as_found": serial, "action": action, "reason": None,
            "reason_text": "", "old_serial": None, "pay_url": "",
            "license_string": lic.license_string if lic else "",
            "license_no": lic.license_no if lic else None}


def _escalate_leftovers(app: App, store: Store, pending: dict[str, Any], order: Order,
                        left: Sequence[tuple[str, Reason]], now: datetime) -> int:
    reason = left[0][1]
    lines = [f"pay-link request {pending['id']} was paid by order {order.order_id} "
             f"({order.email}, {order.seats} seat(s)), but these serials could not be licensed "
             "automatically:"]
    lines += [f"{serial}: {why.value}" for serial, why in left]
    esc = store.add_escalation(
        {"message_row": pending["message_row"], "reason": reason.value,
         "detail": "\n".join(lines), "sender": pending["sender"] or order.email,
         "serials": json.dumps([
             {"serial": s, "as_found": s, "status": "ok", "new": False, "action": "escalate",
              "reason": why.value, "order_id": order.order_id, "old_serial": None}
             for s, why in left]),
         "facts": json.dumps({"pending_payment": pending["id"], "order_id": order.order_id,
                              "usable_seats": order.usable_seats})},
        BOT, now)
    escalation_created(app, store, esc, now)
    return esc


def _close_expired(store: Store, message_row: int | None, pending_id: str, order: Order,
                   now: datetime) -> None:
    for esc in store.query("SELECT id FROM escalations WHERE state = 'open' AND reason = ? "
                           "AND message_row IS ?", [Reason.PAYMENT_EXPIRED.value, message_row]):
        store.db["escalations"].update(esc["id"], {"state": "resolved", "updated_at": iso(now)})
        store.add_audit(esc["id"], BOT, "resolved",
                        f"pay-link request {pending_id} was paid after it expired (order "
                        f"{order.order_id}); the licenses were mailed automatically", now)


# -- refunds and disputes --------------------------------------------------------------------


def flag_overused(app: App, store: Store, now: datetime,
                  order_ids: Iterable[str] | None = None) -> list[int]:
    """Escalate orders whose refunded or disputed seats still carry active licenses.

    Licenses are never revoked here: a refund may be a goodwill gesture, a dispute may be won;
    a person (support with finance) decides. One open escalation per order: while it is open
    a change (another refund) updates it; once closed, a new one is raised only if the picture
    changes again (so resolving it is not undone by the next sync).
    """
    params: list[Any] = []
    only = ""
    if order_ids is not None:
        ids = list(order_ids)
        if not ids:
            return []
        only = f" AND o.order_id IN ({','.join('?' * len(ids))})"
        params = ids
    rows = store.query(
        "SELECT o.order_id, group_concat(l.license_no) AS numbers FROM orders o "
        "JOIN licenses l ON l.order_id = o.order_id AND l.state = 'active' "
        "WHERE (o.status IN ('refunded', 'disputed') OR o.refunded_seats > 0)" + only +
        " GROUP BY o.order_id ORDER BY o.order_id", params)
    created: list[int] = []
    for row in rows:
        order = store.order(row["order_id"])
        if order is None:
            continue
        numbers = sorted(int(n) for n in str(row["numbers"]).split(","))
        if len(numbers) <= order.usable_seats:
            continue
        esc = _flag_order(app, store, order, numbers, now)
        if esc is not None:
            created.append(esc)
    return created


def _flag_order(app: App, store: Store, order: Order, numbers: list[int],
                now: datetime) -> int | None:
    reason = (Reason.DISPUTED_ORDER if order.status is OrderStatus.DISPUTED
              else Reason.REFUNDED_ORDER)
    picture = {"status": order.status.value, "usable_seats": order.usable_seats,
               "licenses": numbers}
    with store.transaction():
        previous = store.query(
            "SELECT id, state, facts FROM escalations WHERE reason IN (?, ?) "
            "AND json_extract(facts, '$.overused_order') = ? ORDER BY id DESC",
            [*OVERUSE_REASONS, order.order_id])
        latest = json.loads(previous[0]["facts"] or "{}") if previous else {}
        if latest.get("picture") == picture:
            return None  # nothing new since staff last saw it (open or closed)
        licenses = [store.license(n) for n in numbers]
        detail = _overuse_detail(order, [lic for lic in licenses if lic is not None])
        facts = json.dumps({"overused_order": order.order_id, "picture": picture})
        serials = json.dumps([
            {"serial": lic.serial, "as_found": lic.serial, "status": "ok", "new": False,
             "action": None, "reason": reason.value, "order_id": order.order_id,
             "old_serial": None, "license_no": lic.license_no}
            for lic in licenses if lic is not None])
        still_open = [p for p in previous if p["state"] == "open"]
        if still_open:
            esc_id = int(still_open[0]["id"])
            store.db["escalations"].update(esc_id, {
                "reason": reason.value, "detail": detail, "facts": facts, "serials": serials,
                "updated_at": iso(now)})
            store.add_audit(esc_id, BOT, "updated", detail, now)
            return None
        esc_id = store.add_escalation(
            {"message_row": None, "reason": reason.value, "detail": detail,
             "sender": order.email, "serials": serials, "facts": facts},
            BOT, now)
        escalation_created(app, store, esc_id, now)
    log.info("order over-used after a refund or dispute",
             extra={"order": order.order_id, "status": order.status.value,
                    "active": len(numbers), "usable": order.usable_seats})
    return esc_id


def _overuse_detail(order: Order, licenses: Sequence[License]) -> str:
    if order.status is OrderStatus.DISPUTED:
        what = "the payment is disputed"
    elif order.status is OrderStatus.REFUNDED:
        what = "it was refunded in full"
    else:
        what = f"{order.refunded_seats} of its {order.seats} seat(s) were refunded"
    listed = ", ".join(f"#{lic.license_no} ({lic.serial})" for lic in licenses)
    return (f"order {order.order_id} of {order.email}: {what}; {len(licenses)} active "
            f"license(s) on {order.usable_seats} usable seat(s): {listed}. Nothing was revoked: "
            "decide with finance whether to revoke (`mailbot licenses revoke N --reason ...`) "
            "or keep them, then resolve this.")
