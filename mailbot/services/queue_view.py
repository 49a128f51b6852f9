"""Reading the human queue: escalations to list, and everything a person needs to decide one.

The library behind `mailbot queue list/show`, notifications and the web console: it returns
data, never formats it (ages, suggested commands and tables belong to the entry points).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from mailbot.services.context import Deps
from mailbot.services.customers import CustomerView, customer_overview
from mailbot.services.expiry import DatedLicense, dated_all
from mailbot.services.mailing import StoredMail, stored_mail
from mailbot.store import Store
from mailbot.store.rows import AuditEntry, EscalationRow, MessageRow

OPEN = "open"
RESOLVED = "resolved"
REJECTED = "rejected"
STATES = (OPEN, RESOLVED, REJECTED)


class QueueError(Exception):
    """A queue action that cannot be done; the message says why and what to do instead."""


@dataclass(frozen=True)
class EscalationView:
    """One escalation with what the bot saw and what happened since."""

    escalation: EscalationRow
    message: MessageRow | None
    mail: StoredMail | None  # None when no mail was stored (too large, a finance flag)
    audit: list[AuditEntry]
    serial_licenses: list[DatedLicense]  # every license the mail's serials have had
    customer: CustomerView

    @property
    def id(self) -> int:
        return self.escalation.id


def list_escalations(
    store: Store,
    *,
    state: str | None = OPEN,
    reason: str | None = None,
    sender: str | None = None,
    older_than: timedelta | None = None,
    newer_than: timedelta | None = None,
    now: datetime | None = None,
) -> list[EscalationRow]:
    """Escalations matching all filters, oldest first (who waited longest is served first)."""
    if (older_than is not None or newer_than is not None) and now is None:
        raise ValueError("age filters need `now`")
    before = _ago(now, older_than) if older_than is not None and now is not None else None
    after = _ago(now, newer_than) if newer_than is not None and now is not None else None
    if older_than is not None and before is None:
        return []  # older than anything that could be stored
    return store.escalations(
        state=state, reason=reason, sender=sender, created_before=before, created_after=after
    )


def _ago(now: datetime, age: timedelta) -> datetime | None:
    try:
        return now - age
    except OverflowError:  # before year 1
        return None


def require(store: Store, escalation_id: int) -> EscalationRow:
    esc = store.escalation(escalation_id)
    if esc is None:
        raise QueueError(f"no escalation #{escalation_id}; `mailbot queue list --all` lists them")
    return esc


def get_escalation(deps: Deps, store: Store, escalation_id: int) -> EscalationView:
    """Everything a person needs to decide: the mail, why the bot stopped, the serials with
    their check results and licenses, the sender's orders, seats, licenses and earlier mails,
    and the history of this escalation."""
    esc = require(store, escalation_id)
    message = store.message(esc.message_row) if esc.message_row is not None else None
    mail = stored_mail(deps, store, message) if message is not None else None
    names = [s.serial for s in esc.serials if s.serial]
    names += [s.old_serial for s in esc.serials if s.old_serial]
    today = deps.clock.now().date()
    return EscalationView(
        escalation=esc,
        message=message,
        mail=mail,
        audit=store.audit_of(escalation_id),
        serial_licenses=dated_all(store.licenses_of_serials(names), today),
        customer=customer_overview(store, esc.sender, today=today, exclude_message=esc.message_row),
    )
