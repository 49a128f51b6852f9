"""Answering the sender of an escalation: a named template or a person's own words.

The one staff action that writes to the customer without licensing anything, so it carries the
rules about what a reply may contain: templates made for license strings only go out with
licenses that belong to the address the reply goes to, a written answer carries exactly what
the person wrote, and the pay link needs a pending request (`mailbot queue retry` sends it).
Apart from the other actions because of those template rules and the context it builds.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mailbot.core.model import LicenseState
from mailbot.services.context import Deps
from mailbot.services.escalations import ActionResult, require_open
from mailbot.services.events import close_escalation
from mailbot.services.mailing import (
    Thread,
    queue_mail,
    reply_language,
    result_item,
    thread_of_row,
)
from mailbot.services.queue_view import OPEN, RESOLVED, QueueError
from mailbot.store import Store
from mailbot.store.rows import EscalationRow

# Templates whose whole point is license strings: replying with one that carries none would
# send the customer an empty promise.
LICENSE_TEMPLATES = frozenset({"issued", "resent", "transferred"})
FREE_TEXT_TEMPLATE = "staff_reply"
# Templates that are not answers a person picks: staff mail, and the pay link (needs a request).
NOT_FOR_REPLIES = frozenset(
    {"staff_reply", "staff_notification", "staff_digest", "awaiting_payment"}
    # A customer's own list and release: they need the facts of that mail, not a person's pick.
    | {"licenses_list", "released"}
)


def reply(
    deps: Deps,
    escalation_id: int,
    actor: str,
    now: datetime,
    *,
    template: str | None = None,
    text: str | None = None,
    keep_open: bool = False,
    how: str = "",
) -> ActionResult:
    """Answer the sender with a named template or free text; resolves unless `keep_open`.
    `how` is added to the audit line (an answer by mail says which mail it was).

    Templates that carry license strings only ever carry licenses that belong to the address
    the reply goes to."""
    if bool(template) == bool(text and text.strip()):
        raise QueueError("say either --template NAME or --text-file FILE")
    if template == "awaiting_payment":
        raise QueueError(
            "awaiting_payment needs a pay link from a pending request; "
            f"`mailbot queue retry {escalation_id}` sends one when orders have a "
            "payment_link"
        )
    if template and (
        template.startswith("_") or template in NOT_FOR_REPLIES or not deps.renderer.has(template)
    ):
        raise QueueError(
            f"no reply template {template!r}; available: {', '.join(reply_templates(deps))}"
        )
    with deps.store.transaction() as store:
        esc = require_open(store, escalation_id)
        thread = thread_of_row(deps, store, esc.message_row) or Thread(sender=esc.sender)
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
                f"(`mailbot queue issue {escalation_id} --order ORDER`)"
            )
        orders = store.orders_for_email(to)
        names = [o.name for o in orders if o.name]
        context = {
            "customer_name": names[0] if names else thread.sender_name,
            "results": results,
            "licensed": any(r["license_string"] for r in results),
            "outcome": template or "reply",
            "original_subject": thread.subject,
            "text": (text or "").strip(),
            "staff_name": actor,
        }
        outbox_id = queue_mail(
            deps,
            store,
            to=to,
            template=template or FREE_TEXT_TEMPLATE,
            context=context,
            now=now,
            kind="reply",
            thread=thread,
            message_row=esc.message_row,
            escalation_id=escalation_id,
            automatic=bool(template),
            language=reply_language(deps, orders, to, thread),
        )
        what = (
            f"template {template}"
            if template
            else f"a written answer ({len(text or '')} characters)"
        )
        state = OPEN if keep_open else RESOLVED
        if keep_open:
            store.touch_escalation(escalation_id, now)
        else:
            close_escalation(store, escalation_id, RESOLVED, actor, now)
        store.add_audit(
            escalation_id,
            actor,
            "replied",
            f"{what} to {to}" + (f" {how}" if how else "") + ("" if keep_open else "; resolved"),
            now,
        )
    return ActionResult(
        escalation_id,
        "reply",
        state,
        f"reply to {to} queued ({what})" + ("" if keep_open else f"; #{escalation_id} resolved"),
        (outbox_id,),
    )


def reply_templates(deps: Deps) -> list[str]:
    """Templates a person may reply with."""
    return [n for n in deps.renderer.names() if n not in NOT_FOR_REPLIES]


def _reply_results(store: Store, esc: EscalationRow, to: str) -> list[dict[str, Any]]:
    results = []
    for item in esc.serials:
        if item.status != "ok":
            results.append(
                result_item(
                    item.serial, "clarify", as_found=item.as_found, old_serial=item.old_serial
                )
            )
            continue
        lic = store.active_license(item.serial)
        if lic is not None and lic.state is LicenseState.ACTIVE and lic.customer_email == to:
            results.append(
                result_item(
                    item.serial,
                    "resend",
                    as_found=item.as_found,
                    old_serial=item.old_serial,
                    license=lic,
                )
            )
    return results
