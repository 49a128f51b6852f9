"""Refunds, disputes and subscription quantity decreases after licenses went out: orders whose
lost seats still carry active licenses are put in front of a person, never revoked by the bot.

A refund may be a goodwill gesture, a dispute may be won; support with finance decides. One
open escalation per order: while it is open a change (another refund) updates it; once closed,
a new one is raised only if the picture changes again (so resolving it is not undone by the
next sync).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime

from mailbot.core.events import ORDER_FLAGGED
from mailbot.core.model import License, Order, OrderStatus, Reason
from mailbot.services import events
from mailbot.services.context import Deps
from mailbot.services.notify import BOT, raise_escalation
from mailbot.store import Store
from mailbot.store.rows import NewEscalation, SerialItem

log = logging.getLogger("mailbot.finance_flags")
OVERUSE_REASONS = (
    Reason.REFUNDED_ORDER.value,
    Reason.DISPUTED_ORDER.value,
    Reason.SEATS_REDUCED.value,
)


def flag_overused(
    deps: Deps, store: Store, now: datetime, order_ids: Iterable[str] | None = None
) -> list[int]:
    """Escalate orders (these, or all) with more active licenses than usable seats after a
    refund or dispute; returns the escalations created."""
    created: list[int] = []
    for order, numbers in store.overused_orders(order_ids):
        if len(numbers) <= order.usable_seats:
            continue
        esc = _flag_order(deps, store, order, numbers, now)
        if esc is not None:
            created.append(esc)
    return created


def _flag_order(
    deps: Deps, store: Store, order: Order, numbers: list[int], now: datetime
) -> int | None:
    reason = (
        Reason.DISPUTED_ORDER if order.status is OrderStatus.DISPUTED else Reason.REFUNDED_ORDER
    )
    if order.status is OrderStatus.PAID and order.refunded_seats == 0:
        reason = Reason.SEATS_REDUCED  # a subscription's quantity went down
    picture = {
        "status": order.status.value,
        "usable_seats": order.usable_seats,
        "licenses": numbers,
    }
    with store.transaction():
        previous = store.finance_flags(order.order_id, OVERUSE_REASONS)
        if previous and previous[0].facts.get("picture") == picture:
            return None  # nothing new since staff last saw it (open or closed)
        licenses = [lic for lic in (store.license(n) for n in numbers) if lic is not None]
        detail = _overuse_detail(order, licenses)
        facts: dict[str, object] = {"overused_order": order.order_id, "picture": picture}
        serials = tuple(
            SerialItem(
                serial=lic.serial,
                as_found=lic.serial,
                status="ok",
                reason=reason.value,
                order_id=order.order_id,
                license_no=lic.license_no,
            )
            for lic in licenses
        )
        still_open = [p for p in previous if p.state == "open"]
        if still_open:
            esc_id = still_open[0].id
            store.update_escalation(
                esc_id, reason=reason.value, detail=detail, serials=serials, facts=facts, at=now
            )
            store.add_audit(esc_id, BOT, "updated", detail, now)
            _report_flag(store, order, reason, numbers, esc_id, now)
            return None
        esc_id = raise_escalation(
            deps,
            store,
            NewEscalation(
                reason=reason.value, detail=detail, sender=order.email, serials=serials, facts=facts
            ),
            now,
        )
        _report_flag(store, order, reason, numbers, esc_id, now)
    log.info(
        "order over-used after a refund, dispute or quantity decrease",
        extra={
            "order": order.order_id,
            "status": order.status.value,
            "active": len(numbers),
            "usable": order.usable_seats,
        },
    )
    return esc_id


def _report_flag(
    store: Store, order: Order, reason: Reason, numbers: list[int], esc_id: int, now: datetime
) -> None:
    """`order.flagged`: the order, why, its active licenses and the escalation staff work."""
    events.emit(
        store,
        ORDER_FLAGGED,
        {
            "order": events.order_data(order),
            "reason": reason.value,
            "active_licenses": list(numbers),
            "escalation_id": esc_id,
        },
        now,
    )


def _overuse_detail(order: Order, licenses: Sequence[License]) -> str:
    if order.status is OrderStatus.PAID and order.refunded_seats == 0:
        what = f"its quantity was reduced to {order.seats} seat(s)"
    elif order.status is OrderStatus.DISPUTED:
        what = "the payment is disputed"
    elif order.status is OrderStatus.REFUNDED:
        what = "it was refunded in full"
    else:
        what = f"{order.refunded_seats} of its {order.seats} seat(s) were refunded"
    listed = ", ".join(f"#{lic.license_no} ({lic.serial})" for lic in licenses)
    return (
        f"order {order.order_id} of {order.email}: {what}; {len(licenses)} active "
        f"license(s) on {order.usable_seats} usable seat(s): {listed}. Nothing was revoked: "
        "decide with finance whether to revoke (`mailbot licenses revoke N --reason ...`) "
        "or keep them, then resolve this."
    )
