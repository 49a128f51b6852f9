"""The next step for a person, as the `mailbot` command that takes it.

`queue show` prints these and every staff notification mails them, so a person reading either
can act in one step; the web console offers the same actions as buttons.
"""

from __future__ import annotations

from mailbot.core.model import LicenseState
from mailbot.services.queue_view import OPEN, EscalationView


def suggested_commands(view: EscalationView) -> list[str]:
    """The one-line commands that would most likely resolve this escalation, best first."""
    esc = view.escalation
    n = esc.id
    if esc.state != OPEN:
        return [f"mailbot queue reopen {n}"]
    reason = esc.reason
    free_orders = [o for o in view.customer.orders if o.status == "paid" and o.free > 0]
    items = esc.serials
    commands: list[str] = []
    if reason in ("refunded_order", "disputed_order") and esc.message_row is None:
        # A finance flag from the order sync: licenses outlived their payment.
        for item in items[:3]:
            if item.license_no:
                commands.append(f'mailbot licenses revoke {item.license_no} --reason "refund"')
        commands.append(f'mailbot queue resolve {n} --note "licenses may stay"')
    elif reason in ("refunded_order", "disputed_order"):
        commands.append(f'mailbot queue reject {n} --reason "reason"')
        commands.append(f"mailbot queue reply {n} --text-file answer.txt")
        commands.append(f'mailbot queue issue {n} --grant "reason"')
    elif reason in (
        "no_order",
        "unpaid_order",
        "seats_exhausted",
        "ambiguous_order",
        "payment_expired",
        "serial_revoked",
        "sender_unverified",
    ):
        if free_orders and reason not in ("sender_unverified", "ambiguous_order"):
            commands.append(f"mailbot queue retry {n}")
        for o in free_orders[:2]:
            commands.append(f"mailbot queue issue {n} --order {o.order_id}")
        if not free_orders and reason in ("no_order", "unpaid_order", "seats_exhausted"):
            commands.append(f"mailbot queue reply {n} --text-file answer.txt")
            commands.append(f"mailbot queue retry {n}  # once the order is in")
        commands.append(f'mailbot queue issue {n} --grant "reason"')
        commands.append(f'mailbot queue reject {n} --reason "reason"')
    elif reason == "transfer_review":
        commands.append(f'mailbot queue transfer {n} --reason "reason"')
        commands.append(f'mailbot queue reject {n} --reason "reason"')
    elif reason == "serial_licensed_elsewhere":
        for lic in view.serial_licenses:
            if lic.state is LicenseState.ACTIVE:
                commands.append(f"mailbot licenses show {lic.license_no}")
        commands.append(f'mailbot queue reject {n} --reason "reason"')
    elif reason in ("mistyped_serial",):
        if free_orders:
            commands.append(
                f"mailbot queue issue {n} --order {free_orders[0].order_id} "
                "--serial CORRECTED-SERIAL"
            )
        commands.append(f"mailbot queue reply {n} --template clarify")
    elif reason == "internal_error":
        commands.append(f"mailbot queue retry {n}")
        commands.append(f"mailbot queue reply {n} --text-file answer.txt")
    elif reason == "staff_reply_refused":
        answered = esc.facts.get("answers_escalation")
        if isinstance(answered, int):
            commands.append(f"mailbot queue show {answered}")
            commands.append(f"mailbot queue reply {answered} --text-file answer.txt")
        commands.append(f'mailbot queue resolve {n} --note "not sent on, rightly"')
    elif reason == "reply_bounced":
        commands.append(f'mailbot queue resolve {n} --note "reached the customer by phone"')
        if esc.sender:
            commands.append(f"mailbot customer {esc.sender}")
    else:  # no_serial, question, unreadable, too_large, and reasons added later
        commands.append(f"mailbot queue reply {n} --text-file answer.txt")
        commands.append(f'mailbot queue resolve {n} --note "nothing to do"')
    if reason == "question" and free_orders and any(item.status == "ok" for item in items):
        commands.insert(1, f"mailbot queue issue {n} --order {free_orders[0].order_id}")
    return list(dict.fromkeys(commands))
