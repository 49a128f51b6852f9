"""Pay by link: a request waits for its payment; once paid, the licenses go out by themselves.
Unpaid in time, it goes to a person.

A request is fulfilled by the first paid order carrying its id as client_reference_id. An
expired request that is paid after all is fulfilled too (the customer paid; staff's
payment_expired escalation is resolved with a note). One transaction per request; the request's
state is the guard against doing it twice (a second sync, a second process), and the
one-active-license-per-serial index backs it up.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mailbot.core.model import License, LicenseState, Order, OrderStatus, Reason
from mailbot.core.terms import in_force
from mailbot.services.context import Deps
from mailbot.services.events import close_escalation
from mailbot.services.issuing import issue_license
from mailbot.services.mailing import queue_mail, reply_language, result_item, thread_of_row
from mailbot.services.notify import BOT, raise_escalation
from mailbot.store import Store
from mailbot.store.errors import Conflict
from mailbot.store.rows import NewEscalation, PendingPayment, SerialItem

log = logging.getLogger("mailbot.payments")


@dataclass(frozen=True)
class Fulfilment:
    """One paid request and what was done for it."""

    pending_id: str
    order_id: str
    to: str
    issued: tuple[int, ...]  # license numbers issued now
    resent: tuple[int, ...]  # licenses the serials had got meanwhile, mailed again
    escalated: tuple[str, ...]  # serials left for a person
    escalation_id: int | None
    outbox_id: int | None


def fulfil_paid_links(deps: Deps, store: Store, now: datetime) -> list[Fulfilment]:
    """License and mail every pay-link request whose payment has arrived."""
    done: list[Fulfilment] = []
    seen: set[str] = set()
    for pending_id, order_id in store.paid_orders_for_references():
        if pending_id in seen:
            continue  # paid twice: the first order serves it; the other keeps its seats
        seen.add(pending_id)
        try:
            result = _fulfil(deps, store, pending_id, order_id, now)
        except Conflict:
            # Another path licensed a serial in between; the next sync re-sends it instead.
            log.warning(
                "pay-link fulfilment collided with another license; retried next sync",
                extra={"pending": pending_id},
            )
            continue
        except Exception as exc:  # noqa: BLE001 - one request must not block the others
            log.error(
                "pay-link fulfilment failed; retried next sync",
                extra={"pending": pending_id, "error": str(exc)},
            )
            continue
        if result is not None:
            done.append(result)
    return done


def _fulfil(
    deps: Deps, store: Store, pending_id: str, order_id: str, now: datetime
) -> Fulfilment | None:
    with store.transaction():
        pending = store.pending_payment(pending_id)
        if pending is None or pending.state not in ("open", "expired"):
            return None
        order = store.order(order_id)
        if order is None:
            return None
        # A subscription whose term already ran out gives no seats (core/terms.py).
        order = in_force(order, now.date(), deps.policy.subscription_grace_days)
        if order.status is not OrderStatus.PAID:
            return None
        serials = list(dict.fromkeys(pending.serials))
        free = order.usable_seats - len(store.active_licenses_for_orders([order.order_id]))
        existing = store.licenses_for_serials(serials)
        results: list[dict[str, Any]] = []
        issued: list[License] = []
        resent: list[License] = []
        left: list[tuple[str, Reason]] = []
        for serial in serials:
            lic = existing.get(serial)
            if lic is not None and lic.state is LicenseState.ACTIVE:
                if lic.customer_email == order.email:
                    resent.append(lic)
                    results.append(result_item(serial, "resend", license=lic))
                else:
                    left.append((serial, Reason.SERIAL_LICENSED_ELSEWHERE))
            elif lic is not None:
                left.append((serial, Reason.SERIAL_REVOKED))  # only staff re-license these
            elif free <= 0:
                left.append((serial, Reason.SEATS_EXHAUSTED))
            else:
                new = issue_license(
                    store,
                    deps.signer,
                    serial=serial,
                    email=order.email,
                    order_id=order.order_id,
                    now=now,
                    message_row=pending.message_row,
                )
                free -= 1
                issued.append(new)
                results.append(result_item(serial, "issue", license=new))
                store.add_audit(
                    None,
                    BOT,
                    "license_issued",
                    f"license #{new.license_no}: {serial} issued to {order.email} "
                    f"against order {order.order_id} (paid pay-link request "
                    f"{pending_id})",
                    now,
                )
        for serial, reason in left:
            results.append(result_item(serial, "escalate", reason=reason.value))

        escalation_id = None
        if left:
            escalation_id = _escalate_leftovers(deps, store, pending, order, left, now)
        thread = thread_of_row(deps, store, pending.message_row)
        outbox_id = None
        licensed = bool(issued or resent)
        if licensed or deps.policy.acknowledge_escalations:
            outbox_id = queue_mail(
                deps,
                store,
                to=order.email,
                template="issued" if licensed else "escalated",
                context={
                    "customer_name": order.name or (thread.sender_name if thread else ""),
                    "results": results,
                    "licensed": licensed,
                    "outcome": "issued" if licensed else "escalated",
                    "original_subject": thread.subject if thread else "",
                },
                now=now,
                kind="reply",
                thread=thread,
                message_row=pending.message_row,
                language=reply_language(deps, [order], order.email, thread),
            )
        store.fulfil_payment(pending_id, order.order_id, now)
        if pending.state == "expired":
            _close_expired(store, pending, order, now)
    log.info(
        "pay-link request fulfilled",
        extra={
            "pending": pending_id,
            "order": order.order_id,
            "issued": len(issued),
            "resent": len(resent),
            "escalated": len(left),
        },
    )
    return Fulfilment(
        pending_id,
        order.order_id,
        order.email,
        tuple(lic.license_no for lic in issued),
        tuple(lic.license_no for lic in resent),
        tuple(s for s, _ in left),
        escalation_id,
        outbox_id,
    )


def _escalate_leftovers(
    deps: Deps,
    store: Store,
    pending: PendingPayment,
    order: Order,
    left: Sequence[tuple[str, Reason]],
    now: datetime,
) -> int:
    lines = [
        f"pay-link request {pending.id} was paid by order {order.order_id} "
        f"({order.email}, {order.seats} seat(s)), but these serials could not be licensed "
        "automatically:"
    ]
    lines += [f"{serial}: {why.value}" for serial, why in left]
    return raise_escalation(
        deps,
        store,
        NewEscalation(
            reason=left[0][1].value,
            detail="\n".join(lines),
            sender=pending.sender or order.email,
            message_row=pending.message_row,
            serials=tuple(
                SerialItem(
                    serial=s,
                    as_found=s,
                    status="ok",
                    action="escalate",
                    reason=why.value,
                    order_id=order.order_id,
                )
                for s, why in left
            ),
            facts={
                "pending_payment": pending.id,
                "order_id": order.order_id,
                "usable_seats": order.usable_seats,
            },
        ),
        now,
    )


def _close_expired(store: Store, pending: PendingPayment, order: Order, now: datetime) -> None:
    for esc_id in store.open_escalations_of_message(
        Reason.PAYMENT_EXPIRED.value, pending.message_row
    ):
        close_escalation(store, esc_id, "resolved", BOT, now)
        store.add_audit(
            esc_id,
            BOT,
            "resolved",
            f"pay-link request {pending.id} was paid after it expired (order "
            f"{order.order_id}); the licenses were mailed automatically",
            now,
        )


def expire_pending_payments(deps: Deps, now: datetime) -> int:
    """Pay-link requests nobody paid in time go to a person (who may chase or close them)."""
    count = 0
    store = deps.store
    for p in store.overdue_payments(now):
        with store.transaction():
            # Looked at before the write lock: a sync may have fulfilled it since.
            if not store.expire_payment(p.id):
                continue
            count += 1
            raise_escalation(
                deps,
                store,
                NewEscalation(
                    reason=Reason.PAYMENT_EXPIRED.value,
                    detail=f"pay-link request {p.id} was not paid by {p.expires_at.isoformat()}",
                    sender=p.sender,
                    message_row=p.message_row,
                    serials=tuple(
                        SerialItem(
                            serial=s,
                            as_found=s,
                            status="ok",
                            action="await_payment",
                            reason=Reason.PAYMENT_EXPIRED.value,
                        )
                        for s in p.serials
                    ),
                ),
                now,
            )
    return count
