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
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from mailbot.app import App
from mailbot.services.escalations import REASON_HELP, get_escalation
from mailbot.services.mailing import mail_text, queue_mail
from mailbot.store import Store, iso, parse_iso

log = logging.getLogger("mailbot.services.notify")
EXCERPT_CHARS = 1500
DIGEST_STATE = "staff_digest_last"


def escalation_created(app: App, store: Store, escalation_id: int, now: datetime) -> None:
    """Called inside the transaction that created the escalation."""
    if app.settings.staff.notify != "immediate" or not app.settings.outbox.staff_address:
        return
    try:
        item = _item(app, store, escalation_id)
        queue_mail(app, store, to=app.settings.outbox.staff_address,
                   template="staff_notification", context={"e": item}, now=now,
                   kind="notification", escalation_id=escalation_id)
    except Exception as exc:  # noqa: BLE001 - a notification must never cost the customer's mail
        # Left un-notified: the notification job tries again as a digest.
        log.warning("could not queue the staff notification",
                    extra={"escalation": escalation_id, "error": str(exc)})
        return
    store.db["escalations"].update(escalation_id, {"notified_at": iso(now)})


def send_digest(app: App, now: datetime) -> int:
    """Mail one digest of the open escalations nobody was told about, when one is due.

    Returns how many escalations it listed (0: nothing sent)."""
    staff = app.settings.staff
    to = app.settings.outbox.staff_address
    if staff.notify not in ("digest", "immediate") or not to:
        return 0
    # Look first without a write lock: most minutes there is nothing due.
    if not _due(app.store, staff.notify, staff.digest_minutes, now):
        return 0
    with app.store.transaction() as store:
        pending = _due(store, staff.notify, staff.digest_minutes, now)
        if not pending:
            return 0
        items = [_item(app, store, p["id"]) for p in pending]
        queue_mail(app, store, to=to, template="staff_digest",
                   context={"items": items, "count": len(items),
                            "minutes": staff.digest_minutes, "now": iso(now)},
                   now=now, kind="digest")
        marks = ",".join("?" * len(pending))
        store.db.execute(f"UPDATE escalations SET notified_at = ? WHERE id IN ({marks})",
                         [iso(now), *[p["id"] for p in pending]])
        store.set_state(DIGEST_STATE, iso(now))
    log.info("staff digest queued", extra={"escalations": len(items)})
    return len(items)


def _due(store: Store, mode: str, minutes: int, now: datetime) -> list[dict[str, Any]]:
    """The escalations a digest would list now, or [] when none is due."""
    pending = store.query(
        "SELECT id, created_at FROM escalations WHERE state = 'open' AND notified_at IS NULL "
        "ORDER BY created_at, id")
    if not pending:
        return []
    oldest = parse_iso(pending[0]["created_at"]) or now
    if mode == "digest" and now < oldest + timedelta(minutes=minutes):
        return []
    return pending


def _item(app: App, store: Store, escalation_id: int) -> dict[str, Any]:
    """What a notification shows about one escalation; never license strings."""
    esc = get_escalation(store, escalation_id)
    message = esc.get("message") or {}
    mailbox = app.settings.mailbox
    folder = ""
    if mailbox.kind == "imap" and mailbox.move and message.get("outcome") == "escalated":
        folder = mailbox.escalated_folder
    return {
        "id": esc["id"],
        "reason": esc["reason"],
        "reason_help": REASON_HELP.get(esc["reason"], esc["reason"]),
        "sender": esc["sender"] or "(unknown sender)",
        "subject": message.get("subject") or "",
        "received_at": message.get("received_at") or esc["created_at"],
        "created_at": esc["created_at"],
        "detail": [line for line in (esc.get("detail") or "").splitlines() if line.strip()],
        "serials": esc["serials"],
        "suggestions": esc["suggestions"],
        "orders": esc["customer"]["orders"],
        "seats": esc["customer"]["seats"],
        "excerpt": mail_text(message.get("raw"), EXCERPT_CHARS),
        "folder": folder,
    }
