"""Telling staff about new escalations without them polling a command.

Config `[staff] notify`:
- "immediate": each escalation puts a notification mail to `[outbox] staff_address` into the
  outbox, in the same transaction that created it (so there is never an escalation nobody was
  told about, nor a notification about one that was rolled back);
- "digest": `send_digest` (a job of `mailbot run`) mails one list of the new escalations. It sends
  once the oldest not-yet-notified escalation has waited `digest_minutes`: every escalation is
  reported within that time, and two digests are never closer than that;
- "off": nothing is mailed (with IMAP the mail still sits in the escalated folder).

`escalations.notified_at` records who was told. Escalations that come from a path without the
hook (for example expired pay-link requests) are caught by the same job in immediate mode too.
Each notification says why the bot stopped and which command resolves it.

With `[staff] reply_by_mail` each escalation also gets a reply address (`reply_address_for`):
the notification's Reply-To, and a line of each digest item, so staff can answer the customer
from their mail client (`reply_by_mail.py` reads the answers; docs/reply-by-mail.md).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from mailbot.core.errors import SetupError
from mailbot.core.reasons import staff_text
from mailbot.core.reply_by_mail import ANSWER_MARKER, make_token, reply_address
from mailbot.services import events
from mailbot.services.context import Deps
from mailbot.services.mailing import queue_mail
from mailbot.services.queue_view import get_escalation
from mailbot.services.suggestions import suggested_commands
from mailbot.store import Store, iso
from mailbot.store.rows import EscalationRow, NewEscalation

log = logging.getLogger("mailbot.notify")
EXCERPT_CHARS = 1500
DIGEST_STATE = "staff_digest_last"
BOT = "mailbot"


def raise_escalation(deps: Deps, store: Store, escalation: NewEscalation, now: datetime) -> int:
    """Open an escalation and tell staff, in the caller's transaction: there is never an
    escalation nobody was told about, nor a notification about one that was rolled back."""
    esc_id = store.add_escalation(escalation, BOT, now)
    events.escalation_created(store, esc_id, now)
    escalation_created(deps, store, esc_id, now)
    return esc_id


def escalation_created(deps: Deps, store: Store, escalation_id: int, now: datetime) -> None:
    """Called inside the transaction that created the escalation."""
    settings = deps.settings
    if settings.staff.notify != "immediate" or not settings.outbox.staff_address:
        return
    try:
        item = _item(deps, store, escalation_id)
        queue_mail(
            deps,
            store,
            to=settings.outbox.staff_address,
            template="staff_notification",
            context={"e": item},
            now=now,
            kind="notification",
            escalation_id=escalation_id,
            reply_to=item["reply_address"],
        )
    except Exception as exc:  # noqa: BLE001 - a notification must never cost the customer's mail
        # Left un-notified: the notification job tries again as a digest.
        log.warning(
            "could not queue the staff notification",
            extra={"escalation": escalation_id, "error": str(exc)},
        )
        return
    store.mark_notified([escalation_id], now)


def send_digest(deps: Deps, now: datetime) -> int:
    """Mail one digest of the open escalations nobody was told about, when one is due.

    Returns how many escalations it listed (0: nothing sent)."""
    staff = deps.settings.staff
    to = deps.settings.outbox.staff_address
    if staff.notify not in ("digest", "immediate") or not to:
        return 0
    # Look first without a write lock: most minutes there is nothing due.
    if not _due(deps.store, staff.notify, staff.digest_minutes, now):
        return 0
    with deps.store.transaction() as store:
        pending = _due(store, staff.notify, staff.digest_minutes, now)
        if not pending:
            return 0
        items = [_item(deps, store, p.id) for p in pending]
        queue_mail(
            deps,
            store,
            to=to,
            template="staff_digest",
            context={
                "items": items,
                "count": len(items),
                "minutes": staff.digest_minutes,
                "now": iso(now),
            },
            now=now,
            kind="digest",
        )
        store.mark_notified([p.id for p in pending], now)
        store.set_state(DIGEST_STATE, iso(now))
    log.info("staff digest queued", extra={"escalations": len(items)})
    return len(items)


def _due(store: Store, mode: str, minutes: int, now: datetime) -> list[EscalationRow]:
    """The escalations a digest would list now, or [] when none is due."""
    pending = store.not_notified()
    if not pending:
        return []
    if mode == "digest" and now < pending[0].created_at + timedelta(minutes=minutes):
        return []
    return pending


def reply_address_for(deps: Deps, escalation_id: int) -> str:
    """The address that answers this escalation by mail ("" when replies by mail are off, or
    the secret cannot be had: the notification then goes out without one)."""
    settings = deps.settings
    if not settings.staff.reply_by_mail:
        return ""
    try:
        secret = deps.reply_secret
    except SetupError as exc:
        log.warning("no reply address in staff mail", extra={"error": str(exc)})
        return ""
    base = settings.staff.reply_address or settings.outbox.from_address
    separator = settings.staff.subaddress_separator
    return reply_address(base, separator, escalation_id, make_token(secret, escalation_id))


def _item(deps: Deps, store: Store, escalation_id: int) -> dict[str, Any]:
    """What a notification shows about one escalation; never license strings."""
    view = get_escalation(deps, store, escalation_id)
    esc, message = view.escalation, view.message
    folder = ""
    if message is not None and message.outcome == "escalated":
        folder = deps.mailbox.escalated_folder()
    excerpt = view.mail.text if view.mail is not None else ""
    if len(excerpt) > EXCERPT_CHARS:
        excerpt = excerpt[:EXCERPT_CHARS].rstrip() + "\n[...]"
    return {
        "id": esc.id,
        "reason": esc.reason,
        "reason_help": staff_text(esc.reason),
        "sender": esc.sender or "(unknown sender)",
        "subject": message.subject if message is not None else "",
        "received_at": iso(message.received_at)
        if message is not None and message.received_at
        else iso(esc.created_at),
        "created_at": iso(esc.created_at),
        "detail": [line for line in esc.detail.splitlines() if line.strip()],
        "serials": esc.serials,
        "suggestions": suggested_commands(view),
        "orders": view.customer.orders,
        "seats": view.customer.seats,
        "excerpt": excerpt,
        "folder": folder,
        "reply_address": reply_address_for(deps, esc.id) if esc.state == "open" else "",
        "answer_marker": ANSWER_MARKER,
    }
