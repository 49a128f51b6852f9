"""The human queue: escalations, what the bot saw, and what people do about them.

An escalation is `open` until a person resolves it (issue, reply, transfer, retry, resolve) or
rejects it; `reopen` makes it open again. Every action is one transaction that checks the state
first, does its work, and adds an audit row naming who did what and when; mail goes through the
outbox like the bot's own. Actions on a closed escalation refuse, saying how to reopen it; only
`note` and `reopen` (and looking) work on closed ones.

These functions are the library behind `mailbot queue ...` and the web console: they raise
QueueError with a plain sentence, never print.
"""

from __future__ import annotations

import getpass
import json
import re
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from mailbot.services import licenses as licensing
from mailbot.app import App
from mailbot.services.licenses import LicenseError
from mailbot.core.model import License, Outcome
from mailbot.services.mailing import Thread, queue_mail, thread_of
from mailbot.store import Store, address_filter, iso, parse_iso

OPEN = "open"
RESOLVED = "resolved"
REJECTED = "rejected"
STATES = (OPEN, RESOLVED, REJECTED)
# Templates whose whole point is license strings: replying with one that carries none would
# send the customer an empty promise.
LICENSE_TEMPLATES = frozenset({"issued", "resent", "transferred"})
FREE_TEXT_TEMPLATE = "staff_reply"
# Templates that are not answers a person picks: staff mail, and the pay link (needs a request).
NOT_FOR_REPLIES = frozenset({"staff_reply", "staff_notification", "staff_digest",
                             "awaiting_payment"})

# What each reason means for the person who has to act, in one line.
REASON_HELP = {
    "no_serial": "no serial number in the mail",
    "mistyped_serial": "a serial with a wrong check symbol, again after we asked once",
    "no_order": "no order for the sender's address (or an order it names)",
    "unpaid_order": "the sender's order is not paid",
    "refunded_order": "the sender's order was refunded",
    "disputed_order": "the payment of the sender's order is disputed",
    "seats_exhausted": "every paid seat of the sender is in use",
    "ambiguous_order": "the mail names an order of another customer, or several customers",
    "serial_licensed_elsewhere": "the serial is licensed to another customer",
    "serial_revoked": "the serial's license was revoked; only staff may license it again",
    "transfer_review": "a transfer beyond the automatic limit, or unclear",
    "sender_unverified": "DMARC/DKIM did not pass: the sender may be forged",
    "unreadable": "the mail could not be read",
    "too_large": "the mail is over the size cap, or holds too many serials",
    "question": "a question for a person (no license request)",
    "reply_bounced": "our reply could not be delivered",
    "payment_expired": "a pay-link request was not paid in time",
    "internal_error": "mailbot failed while deciding (the traceback is kept)",
}


class QueueError(Exception):
    """A queue action that cannot be done; the message says why and what to do instead."""


@dataclass(frozen=True)
class ActionResult:
    """What an action did, for the CLI to print and scripts to read."""

    escalation_id: int
    action: str
    state: str
    summary: str
    outbox_ids: tuple[int, ...] = ()
    license_nos: tuple[int, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "outbox_ids": list(self.outbox_ids),
                "license_nos": list(self.license_nos)}


def default_actor() -> str:
    """Who is acting when `--as` is not given: the operating-system user."""
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user database entry (containers)
        return "staff"


_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhdw]?)\s*$", re.IGNORECASE)
_AGE_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks", "": "hours"}


def parse_age(text: str) -> timedelta:
    """"90m", "2h", "3d", "1w" (a bare number is hours) -> a timedelta."""
    match = _AGE.match(text)
    if not match:
        raise ValueError(f"{text!r} is not an age; write e.g. 30m, 2h, 3d or 1w")
    number, unit = float(match.group(1)), match.group(2).lower()
    try:
        return timedelta(**{_AGE_UNITS[unit]: number})
    except OverflowError:
        raise ValueError(f"{text!r} is longer than any queue has existed") from None


def serial_items(stored: str | None) -> list[dict[str, Any]]:
    """An escalation's serials as the bot recorded them. Older paths (expired pay-link requests)
    store bare serial strings; they become items like the others, so nothing downstream needs
    to care."""
    items = []
    for item in json.loads(stored or "[]"):
        if isinstance(item, str):
            item = {"serial": item, "as_found": item, "status": "ok", "new": False,
                    "action": None, "reason": None, "order_id": None, "old_serial": None}
        items.append(item)
    return items


# -- reading ---------------------------------------------------------------------------------


def list_escalations(store: Store, *, state: str | None = OPEN, reason: str | None = None,
                     sender: str | None = None, older_than: timedelta | None = None,
                     newer_than: timedelta | None = None,
                     now: datetime | None = None) -> list[dict[str, Any]]:
    """Escalations matching all filters, oldest first (who waited longest is served first)."""
    where, params = ["1 = 1"], []
    if state:
        where.append("e.state = ?")
        params.append(state)
    if reason:
        where.append("e.reason = ?")
        params.append(reason)
    if sender:
        condition, value = address_filter("e.sender", sender)
        where.append(condition)
        params.append(value)
    if older_than is not None or newer_than is not None:
        if now is None:
            raise ValueError("age filters need `now`")
        if older_than is not None:
            where.append("e.created_at <= ?")
            params.append(_ago(now, older_than))
        if newer_than is not None:
            where.append("e.created_at >= ?")
            params.append(_ago(now, newer_than))
    rows = store.query(
        "SELECT e.id, e.reason, e.state, e.sender, e.claimed_by, e.created_at, e.updated_at, "
        "e.serials, e.detail, m.message_id, m.subject, e.message_row "
        "FROM escalations e LEFT JOIN messages m ON m.id = e.message_row "
        f"WHERE {' AND '.join(where)} ORDER BY e.created_at, e.id",
        params,
    )
    for r in rows:
        r["serials"] = serial_items(r["serials"])
    return rows


def _ago(now: datetime, age: timedelta) -> str:
    try:
        return iso(now - age)
    except OverflowError:  # before year 1: older than anything stored
        return ""


def get_escalation(store: Store, escalation_id: int) -> dict[str, Any]:
    """Everything a person needs to decide: the mail, why the bot stopped, the serials with their
    check results and licenses, the sender's orders, seats, licenses and earlier mails, the
    history of this escalation, and the commands that would resolve it."""
    row = store.one("SELECT * FROM escalations WHERE id = ?", [escalation_id])
    if row is None:
        raise QueueError(f"no escalation #{escalation_id}; `mailbot queue list --all` lists them")
    row["serials"] = serial_items(row["serials"])
    row["facts"] = json.loads(row["facts"] or "{}")
    row["message"] = store.one(
        "SELECT id, mailbox_key, message_id, sender, subject, received_at, processed_at, "
        "outcome, reason, explanation, raw, size, error FROM messages WHERE id = ?",
        [row["message_row"]],
    )
    if row["message"]:
        row["message"]["explanation"] = json.loads(row["message"]["explanation"] or "[]")
    row["audit"] = store.query(
        "SELECT at, actor, action, detail FROM audit WHERE escalation_id = ? ORDER BY id",
        [escalation_id],
    )
    serial_names = [s["serial"] for s in row["serials"] if s.get("serial")]
    serial_names += [s["old_serial"] for s in row["serials"] if s.get("old_serial")]
    row["serial_licenses"] = _licenses_of_serials(store, serial_names)
    row["customer"] = customer_overview(store, row["sender"], exclude_message=row["message_row"])
    row["suggestions"] = suggested_commands(row)
    return row


def _licenses_of_serials(store: Store, names: Iterable[str]) -> list[dict[str, Any]]:
    names = list(dict.fromkeys(names))
    if not names:
        return []
    marks = ",".join("?" * len(names))
    return store.query(
        "SELECT license_no, serial, customer_email, order_id, state, issued_at, revoked_at, "
        f"revoked_reason FROM licenses WHERE serial IN ({marks}) ORDER BY license_no", names)


def customer_overview(store: Store, email: str, exclude_message: int | None = None,
                      ) -> dict[str, Any]:
    """One customer on one screen: orders with seats, licenses, mails, escalations, pay links."""
    email = (email or "").strip().lower()
    if not email:
        return {"email": "", "orders": [], "seats": _seats([]), "licenses": [], "messages": [],
                "escalations": [], "pending_payments": []}
    orders = _order_rows(store, email)
    licenses = store.query(
        "SELECT license_no, serial, order_id, state, issued_at, revoked_at, revoked_reason, "
        "replaced_by, granted_by, grant_reason FROM licenses WHERE customer_email = ? "
        "ORDER BY license_no", [email])
    messages = store.query(
        "SELECT id, received_at, subject, outcome, reason, serials FROM messages "
        "WHERE sender = ? AND id IS NOT ? ORDER BY id", [email, exclude_message])
    for m in messages:
        m["serials"] = [s["serial"] for s in json.loads(m["serials"] or "[]")]
    escalations = store.query(
        "SELECT id, reason, state, created_at, claimed_by FROM escalations WHERE sender = ? "
        "ORDER BY id", [email])
    pending = store.query(
        "SELECT id, created_at, expires_at, state, serials, order_id FROM pending_payments "
        "WHERE sender = ? ORDER BY created_at", [email])
    for p in pending:
        p["serials"] = json.loads(p["serials"] or "[]")
    return {"email": email, "orders": orders, "seats": _seats(orders), "licenses": licenses,
            "messages": messages, "escalations": escalations, "pending_payments": pending}


def _order_rows(store: Store, email: str) -> list[dict[str, Any]]:
    """The customer's orders with seats used and free (the same fields as `mailbot orders list`),
    counting only this customer's licenses: it runs inside the worker's transaction when a
    notification is written, so it must not scan every license."""
    orders = store.orders_for_email(email)
    used: dict[str, int] = {}
    for lic in store.active_licenses_for_orders(o.order_id for o in orders):
        if lic.order_id:
            used[lic.order_id] = used.get(lic.order_id, 0) + 1
    return [
        {"order_id": o.order_id, "email": o.email, "name": o.name, "status": o.status.value,
         "seats": o.seats, "refunded_seats": o.refunded_seats, "used": used.get(o.order_id, 0),
         "free": o.usable_seats - used.get(o.order_id, 0), "source": o.source,
         "created": iso(o.created), "currency": o.currency, "amount_total": o.amount_total}
        for o in orders
    ]


def _seats(orders: Sequence[dict[str, Any]]) -> dict[str, int]:
    paid = [o for o in orders if o["status"] == "paid"]
    usable = sum(max(0, o["seats"] - o["refunded_seats"]) for o in paid)
    used = sum(o["used"] for o in orders)
    return {"bought": sum(o["seats"] for o in orders), "usable": usable, "in_use": used,
            "free": usable - used}


def suggested_commands(esc: dict[str, Any]) -> list[str]:
    """The one-line commands that would most likely resolve this escalation, best first."""
    n = esc["id"]
    if esc["state"] != OPEN:
        return [f"mailbot queue reopen {n}"]
    reason = esc["reason"]
    customer = esc.get("customer") or {}
    free_orders = [o for o in customer.get("orders", []) if o["status"] == "paid"
                   and o["free"] > 0]
    items = esc.get("serials") or []
    commands: list[str] = []
    if reason in ("refunded_order", "disputed_order") and not esc.get("message_row"):
        # A finance flag from the order sync: licenses outlived their payment.
        for item in items[:3]:
            if item.get("license_no"):
                commands.append(f'mailbot licenses revoke {item["license_no"]} --reason "refund"')
        commands.append(f'mailbot queue resolve {n} --note "licenses may stay"')
    elif reason in ("refunded_order", "disputed_order"):
        commands.append(f'mailbot queue reject {n} --reason "reason"')
        commands.append(f"mailbot queue reply {n} --text-file answer.txt")
        commands.append(f'mailbot queue issue {n} --grant "reason"')
    elif reason in ("no_order", "unpaid_order", "seats_exhausted", "ambiguous_order",
                    "payment_expired", "serial_revoked", "sender_unverified"):
        if free_orders and reason not in ("sender_unverified", "ambiguous_order"):
            commands.append(f"mailbot queue retry {n}")
        for o in free_orders[:2]:
            commands.append(f"mailbot queue issue {n} --order {o['order_id']}")
        if not free_orders and reason in ("no_order", "unpaid_order", "seats_exhausted"):
            commands.append(f"mailbot queue reply {n} --text-file answer.txt")
            commands.append(f"mailbot queue retry {n}  # once the order is in")
        commands.append(f'mailbot queue issue {n} --grant "reason"')
        commands.append(f'mailbot queue reject {n} --reason "reason"')
    elif reason == "transfer_review":
        commands.append(f'mailbot queue transfer {n} --reason "reason"')
        commands.append(f'mailbot queue reject {n} --reason "reason"')
    elif reason == "serial_licensed_elsewhere":
        for lic in esc.get("serial_licenses", []):
            if lic["state"] == "active":
                commands.append(f"mailbot licenses show {lic['license_no']}")
        commands.append(f'mailbot queue reject {n} --reason "reason"')
    elif reason in ("mistyped_serial",):
        if free_orders:
            commands.append(f"mailbot queue issue {n} --order {free_orders[0]['order_id']} "
                            "--serial CORRECTED-SERIAL")
        commands.append(f"mailbot queue reply {n} --template clarify")
    elif reason == "internal_error":
        commands.append(f"mailbot queue retry {n}")
        commands.append(f"mailbot queue reply {n} --text-file answer.txt")
    elif reason == "reply_bounced":
        commands.append(f'mailbot queue resolve {n} --note "reached the customer by phone"')
        if esc.get("sender"):
            commands.append(f"mailbot customer {esc['sender']}")
    else:  # no_serial, question, unreadable, too_large, and reasons added later
        commands.append(f"mailbot queue reply {n} --text-file answer.txt")
        commands.append(f'mailbot queue resolve {n} --note "nothing to do"')
    if reason == "question" and free_orders and any(
            item.get("status") == "ok" for item in items):
        commands.insert(1, f"mailbot queue issue {n} --order {free_orders[0]['order_id']}")
    return list(dict.fromkeys(commands))


# -- state -----------------------------------------------------------------------------------


def _escalation(store: Store, escalation_id: int) -> dict[str, Any]:
    row = store.one("SELECT * FROM escalations WHERE id = ?", [escalation_id])
    if row is None:
        raise QueueError(f"no escalation #{escalation_id}; `mailbot queue list --all` lists them")
    return row


def _require_open(store: Store, escalation_id: int) -> dict[str, Any]:
    row = _escalation(store, escalation_id)
    if row["state"] != OPEN:
        raise QueueError(f"escalation #{escalation_id} is {row['state']}; "
                         f"`mailbot queue reopen {escalation_id}` first")
    return row


def _set_state(store: Store, escalation_id: int, state: str, now: datetime) -> None:
    store.db["escalations"].update(escalation_id, {"state": state, "updated_at": iso(now)})


def _touch(store: Store, escalation_id: int, now: datetime) -> None:
    store.db["escalations"].update(escalation_id, {"updated_at": iso(now)})


def _thread(store: Store, esc: dict[str, Any]) -> Thread:
    msg = store.one("SELECT message_id, subject, sender, raw FROM messages WHERE id = ?",
                    [esc["message_row"]]) or {}
    return thread_of(msg.get("raw"), msg.get("message_id") or "", msg.get("subject") or "",
                     msg.get("sender") or esc.get("sender") or "")


def _outbox_after(store: Store, last_id: int) -> tuple[int, ...]:
    return tuple(r["id"] for r in store.query("SELECT id FROM outbox WHERE id > ? ORDER BY id",
                                              [last_id]))


def _last_outbox(store: Store) -> int:
    row = store.one("SELECT coalesce(max(id), 0) AS n FROM outbox")
    return int(row["n"]) if row else 0


# -- actions ---------------------------------------------------------------------------------


def claim(store: Store, escalation_id: int, actor: str, now: datetime, *, force: bool = False,
          release: bool = False) -> ActionResult:
    """Take an escalation (so colleagues see it is being handled), or give it back."""
    with store.transaction():
        esc = _require_open(store, escalation_id)
        holder = esc["claimed_by"]
        if release:
            if not holder:
                raise QueueError(f"escalation #{escalation_id} is not claimed")
            store.db["escalations"].update(escalation_id, {"claimed_by": None,
                                                           "updated_at": iso(now)})
            store.add_audit(escalation_id, actor, "released", f"was claimed by {holder}", now)
            return ActionResult(escalation_id, "release", OPEN, f"#{escalation_id} released")
        if holder == actor:
            raise QueueError(f"you already claimed #{escalation_id}")
        if holder and not force:
            raise QueueError(f"escalation #{escalation_id} is claimed by {holder}; add --force "
                             "to take it over")
        store.db["escalations"].update(escalation_id, {"claimed_by": actor,
                                                       "updated_at": iso(now)})
        detail = f"taken over from {holder}" if holder else "claimed"
        store.add_audit(escalation_id, actor, "claimed", detail, now)
    return ActionResult(escalation_id, "claim", OPEN, f"#{escalation_id} claimed by {actor}")


def note(store: Store, escalation_id: int, actor: str, now: datetime, text: str) -> ActionResult:
    """Add a note to the history (open or closed escalations)."""
    if not text.strip():
        raise QueueError("the note is empty")
    with store.transaction():
        esc = _escalation(store, escalation_id)
        store.add_audit(escalation_id, actor, "note", text.strip(), now)
        _touch(store, escalation_id, now)
    return ActionResult(escalation_id, "note", esc["state"], f"note added to #{escalation_id}")


def reject(store: Store, escalation_id: int, actor: str, now: datetime,
           reason: str) -> ActionResult:
    """Close without issuing: the request is refused (no mail is sent; reply first if needed)."""
    if not reason.strip():
        raise QueueError("say why (--reason); colleagues and finance read it later")
    with store.transaction():
        _require_open(store, escalation_id)
        _set_state(store, escalation_id, REJECTED, now)
        store.add_audit(escalation_id, actor, "rejected", reason.strip(), now)
    return ActionResult(escalation_id, "reject", REJECTED, f"#{escalation_id} rejected")


def resolve(store: Store, escalation_id: int, actor: str, now: datetime,
            note_text: str = "") -> ActionResult:
    """Close as done when it was handled outside mailbot (by phone, by a colleague's mail)."""
    with store.transaction():
        _require_open(store, escalation_id)
        _set_state(store, escalation_id, RESOLVED, now)
        store.add_audit(escalation_id, actor, "resolved", note_text.strip() or "resolved", now)
    return ActionResult(escalation_id, "resolve", RESOLVED, f"#{escalation_id} resolved")


def reopen(store: Store, escalation_id: int, actor: str, now: datetime,
           reason: str = "") -> ActionResult:
    with store.transaction():
        esc = _escalation(store, escalation_id)
        if esc["state"] == OPEN:
            raise QueueError(f"escalation #{escalation_id} is already open")
        _set_state(store, escalation_id, OPEN, now)
        store.add_audit(escalation_id, actor, "reopened",
                        f"was {esc['state']}" + (f": {reason.strip()}" if reason.strip() else ""),
                        now)
    return ActionResult(escalation_id, "reopen", OPEN, f"#{escalation_id} is open again")


def _serials_to_license(store: Store, esc: dict[str, Any], given: Sequence[str],
                        product_code: str) -> list[str]:
    if given:
        try:
            return list(dict.fromkeys(licensing.normalize_serial(s, product_code)
                                      for s in given))
        except LicenseError as exc:
            raise QueueError(str(exc)) from None
    items = serial_items(esc["serials"])
    chosen = []
    for item in items:
        if item.get("status") != "ok" or item.get("action") in ("issue", "resend", "transfer"):
            continue
        active = store.one("SELECT license_no FROM licenses WHERE serial = ? AND "
                           "state = 'active'", [item["serial"]])
        if active is None:
            chosen.append(item["serial"])
    if not chosen:
        bad = [i["as_found"] for i in items if i.get("status") != "ok"]
        hint = (f" (it saw {', '.join(repr(b) for b in bad)}, which do not read as valid)"
                if bad else "")
        raise QueueError(f"escalation #{esc['id']} has no serial left to license{hint}; "
                         "name it with --serial")
    return list(dict.fromkeys(chosen))


def issue(app: App, escalation_id: int, actor: str, now: datetime, *,
          order_id: str | None = None, grant_reason: str | None = None,
          serials: Sequence[str] = (), email: str = "", force: bool = False) -> ActionResult:
    """License the escalation's serials (or `serials`) against ORDER_ID, or as a manual grant,
    mail them, and resolve. The mail goes to the order's email; a grant to the sender (or
    `email`)."""
    if bool(order_id) == bool(grant_reason and grant_reason.strip()):
        raise QueueError('say either --order ORDER or --grant "reason" (a license without an '
                         'order)')
    licensing.refresh_orders(app)
    store = app.store
    try:
        with store.transaction():
            esc = _require_open(store, escalation_id)
            targets = _serials_to_license(store, esc, serials, app.settings.product.code)
            before = _last_outbox(store)
            issued: list[License] = []
            for serial in targets:
                issued.append(licensing.issue(
                    app, store, serial=serial, actor=actor, now=now, order_id=order_id,
                    grant_reason=grant_reason, email=email or esc["sender"] or "",
                    message_row=esc["message_row"], force=force, escalation_id=escalation_id))
            thread = _thread(store, esc)
            to = licensing.recipient_of(store, issued[0])
            licensing.mail_licenses(app, store, licenses=[(lic, "issue", "") for lic in issued],
                                    to=to, template="issued", now=now, thread=thread,
                                    message_row=esc["message_row"], escalation_id=escalation_id)
            numbers = ", ".join(f"#{lic.license_no} {lic.serial}" for lic in issued)
            if order_id:
                where = f"against order {order_id}, mailed to the order's email {to}"
                if esc["sender"] and to != esc["sender"]:
                    where += f" (not to the sender {esc['sender']})"
            else:
                where = f"as a manual grant ({grant_reason}), mailed to {to}"
            _set_state(store, escalation_id, RESOLVED, now)
            store.add_audit(escalation_id, actor, "issued", f"{numbers} {where}", now)
            outbox = _outbox_after(store, before)
    except LicenseError as exc:
        raise QueueError(str(exc)) from None
    except sqlite3.IntegrityError:
        raise QueueError("one of the serials already has an active license") from None
    return ActionResult(escalation_id, "issue", RESOLVED,
                        f"#{escalation_id} resolved: license {numbers} {where}",
                        outbox, tuple(lic.license_no for lic in issued))


def transfer(app: App, escalation_id: int, actor: str, now: datetime, *,
             old_serial: str = "", new_serial: str = "", reason: str = "") -> ActionResult:
    """Carry out a transfer the bot held back (beyond the automatic limit or unclear): revoke
    the old serial's license, license the new serial on the same seat, mail it, resolve."""
    store = app.store
    with store.transaction():
        esc = _require_open(store, escalation_id)
        if not (old_serial and new_serial):
            items = [i for i in serial_items(esc["serials"]) if i.get("old_serial")]
            if len(items) != 1:
                raise QueueError(f"escalation #{escalation_id} does not name one transfer; "
                                 "give --old SERIAL and --new SERIAL")
            old_serial = old_serial or items[0]["old_serial"]
            new_serial = new_serial or items[0]["serial"]
        before = _last_outbox(store)
        try:
            old, new, sent = licensing.transfer(
                app, old_serial, new_serial, actor, now, reason=reason, thread=_thread(store, esc),
                message_row=esc["message_row"], escalation_id=escalation_id)
        except LicenseError as exc:
            raise QueueError(str(exc)) from None
        to = sent.to if sent else ""
        summary = (f"license #{old.license_no} {old.serial} moved to {new.serial} "
                   f"(#{new.license_no}), mailed to {to}")
        _set_state(store, escalation_id, RESOLVED, now)
        store.add_audit(escalation_id, actor, "transferred",
                        summary + (f": {reason}" if reason else ""), now)
        outbox = _outbox_after(store, before)
    return ActionResult(escalation_id, "transfer", RESOLVED, f"#{escalation_id} resolved: "
                        f"{summary}", outbox, (new.license_no,))


def reply(app: App, escalation_id: int, actor: str, now: datetime, *,
          template: str | None = None, text: str | None = None,
          keep_open: bool = False) -> ActionResult:
    """Answer the sender with a named template or free text; resolves unless `keep_open`.

    Templates that carry license strings only ever carry licenses that belong to the address
    the reply goes to."""
    if bool(template) == bool(text and text.strip()):
        raise QueueError("say either --template NAME or --text-file FILE")
    renderer = app.renderer
    if template == "awaiting_payment":
        raise QueueError("awaiting_payment needs a pay link from a pending request; "
                         f"`mailbot queue retry {escalation_id}` sends one when orders have a "
                         "payment_link")
    if template and (template.startswith("_") or template in NOT_FOR_REPLIES
                     or not renderer.has(template)):
        raise QueueError(f"no reply template {template!r}; available: "
                         f"{', '.join(reply_templates(app))}")
    store = app.store
    with store.transaction():
        esc = _require_open(store, escalation_id)
        thread = _thread(store, esc)
        to = thread.reply_address
        if not to:
            raise QueueError(f"escalation #{escalation_id} has no sender address to reply to")
        # A written answer carries exactly what the person wrote; license strings travel only
        # with the templates made for them.
        results = _reply_results(store, esc, to) if template else []
        if template in LICENSE_TEMPLATES and not any(r["license_string"] for r in results):
            raise QueueError(
                f"template {template} carries license strings, but {to} holds no active "
                f"license for the serials of #{escalation_id}; issue one first "
                f"(`mailbot queue issue {escalation_id} --order ORDER`)")
        names = [o.name for o in store.orders_for_email(to) if o.name]
        context = {
            "customer_name": names[0] if names else thread.sender_name,
            "results": results,
            "licensed": any(r["license_string"] for r in results),
            "outcome": template or "reply",
            "original_subject": thread.subject,
            "text": (text or "").strip(),
            "staff_name": actor,
        }
        outbox_id = queue_mail(app, store, to=to, template=template or FREE_TEXT_TEMPLATE,
                               context=context, now=now, kind="reply", thread=thread,
                               message_row=esc["message_row"], escalation_id=escalation_id,
                               automatic=bool(template))
        what = (f"template {template}" if template else
                f"a written answer ({len(text or '')} characters)")
        state = OPEN if keep_open else RESOLVED
        if not keep_open:
            _set_state(store, escalation_id, RESOLVED, now)
        else:
            _touch(store, escalation_id, now)
        store.add_audit(escalation_id, actor, "replied", f"{what} to {to}"
                        + ("" if keep_open else "; resolved"), now)
    return ActionResult(escalation_id, "reply", state,
                        f"reply to {to} queued ({what})"
                        + ("" if keep_open else f"; #{escalation_id} resolved"), (outbox_id,))


def reply_templates(app: App) -> list[str]:
    """Templates a person may reply with."""
    return [n for n in app.renderer.names() if n not in NOT_FOR_REPLIES]


def _reply_results(store: Store, esc: dict[str, Any], to: str) -> list[dict[str, Any]]:
    items = serial_items(esc["serials"])
    results = []
    for item in items:
        base = {"serial": item["serial"], "as_found": item["as_found"], "reason": None,
                "reason_text": "", "old_serial": item.get("old_serial"), "license_string": "",
                "pay_url": ""}
        if item.get("status") != "ok":
            results.append({**base, "action": "clarify"})
            continue
        lic = store.one("SELECT license_string, customer_email, license_no FROM licenses "
                        "WHERE serial = ? AND state = 'active'", [item["serial"]])
        if lic and lic["customer_email"] == to:
            results.append({**base, "action": "resend", "license_string": lic["license_string"],
                            "license_no": lic["license_no"]})
    return results


def retry(app: App, escalation_id: int, actor: str, now: datetime) -> ActionResult:
    """Decide again on the stored mail, with today's facts (an order arrived, a sync caught up).
    A decision a person need not take is carried out and the escalation resolved; otherwise it
    stays open with the new explanation."""
    from mailbot.services.worker import Worker

    store = app.store
    esc = _require_open(store, escalation_id)
    msg = store.one("SELECT id, raw FROM messages WHERE id = ?", [esc["message_row"]])
    if msg is None or not msg["raw"]:
        raise QueueError(f"the mail of #{escalation_id} was not stored (too large or lost); "
                         "decide by hand (`mailbot queue issue` or `reply`)")
    worker = Worker(app)
    licensing.refresh_orders(app)
    try:
        return _retry(app, store, worker, escalation_id, msg, actor, now)
    except QueueError:
        raise
    except Exception as exc:  # noqa: BLE001 - the mail that broke the bot may break it again
        last = f"{type(exc).__name__}: {exc}"
        with store.transaction():
            store.add_audit(escalation_id, actor, "retried", f"failed again: {last}", now)
        raise QueueError(f"deciding #{escalation_id} failed again ({last}); reply or issue by "
                         "hand") from None


def _retry(app: App, store: Store, worker: Any, escalation_id: int, msg: dict[str, Any],
           actor: str, now: datetime) -> ActionResult:
    from mailbot.core.classify import classify
    from mailbot.core.decide import decide
    from mailbot.mail.parse import parse_message
    from mailbot.services.worker import facts_json, gather, serials_json

    settings = app.settings
    inbound = parse_message(msg["raw"], product_code=settings.product.code,
                            authserv_id=settings.security.authserv_id,
                            max_serials=settings.policy.max_serials_per_mail)
    cls = classify(inbound, app.policy)
    with store.transaction():
        esc = _require_open(store, escalation_id)
        facts = gather(store, inbound, cls, app, now)
        decision = decide(inbound, cls, facts, app.policy)
        why = "; ".join(decision.explanation)
        if decision.outcome in (Outcome.ESCALATED, Outcome.IGNORED):
            what = decision.reason.value if decision.reason else decision.outcome.value
            store.db["escalations"].update(escalation_id, {
                "reason": decision.reason.value if decision.escalates and decision.reason
                else esc["reason"],
                "detail": "\n".join(decision.explanation),
                "serials": json.dumps(serials_json(inbound, decision)),
                "facts": json.dumps(facts_json(facts)),
                "updated_at": iso(now),
            })
            store.add_audit(escalation_id, actor, "retried",
                            f"still {decision.outcome.value} ({what}): {why}", now)
            return ActionResult(escalation_id, "retry", OPEN,
                                f"#{escalation_id} still needs a person: "
                                f"{decision.outcome.value} ({what}). {why}")
        before = _last_outbox(store)
        last_license = store.next_license_no()
        worker.apply(store, msg["id"], inbound, decision, facts, now)
        store.update_message(msg["id"], outcome=decision.outcome.value,
                             reason=decision.reason.value if decision.reason else None,
                             serials=json.dumps(serials_json(inbound, decision)),
                             explanation=json.dumps(list(decision.explanation)
                                                    + list(inbound.problems)))
        _set_state(store, escalation_id, RESOLVED, now)
        store.add_audit(escalation_id, actor, "retried",
                        f"now {decision.outcome.value}: {why}", now)
        outbox = _outbox_after(store, before)
        licenses = tuple(r["license_no"] for r in store.query(
            "SELECT license_no FROM licenses WHERE license_no >= ?", [last_license]))
    return ActionResult(escalation_id, "retry", RESOLVED,
                        f"#{escalation_id} resolved: now {decision.outcome.value}", outbox,
                        licenses)


def age_of(row: dict[str, Any], now: datetime) -> timedelta:
    created = parse_iso(row.get("created_at"))
    return now - created if created else timedelta(0)


def format_age(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{max(minutes, 0)}m"
    hours = minutes // 60
    if hours < 48:
        return f"{hours}h{minutes % 60:02d}m" if hours < 10 else f"{hours}h"
    return f"{hours // 24}d"

