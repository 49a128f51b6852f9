"""Carrying out a decision, inside the mail's transaction: licenses, seat use, releases, the
escalation, the pay-link request, bounced replies, and the reply in the outbox. Nothing here
leaves the process: the mailbox move and the sending come after the commit."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from mailbot.core.model import Action, Decision, Facts, Inbound, Reason
from mailbot.services import events
from mailbot.services.context import Deps
from mailbot.services.evaluate import facts_snapshot, serial_items
from mailbot.services.issuing import issue_license
from mailbot.services.mailing import Thread, queue_mail, reply_language, result_item
from mailbot.services.notify import raise_escalation
from mailbot.services.self_service import list_context, release_license
from mailbot.store import Store
from mailbot.store.rows import NewEscalation, NewPendingPayment


@dataclass
class Applied:
    """What carrying out a decision created."""

    license_nos: list[int] = field(default_factory=list)
    outbox_ids: list[int] = field(default_factory=list)
    escalation_id: int | None = None


def apply_decision(
    deps: Deps,
    store: Store,
    row: int,
    inbound: Inbound,
    decision: Decision,
    facts: Facts,
    now: datetime,
) -> Applied:
    """Carry out `decision` for the mail recorded as `row`. Runs inside its transaction."""
    applied = Applied()
    signer = (
        deps.signer
        if any(r.action in (Action.ISSUE, Action.TRANSFER) for r in decision.results)
        else None
    )
    shown: list[dict[str, Any]] = []
    pay_url = ""
    for r in decision.results:
        reason = r.reason.value if r.reason else None
        if r.action is Action.ISSUE:
            assert signer is not None
            lic = issue_license(
                store,
                signer,
                serial=r.serial,
                email=r.recipient,
                order_id=r.order_id,
                now=now,
                message_row=row,
            )
            applied.license_nos.append(lic.license_no)
            shown.append(
                result_item(
                    r.serial, r.action.value, as_found=r.as_found, reason=reason, license=lic
                )
            )
        elif r.action is Action.RESEND:
            assert r.license_no is not None
            existing = store.license(r.license_no)
            assert existing is not None
            events.license_resent(store, existing, r.recipient, events.BOT, now)
            shown.append(
                result_item(
                    r.serial, r.action.value, as_found=r.as_found, reason=reason, license=existing
                )
            )
        elif r.action is Action.TRANSFER:
            assert r.license_no is not None and signer is not None
            old = store.license(r.license_no)
            assert old is not None
            lic = issue_license(
                store,
                signer,
                serial=r.serial,
                email=r.recipient,
                order_id=old.order_id,
                now=now,
                message_row=row,
                seat_key=old.seat_key,
            )
            store.revoke_license(
                old.license_no, f"transferred to {r.serial}", now, replaced_by=lic.license_no
            )
            events.license_transferred(store, old, lic, events.BOT, now)
            applied.license_nos.append(lic.license_no)
            shown.append(
                result_item(
                    r.serial,
                    r.action.value,
                    as_found=r.as_found,
                    reason=reason,
                    old_serial=r.old_serial,
                    license=lic,
                )
            )
        elif r.action is Action.RELEASE:
            # No license in the reply: the released string no longer counts.
            release_license(store, r, now, row)
            shown.append(result_item(r.serial, r.action.value, as_found=r.as_found))
        elif r.action is Action.AWAIT_PAYMENT:
            if not pay_url:
                pay_url = _pending_payment(deps, store, row, inbound, decision, now)
            shown.append(
                result_item(
                    r.serial,
                    r.action.value,
                    as_found=r.as_found,
                    reason=reason,
                    old_serial=r.old_serial,
                    pay_url=pay_url,
                )
            )
        else:
            shown.append(
                result_item(
                    r.serial,
                    r.action.value,
                    as_found=r.as_found,
                    reason=reason,
                    old_serial=r.old_serial,
                )
            )

    if decision.escalates:
        applied.escalation_id = raise_escalation(
            deps,
            store,
            NewEscalation(
                reason=decision.reason.value if decision.reason else "",
                detail="\n".join(decision.explanation),
                sender=inbound.sender,
                message_row=row,
                serials=serial_items(inbound, decision),
                facts=facts_snapshot(facts),
            ),
            now,
        )
    if decision.reason is Reason.REPLY_BOUNCED and facts.bounced_replies:
        store.mark_outbox_bounced(
            list(facts.bounced_replies), f"bounced: delivery report <{inbound.message_id}>"
        )
    if decision.reply_to:
        applied.outbox_ids.append(_reply(deps, store, row, inbound, decision, shown, facts, now))
    return applied


def _pending_payment(
    deps: Deps, store: Store, row: int, inbound: Inbound, decision: Decision, now: datetime
) -> str:
    """Record the pay-link request and return the link that names it."""
    ref = f"mb_{secrets.token_urlsafe(12)}"
    store.add_pending_payment(
        NewPendingPayment(
            id=ref,
            message_row=row,
            sender=inbound.sender,
            serials=tuple(r.serial for r in decision.results if r.action is Action.AWAIT_PAYMENT),
            created_at=now,
            expires_at=now + timedelta(days=deps.settings.orders.payment_expiry_days),
        )
    )
    link = deps.policy.payment_link
    glue = "&" if "?" in link else "?"
    return link + glue + urlencode({"client_reference_id": ref, "prefilled_email": inbound.sender})


def _reply(
    deps: Deps,
    store: Store,
    row: int,
    inbound: Inbound,
    decision: Decision,
    shown: list[dict[str, Any]],
    facts: Facts,
    now: datetime,
) -> int:
    # A name only for an address we know from an order: its name there, else the display name
    # its own mail carried. A stranger's display name ("Cheap pills at ...") is never repeated.
    names = {o.email: o.name for o in facts.orders}
    name = ""
    if decision.reply_to in names:
        name = names[decision.reply_to] or (
            inbound.sender_name if decision.reply_to == inbound.sender else ""
        )
    context = {
        "customer_name": name,
        "results": shown,
        "licensed": any(i["license_string"] for i in shown),
        "outcome": decision.outcome.value,
        "original_subject": inbound.subject,
        **list_context(decision, facts, now),
    }
    thread = Thread.of(inbound)
    return queue_mail(
        deps,
        store,
        to=decision.reply_to,
        template=decision.template,
        context=context,
        now=now,
        kind="reply",
        thread=thread,
        message_row=row,
        language=reply_language(deps, facts.orders, decision.reply_to, thread),
    )
