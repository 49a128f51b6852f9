"""What people do about escalations: claim, note, reject, resolve, reopen, issue and transfer.

An escalation is `open` until a person resolves it (issue, reply, transfer, retry, resolve) or
rejects it; `reopen` makes it open again. Every action is one transaction that checks the state
first, does its work, and adds an audit line naming who did what and when; mail goes through the
outbox like the bot's own. Actions on a closed escalation refuse, saying how to reopen it; only
`note` and `reopen` work on closed ones. These raise QueueError with a plain sentence and never
print: the CLI and the web console format what they return.

Answering the sender is in `escalation_reply.py` and deciding again in `escalation_retry.py`:
both return the same `ActionResult` and start with `require_open`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from mailbot.core.model import License
from mailbot.services import licenses
from mailbot.services.context import Deps
from mailbot.services.events import close_escalation
from mailbot.services.licenses import LicenseError
from mailbot.services.mailing import thread_of_row
from mailbot.services.orders import refresh_local_orders
from mailbot.services.queue_view import OPEN, REJECTED, RESOLVED, QueueError, require
from mailbot.store import Store
from mailbot.store.errors import Conflict
from mailbot.store.rows import EscalationRow


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
        return {
            **asdict(self),
            "outbox_ids": list(self.outbox_ids),
            "license_nos": list(self.license_nos),
        }


def require_open(store: Store, escalation_id: int) -> EscalationRow:
    """The escalation, when it is open; else QueueError saying how to reopen it."""
    esc = require(store, escalation_id)
    if esc.state != OPEN:
        raise QueueError(
            f"escalation #{escalation_id} is {esc.state}; "
            f"`mailbot queue reopen {escalation_id}` first"
        )
    return esc


# -- actions that only change the queue ------------------------------------------------------


def claim(
    store: Store,
    escalation_id: int,
    actor: str,
    now: datetime,
    *,
    force: bool = False,
    release: bool = False,
) -> ActionResult:
    """Take an escalation (so colleagues see it is being handled), or give it back."""
    with store.transaction():
        esc = require_open(store, escalation_id)
        holder = esc.claimed_by
        if release:
            if not holder:
                raise QueueError(f"escalation #{escalation_id} is not claimed")
            store.set_claim(escalation_id, None, now)
            store.add_audit(escalation_id, actor, "released", f"was claimed by {holder}", now)
            return ActionResult(escalation_id, "release", OPEN, f"#{escalation_id} released")
        if holder == actor:
            raise QueueError(f"you already claimed #{escalation_id}")
        if holder and not force:
            raise QueueError(
                f"escalation #{escalation_id} is claimed by {holder}; add --force to take it over"
            )
        store.set_claim(escalation_id, actor, now)
        store.add_audit(
            escalation_id,
            actor,
            "claimed",
            f"taken over from {holder}" if holder else "claimed",
            now,
        )
    return ActionResult(escalation_id, "claim", OPEN, f"#{escalation_id} claimed by {actor}")


def assign(store: Store, escalation_id: int, actor: str, now: datetime, to: str) -> ActionResult:
    """Hand an escalation to a colleague: it is claimed in their name, `actor` in the audit."""
    with store.transaction():
        esc = require_open(store, escalation_id)
        if store.staff_member(to) is None:
            raise QueueError(f"there is no staff account {to!r}")
        holder = esc.claimed_by
        if holder == to:
            raise QueueError(f"escalation #{escalation_id} is claimed by {to} already")
        store.set_claim(escalation_id, to, now)
        store.add_audit(
            escalation_id,
            actor,
            "assigned",
            f"to {to}" + (f" (was claimed by {holder})" if holder else ""),
            now,
        )
    return ActionResult(escalation_id, "assign", OPEN, f"#{escalation_id} assigned to {to}")


def note(store: Store, escalation_id: int, actor: str, now: datetime, text: str) -> ActionResult:
    """Add a note to the history (open or closed escalations)."""
    if not text.strip():
        raise QueueError("the note is empty")
    with store.transaction():
        esc = require(store, escalation_id)
        store.add_audit(escalation_id, actor, "note", text.strip(), now)
        store.touch_escalation(escalation_id, now)
    return ActionResult(escalation_id, "note", esc.state, f"note added to #{escalation_id}")


def reject(
    store: Store, escalation_id: int, actor: str, now: datetime, reason: str
) -> ActionResult:
    """Close without issuing: the request is refused (no mail is sent; reply first if needed)."""
    if not reason.strip():
        raise QueueError("say why (--reason); colleagues and finance read it later")
    with store.transaction():
        require_open(store, escalation_id)
        close_escalation(store, escalation_id, REJECTED, actor, now)
        store.add_audit(escalation_id, actor, "rejected", reason.strip(), now)
    return ActionResult(escalation_id, "reject", REJECTED, f"#{escalation_id} rejected")


def resolve(
    store: Store, escalation_id: int, actor: str, now: datetime, note_text: str = ""
) -> ActionResult:
    """Close as done when it was handled outside mailbot (by phone, by a colleague's mail)."""
    with store.transaction():
        require_open(store, escalation_id)
        close_escalation(store, escalation_id, RESOLVED, actor, now)
        store.add_audit(escalation_id, actor, "resolved", note_text.strip() or "resolved", now)
    return ActionResult(escalation_id, "resolve", RESOLVED, f"#{escalation_id} resolved")


def reopen(
    store: Store, escalation_id: int, actor: str, now: datetime, reason: str = ""
) -> ActionResult:
    with store.transaction():
        esc = require(store, escalation_id)
        if esc.state == OPEN:
            raise QueueError(f"escalation #{escalation_id} is already open")
        store.set_escalation_state(escalation_id, OPEN, now)
        store.add_audit(
            escalation_id,
            actor,
            "reopened",
            f"was {esc.state}" + (f": {reason.strip()}" if reason.strip() else ""),
            now,
        )
    return ActionResult(escalation_id, "reopen", OPEN, f"#{escalation_id} is open again")


# -- actions that license and mail -----------------------------------------------------------


def _serials_to_license(
    store: Store, esc: EscalationRow, given: Sequence[str], product_code: str
) -> list[str]:
    if given:
        try:
            return list(dict.fromkeys(licenses.normalize_serial(s, product_code) for s in given))
        except LicenseError as exc:
            raise QueueError(str(exc)) from None
    chosen = [
        item.serial
        for item in esc.serials
        if item.status == "ok"
        and item.action not in ("issue", "resend", "transfer")
        and store.active_license(item.serial) is None
    ]
    if not chosen:
        bad = [i.as_found for i in esc.serials if i.status != "ok"]
        hint = (
            f" (it saw {', '.join(repr(b) for b in bad)}, which do not read as valid)"
            if bad
            else ""
        )
        raise QueueError(
            f"escalation #{esc.id} has no serial left to license{hint}; name it with --serial"
        )
    return list(dict.fromkeys(chosen))


def issue(
    deps: Deps,
    escalation_id: int,
    actor: str,
    now: datetime,
    *,
    order_id: str | None = None,
    grant_reason: str | None = None,
    serials: Sequence[str] = (),
    email: str = "",
    force: bool = False,
) -> ActionResult:
    """License the escalation's serials (or `serials`) against ORDER_ID, or as a manual grant,
    mail them, and resolve. The mail goes to the order's email; a grant to the sender (or
    `email`)."""
    if bool(order_id) == bool(grant_reason and grant_reason.strip()):
        raise QueueError(
            'say either --order ORDER or --grant "reason" (a license without an order)'
        )
    refresh_local_orders(deps)
    try:
        with deps.store.transaction() as store:
            esc = require_open(store, escalation_id)
            targets = _serials_to_license(store, esc, serials, deps.settings.product.code)
            issued: list[License] = []
            for serial in targets:
                issued.append(
                    licenses.issue(
                        deps,
                        store,
                        serial=serial,
                        actor=actor,
                        now=now,
                        order_id=order_id,
                        grant_reason=grant_reason,
                        email=email or esc.sender,
                        message_row=esc.message_row,
                        force=force,
                        escalation_id=escalation_id,
                    )
                )
            to = licenses.recipient_of(store, issued[0])
            sent = licenses.mail_licenses(
                deps,
                store,
                licenses=[(lic, "issue", "") for lic in issued],
                to=to,
                template="issued",
                now=now,
                thread=thread_of_row(deps, store, esc.message_row),
                message_row=esc.message_row,
                escalation_id=escalation_id,
            )
            numbers = ", ".join(f"#{lic.license_no} {lic.serial}" for lic in issued)
            if order_id:
                where = f"against order {order_id}, mailed to the order's email {to}"
                if esc.sender and to != esc.sender:
                    where += f" (not to the sender {esc.sender})"
            else:
                where = f"as a manual grant ({grant_reason}), mailed to {to}"
            close_escalation(store, escalation_id, RESOLVED, actor, now)
            store.add_audit(escalation_id, actor, "issued", f"{numbers} {where}", now)
    except LicenseError as exc:
        raise QueueError(str(exc)) from None
    except Conflict:
        raise QueueError("one of the serials already has an active license") from None
    return ActionResult(
        escalation_id,
        "issue",
        RESOLVED,
        f"#{escalation_id} resolved: license {numbers} {where}",
        (sent.outbox_id,),
        tuple(lic.license_no for lic in issued),
    )


def transfer(
    deps: Deps,
    escalation_id: int,
    actor: str,
    now: datetime,
    *,
    old_serial: str = "",
    new_serial: str = "",
    reason: str = "",
) -> ActionResult:
    """Carry out a transfer the bot held back (beyond the automatic limit or unclear): revoke
    the old serial's license, license the new serial on the same seat, mail it, resolve."""
    with deps.store.transaction() as store:
        esc = require_open(store, escalation_id)
        if not (old_serial and new_serial):
            items = [i for i in esc.serials if i.old_serial]
            if len(items) != 1:
                raise QueueError(
                    f"escalation #{escalation_id} does not name one transfer; "
                    "give --old SERIAL and --new SERIAL"
                )
            old_serial = old_serial or items[0].old_serial or ""
            new_serial = new_serial or items[0].serial
        try:
            old, new, sent = licenses.transfer(
                deps,
                old_serial,
                new_serial,
                actor,
                now,
                reason=reason,
                thread=thread_of_row(deps, store, esc.message_row),
                message_row=esc.message_row,
                escalation_id=escalation_id,
            )
        except LicenseError as exc:
            raise QueueError(str(exc)) from None
        to = sent.to if sent else ""
        summary = (
            f"license #{old.license_no} {old.serial} moved to {new.serial} "
            f"(#{new.license_no}), mailed to {to}"
        )
        close_escalation(store, escalation_id, RESOLVED, actor, now)
        store.add_audit(
            escalation_id, actor, "transferred", summary + (f": {reason}" if reason else ""), now
        )
    return ActionResult(
        escalation_id,
        "transfer",
        RESOLVED,
        f"#{escalation_id} resolved: {summary}",
        (sent.outbox_id,) if sent else (),
        (new.license_no,),
    )
