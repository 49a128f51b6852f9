"""Staff answering a notification from their mail client (docs/reply-by-mail.md).

A notification about escalation 12 has `Reply-To: support+esc-12-<token>@...` (notify.py). The
worker hands every mail to such an address here, before the normal decision, unless a robot
sent it: auto-replies, bounces, loops and our own mail keep their `ignored` from `classify`, so
an out-of-office answering a notification is never sent on.

    mail to a reply address
      ├ the token verifies for #12 (constant time)             ┐ any no: `escalated`,
      ├ From is a staff account (`store.staff_by_email`)       │ `staff_reply_refused`: nothing
      ├ with [security] authserv_id: DMARC passes for From     │ is sent to anyone, staff are
      ├ #12 exists and is open                                 │ told; a refusal about a
      └ an answer is left (quotes, signature, keyword taken off)┘ refusal is `ignored` (loop)
      -> first line `resolve` or none: the answer goes to #12's customer like `queue reply`
         (outbox, threading, template staff_reply), resolving #12 or keeping it open
         first line `note`: an internal note of #12, nothing is sent

The mail's row, the outbox row, the audit line (by the staff member's name) and the escalation's
change are written in the mail's transaction, like every other outcome of the worker.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from mailbot.core.authenticate import sender_verdict
from mailbot.core.classification import Classification, Kind
from mailbot.core.errors import SetupError
from mailbot.core.model import Fetched, Inbound, Outcome, Reason
from mailbot.core.reply_by_mail import NOTE, RESOLVE, ReplyTag, find_reply_tag, read_answer
from mailbot.core.reply_by_mail import token_matches as token_ok
from mailbot.services.context import Deps
from mailbot.services.escalation_reply import reply
from mailbot.services.escalations import note
from mailbot.services.mailing import record_mail
from mailbot.services.notify import raise_escalation
from mailbot.services.queue_view import OPEN, QueueError
from mailbot.store import Store
from mailbot.store.rows import EscalationRow, NewEscalation, StaffRow

log = logging.getLogger("mailbot.reply_by_mail")


@dataclass(frozen=True)
class Taken:
    """What became of a mail to a reply address."""

    row: int  # the mail's row
    outcome: Outcome  # staff_reply, escalated (staff_reply_refused) or ignored (loop)
    reason: Reason | None
    escalation_id: int | None  # the one answered, or the refusal's own


def reply_tag(deps: Deps, inbound: Inbound, cls: Classification) -> ReplyTag | None:
    """The reply address this mail was sent to, unless a robot sent it."""
    if cls.kind is Kind.IGNORE:
        return None
    staff = deps.settings.staff
    base = staff.reply_address or deps.settings.outbox.from_address
    return find_reply_tag(inbound.recipients or inbound.to, base, staff.subaddress_separator)


def take_staff_reply(
    deps: Deps, store: Store, fetched: Fetched, inbound: Inbound, tag: ReplyTag, now: datetime
) -> Taken:
    """Carry out a staff member's answer, or refuse it; in the caller's transaction."""
    esc = store.escalation(tag.escalation_id) if tag.escalation_id else None
    refusal, member = _refusal(deps, store, inbound, tag, esc)
    if refusal is None and esc is not None and member is not None:
        try:
            with store.transaction():  # a savepoint: the answer whole, or the refusal
                return _carry_out(deps, store, fetched, inbound, esc, member, now)
        except QueueError as exc:
            refusal = str(exc)
    return _refuse(deps, store, fetched, inbound, tag, esc, refusal or "not sent on", now)


def _refusal(
    deps: Deps, store: Store, inbound: Inbound, tag: ReplyTag, esc: EscalationRow | None
) -> tuple[str | None, StaffRow | None]:
    """Why this answer must not go out (None: it may), and the staff member who wrote it."""
    settings = deps.settings
    number = f"#{tag.escalation_id}" if tag.escalation_id else "an escalation"
    if not settings.staff.reply_by_mail:
        return "answers by mail are off ([staff] reply_by_mail = false)", None
    try:
        secret = deps.reply_secret
    except SetupError as exc:
        return f"the reply secret cannot be read, so no token can be checked: {exc}", None
    if not tag.escalation_id or not token_ok(secret, tag.escalation_id, tag.token):
        return (
            f"the reply address carries no valid token for {number} (forged, cut short, or "
            "made before the reply secret was replaced)"
        ), None
    if esc is None:
        return f"there is no escalation {number}", None
    member = store.staff_by_email(inbound.sender)
    if member is None:
        return (
            f"{inbound.sender or 'the sender'} is no staff account's address: only answers "
            "from the address of a staff account are sent on (`mailbot staff add`)"
        ), None
    authserv_id = settings.security.authserv_id
    if authserv_id:
        why = sender_verdict(inbound, True, authserv_id)
        if why is not None:
            return f"the staff sender is not verified: {why}", None
    if esc.state != OPEN:
        return (
            f"escalation {number} is {esc.state}: answers by mail go out only while it is "
            f"open (`mailbot queue reopen {esc.id}`, then `mailbot queue reply {esc.id}`)"
        ), None
    answer = read_answer(inbound.text)
    if not answer.text:
        return (
            "the answer is empty once the quoted notification, the signature and the keyword "
            "line are taken off: nothing to " + ("note" if answer.keyword == NOTE else "send")
        ), None
    return None, member


def _carry_out(
    deps: Deps,
    store: Store,
    fetched: Fetched,
    inbound: Inbound,
    esc: EscalationRow,
    member: StaffRow,
    now: datetime,
) -> Taken:
    answer = read_answer(inbound.text)
    if answer.keyword == NOTE:
        what = f"noted on #{esc.id} by {member.name}; nothing was sent"
    elif answer.keyword == RESOLVE:
        what = f"sent to the customer of #{esc.id} by {member.name}, who resolved it"
    else:
        what = f"sent to the customer of #{esc.id} by {member.name}; #{esc.id} stays open"
    row = _record(deps, store, fetched, inbound, now, Outcome.STAFF_REPLY, None, what)
    how = f"by mail (mail #{row})"
    if answer.keyword == NOTE:
        note(store, esc.id, member.name, now, f"{answer.text}\n\n({how})")
    else:
        reply(
            deps,
            esc.id,
            member.name,
            now,
            text=answer.text,
            keep_open=answer.keyword != RESOLVE,
            how=how,
        )
    log.info(
        "staff answer by mail carried out",
        extra={
            "key": fetched.key,
            "escalation": esc.id,
            "staff": member.name,
            "action": answer.keyword or "reply",
        },
    )
    return Taken(row, Outcome.STAFF_REPLY, None, esc.id)


def _refuse(
    deps: Deps,
    store: Store,
    fetched: Fetched,
    inbound: Inbound,
    tag: ReplyTag,
    esc: EscalationRow | None,
    why: str,
    now: datetime,
) -> Taken:
    """Keep the mail for a person and tell staff; never anything to the sender or customer."""
    # A refused mail to the reply address of a refusal: a robot answering the notification
    # of the last one (a ticket system's receipt without Auto-Submitted) would otherwise make
    # a new escalation, and a new notification for it to answer, without end.
    looping = esc is not None and esc.reason == Reason.STAFF_REPLY_REFUSED.value
    log.warning(
        "mail to a staff reply address not sent on",
        extra={
            "key": fetched.key,
            "sender": inbound.sender,
            "escalation": tag.escalation_id,
            "why": why,
            "loop": looping,
        },
    )
    if looping:
        outcome, reason = Outcome.IGNORED, Reason.LOOP
        detail = (
            f"Not sent on: {why}. It answers the notification of a refused answer, so it is "
            "not escalated again."
        )
    else:
        outcome, reason = Outcome.ESCALATED, Reason.STAFF_REPLY_REFUSED
        detail = f"A mail to the reply address of {_number(tag)} was not sent on: {why}."
    row = _record(deps, store, fetched, inbound, now, outcome, reason, detail)
    if looping:
        return Taken(row, outcome, reason, None)
    esc_id = raise_escalation(
        deps,
        store,
        NewEscalation(
            reason=Reason.STAFF_REPLY_REFUSED.value,
            detail=detail + "\nNothing was sent to the customer or to the sender.",
            sender=inbound.sender,
            message_row=row,
            facts={"answers_escalation": esc.id} if esc is not None else {},
        ),
        now,
    )
    return Taken(row, outcome, reason, esc_id)


def _number(tag: ReplyTag) -> str:
    return f"escalation #{tag.escalation_id}" if tag.escalation_id else "an escalation"


def _record(
    deps: Deps,
    store: Store,
    fetched: Fetched,
    inbound: Inbound,
    now: datetime,
    outcome: Outcome,
    reason: Reason | None,
    detail: str,
) -> int:
    """The mail's row; an answer carried out is progress (it never counts towards a loop)."""
    progress = outcome is Outcome.STAFF_REPLY
    return record_mail(
        store,
        fetched,
        inbound,
        now,
        deps.policy,
        outcome=outcome,
        reason=reason,
        explanation=(detail,),
        progress=progress,
    )
