"""The worker: gather -> decide -> apply for each waiting mail, and delivery of the outbox.

The only module that runs the pipeline against the adapters. Per mail:

    fetched ──> known key? ──────────────> finish the mailbox move only
            └─> parse ─> classify ─> [transaction: gather ─> decide ─> apply] ─> mark_done

A mail is moved in the mailbox only after its transaction has committed; a crash at any point
leaves it to be fetched again, and a second pass finds its key (or Message-ID) and never decides
twice. An exception while deciding becomes `escalated`/`internal_error` with the traceback kept
for staff, and the loop goes on with the next mail.
"""

from __future__ import annotations

import json
import logging
import secrets
import sqlite3
import threading
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from mailbot.app import App
from mailbot.config import ConfigError
from mailbot.core.classify import Classification, Kind, classify
from mailbot.core.decide import decide
from mailbot.core.license_format import short
from mailbot.services.notify import escalation_created
from mailbot.core.model import (
    Action,
    Decision,
    Facts,
    Fetched,
    Inbound,
    License,
    Outcome,
    Reason,
    SerialStatus,
)
from mailbot.mail.parse import parse_message
from mailbot.mail.render import compose, new_message_id, reply_subject
from mailbot.store import Store, iso

log = logging.getLogger("mailbot.services.worker")
BOT = "mailbot"
MARK_BATCH = 50  # mailbox moves are batched; a crash re-moves at most this many


@dataclass(frozen=True)
class Processed:
    key: str
    message_row: int
    sender: str
    subject: str
    outcome: Outcome
    reason: Reason | None
    serials: tuple[str, ...] = ()
    already_done: bool = False  # found committed from an earlier run: only moved


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    blocked: str = ""  # a configuration problem stopped all sending


def _already_done(key: str, row: dict[str, Any]) -> Processed:
    """A mail whose outcome an earlier run committed: only its mailbox move may be left."""
    return Processed(key, row["id"], "", "", Outcome(row["outcome"]),
                     Reason(row["reason"]) if row["reason"] else None, already_done=True)


def gather(store: Store, inbound: Inbound, cls: Classification, app: App, now: datetime) -> Facts:
    """Read what the store knows about this sender and these serials."""
    policy = app.policy
    serials = [f.normalized for f in inbound.serials if f.status is SerialStatus.OK]
    if cls.old_serial:
        serials.append(cls.old_serial)
    orders = {o.order_id: o for o in store.orders_for_email(inbound.sender)}
    for named in store.orders_by_reference(inbound.order_refs):
        orders[named.order_id] = named
        for o in store.orders_for_email(named.email):
            orders[o.order_id] = o
    licenses = store.licenses_for_serials(serials)
    seat_keys = [lic.seat_key for lic in licenses.values()]
    bounced: tuple[str, ...] = ()
    if cls.reason is Reason.BOUNCE and inbound.bounced_message_ids:
        # Only replies to customers: a bounced staff notification escalated would notify the
        # same bouncing address again, and again.
        bounced = tuple(r["message_id"] for r in store.outbox_by_message_ids(
            inbound.bounced_message_ids) if r["kind"] == "reply")
    # Every address this mail could make us write to: a license for an order named in the
    # mail goes to the order's address, so a colleague asking must not reset that count.
    hour_ago = now - timedelta(hours=1)
    addresses = {inbound.sender, inbound.reply_to, *(o.email for o in orders.values())} - {""}
    replies = sum(store.replies_since(a, hour_ago) for a in sorted(addresses))
    return Facts(
        orders=tuple(orders.values()),
        licenses=licenses,
        customer_licenses=tuple(store.active_licenses_for_orders(orders)),
        transfers_in_window=store.transfers_in_window(
            seat_keys, now - timedelta(days=policy.transfer_window_days)
        ),
        previous_mistyped=store.previous_mistyped(inbound.sender) if inbound.sender else 0,
        replies_last_hour=replies,
        bounced_replies=bounced,
    )


class Worker:
    def __init__(self, app: App) -> None:
        self.app = app
        self.stop = threading.Event()
        self._orders_version: str | None = None

    # -- orders -------------------------------------------------------------------------

    def sync_local_orders(self) -> int:
        """Re-read a local orders file when it changed (Stripe has its own sync job)."""
        if self.app.settings.orders.kind != "csv":
            return 0
        source = self.app.orders
        version = getattr(source, "version", None)
        if version is None:
            return 0
        current = version()
        if current == self._orders_version:
            return 0
        with self.app.store.transaction() as store:
            count = store.upsert_orders(source.all_orders(), self.app.clock.now())
        self._orders_version = current
        return count

    # -- mail ---------------------------------------------------------------------------

    def poll_once(self) -> list[Processed]:
        """Process every waiting mail; stops early (between mails) when asked to stop."""
        self.sync_local_orders()
        done: list[tuple[Fetched, Outcome]] = []
        processed: list[Processed] = []
        max_size = self.app.settings.policy.max_message_bytes
        for fetched in self.app.mailbox.fetch_new(max_size):
            if self.stop.is_set():
                break
            result = self.process(fetched)
            processed.append(result)
            done.append((fetched, result.outcome))
            if len(done) >= MARK_BATCH:
                self._mark_done(done)
                done = []
        self._mark_done(done)
        return processed

    def _mark_done(self, done: Sequence[tuple[Fetched, Outcome]]) -> None:
        if not done:
            return
        self.app.mailbox.mark_done(done)
        self.app.store.mark_mailbox_done(f.key for f, _ in done)

    def process(self, fetched: Fetched) -> Processed:
        store = self.app.store
        known = store.message_by_key(fetched.key)
        if known is not None:
            return _already_done(fetched.key, known)
        moved = self._same_mail_new_key(fetched)
        if moved is not None:
            return moved
        if fetched.raw is None:
            return self._record_unparsed(fetched, Reason.TOO_LARGE,
                                         f"{fetched.size} bytes, over the "
                                         f"{self.app.settings.policy.max_message_bytes} byte cap")
        inbound: Inbound | None = None
        try:
            inbound = self._parse(fetched.raw)
            return self._process(fetched, inbound)
        except ConfigError:
            raise  # a setup problem (orders file, key, template): the mail waits, the run stops
        except Exception as exc:  # noqa: BLE001 - one bad mail must not stop the worker
            known = store.message_by_key(fetched.key)
            if isinstance(exc, sqlite3.IntegrityError) and known is not None:
                # Another worker on the same mailbox committed this mail first: only the
                # move is left, with the outcome that worker recorded.
                return _already_done(fetched.key, known)
            trace = traceback.format_exc()
            log.error("internal error while deciding", extra={"key": fetched.key,
                                                              "error": trace.splitlines()[-1]})
            return self._record_unparsed(fetched, Reason.INTERNAL_ERROR,
                                         "an error inside mailbot while deciding", error=trace,
                                         inbound=inbound)

    def _same_mail_new_key(self, fetched: Fetched) -> Processed | None:
        """After an IMAP UIDVALIDITY change, mail we decided but had not yet moved comes back
        under a new key. Same folder, same Message-ID, not yet marked done: it is the same
        copy, so the row takes the new key and only the move is left to do."""
        if not fetched.message_id or not fetched.key.startswith("imap:"):
            return None
        folder = fetched.key.rsplit(":", 2)[0]
        store = self.app.store
        row = store.one(
            "SELECT id, mailbox_key, outcome, reason FROM messages WHERE message_id = ? "
            "AND mailbox_done = 0 AND duplicate_of IS NULL ORDER BY id LIMIT 1",
            [fetched.message_id],
        )
        if row is None or row["mailbox_key"].rsplit(":", 2)[0] != folder:
            return None
        store.update_message(row["id"], mailbox_key=fetched.key)
        log.info("mail came back under a new key; finishing its move",
                 extra={"old_key": row["mailbox_key"], "key": fetched.key})
        return _already_done(fetched.key, row)

    def _parse(self, raw: bytes) -> Inbound:
        settings = self.app.settings
        return parse_message(
            raw,
            product_code=settings.product.code,
            authserv_id=settings.security.authserv_id,
            max_serials=settings.policy.max_serials_per_mail,
        )

    def _process(self, fetched: Fetched, inbound: Inbound) -> Processed:
        cls = classify(inbound, self.app.policy)
        self._live_lookup(inbound, cls)
        now = self.app.clock.now()
        with self.app.store.transaction() as store:
            first = store.message_by_message_id(inbound.message_id)
            if first is not None:
                decision = Decision(
                    Outcome.IGNORED, Reason.DUPLICATE,
                    explanation=(f"the same Message-ID was processed as mail #{first['id']}",),
                )
                row = self._insert_message(store, fetched, inbound, decision, now,
                                           duplicate_of=first["id"])
            else:
                facts = gather(store, inbound, cls, self.app, now)
                decision = decide(inbound, cls, facts, self.app.policy)
                row = self._insert_message(store, fetched, inbound, decision, now)
                self.apply(store, row, inbound, decision, facts, now)
        log.info(
            "processed",
            extra={"key": fetched.key, "sender": inbound.sender, "outcome": decision.outcome.value,
                   "reason": decision.reason.value if decision.reason else None,
                   "serials": len(inbound.serials)},
        )
        return Processed(fetched.key, row, inbound.sender, inbound.subject, decision.outcome,
                         decision.reason, tuple(r.serial for r in decision.results))

    def _live_lookup(self, inbound: Inbound, cls: Classification) -> None:
        """A sender with serials but no local order: ask the order source once, live."""
        if cls.kind not in (Kind.REQUEST, Kind.TRANSFER) or not inbound.sender:
            return
        lookup = getattr(self.app.orders, "lookup_email", None)
        if lookup is None or getattr(self.app.orders, "version", None) is not None:
            return  # a local file is already fully loaded
        if self.app.store.orders_for_email(inbound.sender):
            return
        if time.monotonic() < getattr(self, "_lookup_paused_until", 0.0):
            return  # the source just failed: the rest of the batch decides on local facts
        try:
            found = lookup(inbound.sender)
        except Exception as exc:  # noqa: BLE001 - an outage must not stop mail
            log.warning("live order lookup failed; none for a minute",
                        extra={"error": str(exc)})
            # Each attempt waits out the source's retries: pay that once per outage, not once
            # per mail of a batch.
            self._lookup_paused_until = time.monotonic() + 60.0
            return
        if found:
            with self.app.store.transaction() as store:
                store.upsert_orders(found, self.app.clock.now())

    def _insert_message(self, store: Store, fetched: Fetched, inbound: Inbound,
                        decision: Decision, now: datetime, duplicate_of: int | None = None) -> int:
        return store.record_message(
            {
                "mailbox_key": fetched.key,
                "message_id": inbound.message_id,
                "sender": inbound.sender,
                "subject": inbound.subject,
                "received_at": iso(fetched.received_at or now),
                "processed_at": iso(now),
                "outcome": decision.outcome.value,
                "reason": decision.reason.value if decision.reason else None,
                "serials": json.dumps(serials_json(inbound, decision)),
                "explanation": json.dumps(list(decision.explanation) + list(inbound.problems)),
                "raw": fetched.raw,
                "size": fetched.size,
                "mailbox_done": 0,
                "duplicate_of": duplicate_of,
            }
        )

    def _record_unparsed(self, fetched: Fetched, reason: Reason, detail: str,
                         error: str | None = None, inbound: Inbound | None = None) -> Processed:
        """A mail the pipeline could not decide: kept for a person with whatever its parse
        found (sender, Message-ID, subject), so staff see who is waiting."""
        now = self.app.clock.now()
        sender = inbound.sender if inbound is not None else ""
        subject = inbound.subject if inbound is not None else ""
        message_id = (inbound.message_id if inbound is not None else "") or fetched.message_id
        with self.app.store.transaction() as store:
            row = store.record_message(
                {
                    "mailbox_key": fetched.key,
                    "message_id": message_id or None,
                    "sender": sender,
                    "subject": subject,
                    "received_at": iso(fetched.received_at or now),
                    "processed_at": iso(now),
                    "outcome": Outcome.ESCALATED.value,
                    "reason": reason.value,
                    "serials": "[]",
                    "explanation": json.dumps([detail]),
                    "raw": fetched.raw,
                    "size": fetched.size,
                    "mailbox_done": 0,
                    "error": error,
                }
            )
            esc = store.add_escalation(
                {"message_row": row, "reason": reason.value, "detail": detail,
                 "sender": sender, "serials": "[]", "facts": "{}"},
                BOT, now,
            )
            escalation_created(self.app, store, esc, now)
        return Processed(fetched.key, row, sender, subject, Outcome.ESCALATED, reason)

    # -- apply --------------------------------------------------------------------------

    def apply(self, store: Store, row: int, inbound: Inbound, decision: Decision, facts: Facts,
              now: datetime) -> None:
        """Carry out a decision. Runs inside the mail's transaction."""
        signer = self.app.signer if any(
            r.action in (Action.ISSUE, Action.TRANSFER) for r in decision.results) else None
        shown: list[dict[str, Any]] = []
        pay_url = ""
        for r in decision.results:
            item: dict[str, Any] = {
                "serial": r.serial, "as_found": r.as_found, "action": r.action.value,
                "reason": r.reason.value if r.reason else None,
                "reason_text": REASON_TEXT.get(r.reason, "") if r.reason else "",
                "old_serial": r.old_serial, "license_string": "", "pay_url": "",
            }
            if r.action is Action.ISSUE:
                lic = self.issue_license(store, signer, r.serial, r.recipient, r.order_id, now, row)
                item["license_string"] = lic.license_string
                item["license_no"] = lic.license_no
            elif r.action is Action.RESEND:
                assert r.license_no is not None
                existing = store.license(r.license_no)
                assert existing is not None
                item["license_string"] = existing.license_string
                item["license_no"] = existing.license_no
            elif r.action is Action.TRANSFER:
                assert r.license_no is not None
                old = store.license(r.license_no)
                assert old is not None
                lic = self.issue_license(store, signer, r.serial, r.recipient, old.order_id,
                                         now, row, seat_key=old.seat_key)
                store.revoke_license(old.license_no, f"transferred to {r.serial}", now,
                                     replaced_by=lic.license_no)
                item["license_string"] = lic.license_string
                item["license_no"] = lic.license_no
            elif r.action is Action.AWAIT_PAYMENT:
                if not pay_url:
                    pay_url = self._pending_payment(store, row, inbound, decision, now)
                item["pay_url"] = pay_url
            shown.append(item)

        if decision.escalates:
            esc = store.add_escalation(
                {
                    "message_row": row,
                    "reason": decision.reason.value if decision.reason else "",
                    "detail": "\n".join(decision.explanation),
                    "sender": inbound.sender,
                    "serials": json.dumps(serials_json(inbound, decision)),
                    "facts": json.dumps(facts_json(facts)),
                },
                BOT, now,
            )
            escalation_created(self.app, store, esc, now)
        if decision.reason is Reason.REPLY_BOUNCED and facts.bounced_replies:
            mark_replies_bounced(store, facts.bounced_replies, inbound.message_id)
        if decision.reply_to:
            self.queue_reply(store, row, inbound, decision, shown, facts, now)

    def issue_license(self, store: Store, signer: Any, serial: str, email: str,
                      order_id: str | None, now: datetime, row: int,
                      seat_key: int | None = None) -> License:
        no = store.next_license_no()
        string = signer.sign(serial, no, now.date())
        lic = License(
            license_no=no, serial=serial, customer_email=email, order_id=order_id,
            seat_key=seat_key or no, issued_at=now, license_string=string,
            key_id=signer.key_id,
        )
        store.add_license(lic, message_row=row)
        log.info("license issued", extra={"license_no": no, "serial": serial,
                                          "license": short(string)})
        return lic

    def _pending_payment(self, store: Store, row: int, inbound: Inbound, decision: Decision,
                         now: datetime) -> str:
        ref = f"mb_{secrets.token_urlsafe(12)}"
        waiting = [r.serial for r in decision.results if r.action is Action.AWAIT_PAYMENT]
        store.add_pending_payment(
            {
                "id": ref,
                "message_row": row,
                "sender": inbound.sender,
                "serials": json.dumps(waiting),
                "created_at": iso(now),
                "expires_at": iso(now + timedelta(
                    days=self.app.settings.orders.payment_expiry_days)),
            }
        )
        link = self.app.policy.payment_link
        glue = "&" if "?" in link else "?"
        return link + glue + urlencode({"client_reference_id": ref,
                                        "prefilled_email": inbound.sender})

    def queue_reply(self, store: Store, row: int, inbound: Inbound, decision: Decision,
                     shown: list[dict[str, Any]], facts: Facts, now: datetime) -> None:
        settings = self.app.settings
        names = {o.email: o.name for o in facts.orders}
        context = {
            "product": {"name": settings.product.name, "code": settings.product.code},
            "customer_name": (inbound.sender_name if decision.reply_to == inbound.sender else "")
            or names.get(decision.reply_to, ""),
            "results": shown,
            "licensed": any(i["license_string"] for i in shown),
            "outcome": decision.outcome.value,
            "original_subject": inbound.subject,
            "support_name": settings.outbox.from_name or f"{settings.product.name} support",
            "support_address": settings.outbox.from_address,
        }
        subject, text, html = self.app.renderer.render(decision.template, context)
        message_id = new_message_id(settings.outbox.from_address)
        in_reply_to = "" if inbound.message_id.endswith("@mailbot.invalid") else inbound.message_id
        composed = compose(
            from_address=settings.outbox.from_address,
            from_name=settings.outbox.from_name,
            to=decision.reply_to,
            subject=subject or reply_subject(inbound.subject, settings.product.name),
            text=text,
            html=html,
            now=now,
            message_id=message_id,
            in_reply_to=in_reply_to,
            references=inbound.references,
        )
        store.add_outbox(
            {
                "message_id": message_id,
                "kind": "reply",
                "to_addr": decision.reply_to,
                "subject": composed.subject,
                "raw": composed.raw,
                "created_at": iso(now),
                "message_row": row,
            }
        )

    # -- outbox -------------------------------------------------------------------------

    def deliver_outbox(self) -> DeliveryReport:
        """Send every due outbox row: at least once, with its stable Message-ID."""
        report = DeliveryReport()
        store = self.app.store
        max_attempts = self.app.settings.outbox.max_attempts
        seen: set[int] = set()
        while not self.stop.is_set():
            now = self.app.clock.now()
            rows = [r for r in store.due_outbox(now, limit=100) if r["id"] not in seen]
            if not rows:
                break
            seen.update(r["id"] for r in rows)
            try:
                results = self.app.sender.send(
                    [(r["id"], r["to_addr"], r["raw"]) for r in rows])
            except ConfigError as exc:
                # Every row would fail alike (login refused, no STARTTLS): leave them pending,
                # use up none of their attempts, and say what to fix.
                log.error("cannot send mail", extra={"error": str(exc)})
                report.errors.append(str(exc))
                report.blocked = str(exc)
                break
            append_sent = getattr(self.app.mailbox, "append_sent", None)
            for r in rows:
                delivery = results.get(r["id"])
                attempts = r["attempts"] + 1
                if delivery is not None and delivery.ok:
                    store.db["outbox"].update(r["id"], {"state": "sent", "sent_at": iso(now),
                                                        "attempts": attempts,
                                                        "last_error": None})
                    report.sent += 1
                    if append_sent is not None and self.app.settings.mailbox.sent_folder:
                        try:
                            append_sent(r["raw"])
                        except Exception as exc:  # noqa: BLE001 - a copy is a courtesy
                            log.warning("could not file a copy in Sent",
                                        extra={"error": str(exc)})
                    continue
                error = delivery.error if delivery else "no result from the sender"
                if (delivery is not None and delivery.permanent) or attempts >= max_attempts:
                    self._delivery_failed(store, r, attempts, error, now)
                    report.failed += 1
                    report.errors.append(error)
                else:
                    backoff = timedelta(minutes=min(60, 2 ** (attempts - 1)))
                    store.db["outbox"].update(r["id"], {"attempts": attempts,
                                                        "last_error": error,
                                                        "next_attempt_at": iso(now + backoff)})
                    report.retrying += 1
                    report.errors.append(error)
        return report

    def _delivery_failed(self, store: Store, row: dict[str, Any], attempts: int, error: str,
                         now: datetime) -> None:
        with store.transaction():
            store.db["outbox"].update(row["id"], {"state": "failed", "attempts": attempts,
                                                  "last_error": error})
            if row["kind"] == "reply" and row["message_row"]:
                esc = mark_reply_failed(store, row["message_row"], f"our reply to "
                                        f"{row['to_addr']} could not be delivered: {error}", now)
                escalation_created(self.app, store, esc, now)
        log.warning("reply undeliverable", extra={"outbox_id": row["id"], "error": error})


def mark_reply_failed(store: Store, message_row: int, detail: str, now: datetime) -> int:
    """A reply that will never arrive: a person must reach the customer another way."""
    msg = store.one("SELECT sender, serials FROM messages WHERE id = ?", [message_row])
    return store.add_escalation(
        {"message_row": message_row, "reason": Reason.REPLY_BOUNCED.value, "detail": detail,
         "sender": msg["sender"] if msg else "", "serials": msg["serials"] if msg else "[]",
         "facts": "{}"},
        BOT, now,
    )


def mark_replies_bounced(store: Store, message_ids: Sequence[str], dsn_message_id: str) -> None:
    """A DSN names these outbox rows: they reached a server and came back, so they count as
    failed, and a row still pending (sent, then a crash before it was marked) is not sent again."""
    if not message_ids:
        return
    marks = ",".join("?" * len(message_ids))
    store.db.execute(
        f"UPDATE outbox SET state = 'bounced', last_error = ? WHERE message_id IN ({marks})",
        [f"bounced: delivery report <{dsn_message_id}>", *message_ids],
    )


REASON_TEXT = {
    Reason.NO_ORDER: "we found no order for your address",
    Reason.UNPAID_ORDER: "the payment has not arrived yet",
    Reason.REFUNDED_ORDER: "the order was refunded",
    Reason.DISPUTED_ORDER: "the payment is disputed",
    Reason.SEATS_EXHAUSTED: "all licenses of your orders are in use",
    Reason.AMBIGUOUS_ORDER: "we could not tell which order it belongs to",
    Reason.SERIAL_LICENSED_ELSEWHERE: "this serial is registered to another customer",
    Reason.SERIAL_REVOKED: "the license of this serial was moved to another PC",
    Reason.TRANSFER_REVIEW: "the transfer needs a person's look",
    Reason.MISTYPED_SERIAL: "the serial number still does not read correctly",
    Reason.TOO_LARGE: "the mail holds more serial numbers than we process automatically",
    Reason.QUESTION: "your question needs a person",
    Reason.NO_SERIAL: "we found no serial number in your mail",
}


def serials_json(inbound: Inbound, decision: Decision) -> list[dict[str, Any]]:
    by_serial = {r.serial: r for r in decision.results}
    items = []
    for f in inbound.serials:
        r = by_serial.get(f.normalized)
        items.append(
            {
                "serial": f.normalized,
                "as_found": f.as_found,
                "status": f.status.value,
                "new": r is not None and r.action in (Action.ISSUE, Action.TRANSFER),
                "action": r.action.value if r else None,
                "reason": r.reason.value if r and r.reason else None,
                "order_id": r.order_id if r else None,
                "old_serial": r.old_serial if r else None,
            }
        )
    return items


def facts_json(facts: Facts) -> dict[str, Any]:
    return {
        "orders": [
            {"order_id": o.order_id, "email": o.email, "seats": o.seats,
             "refunded_seats": o.refunded_seats, "status": o.status.value,
             "usable_seats": o.usable_seats}
            for o in facts.orders
        ],
        "licenses": {
            s: {"license_no": lic.license_no, "customer_email": lic.customer_email,
                "state": lic.state.value, "order_id": lic.order_id}
            for s, lic in facts.licenses.items()
        },
        "active_licenses_on_orders": len(facts.customer_licenses),
        "previous_mistyped": facts.previous_mistyped,
        "replies_last_hour": facts.replies_last_hour,
    }
