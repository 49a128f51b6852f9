"""Renewals: when an order's paid term moves forward (a subscription's paid invoice, a CSV
row's later `expires`), its active licenses are re-signed with the new expiry and mailed to the
order's address, one mail per order, exactly once per term (docs/contract.md, "Orders with
terms").

Exactly once, across crashes and repeated syncs: one transaction per order re-signs its
licenses, queues the mail in the outbox and records the renewal (order, term) in the store;
the record's primary key refuses a second one, and after the commit no license of the order is
left behind the term, so a second sync finds nothing to do. A crash before the commit leaves
nothing, and the next sync does it all. A cancelled or unpaid subscription, or a term that ran
out (grace included), renews nothing: its licenses lapse on their own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime

from mailbot.core.events import LICENSE_RENEWED
from mailbot.core.license_format import day_number, day_of, short
from mailbot.core.model import License, Order, OrderStatus
from mailbot.core.terms import term_lapsed
from mailbot.services import events
from mailbot.services.context import Deps
from mailbot.services.mailing import queue_mail, result_item
from mailbot.services.notify import BOT
from mailbot.store import Store

log = logging.getLogger("mailbot.renewals")


@dataclass(frozen=True)
class RenewalDone:
    """One order's licenses re-signed for its new term and mailed."""

    order_id: str
    paid_until: date
    to: str
    licenses: tuple[int, ...]
    outbox_id: int


def renew_due(deps: Deps, store: Store, now: datetime) -> list[RenewalDone]:
    """Re-sign and mail the licenses of every order whose paid term moved past them."""
    done: list[RenewalDone] = []
    for order, licenses in store.orders_with_terms_and_licenses():
        if not _behind(deps, order, licenses, now.date()):
            continue
        try:
            result = _renew(deps, store, order.order_id, now)
        except Exception as exc:  # noqa: BLE001 - one order must not block the others
            log.error(
                "renewal failed; tried again next sync",
                extra={"order": order.order_id, "error": type(exc).__name__},
            )
            continue
        if result is not None:
            done.append(result)
    return done


def _behind(deps: Deps, order: Order, licenses: list[License], today: date) -> list[License]:
    """The licenses whose expiry is before what the order's term gives now."""
    if order.status is not OrderStatus.PAID or order.paid_until is None:
        return []
    if term_lapsed(order, today, deps.policy.subscription_grace_days):
        return []  # unpaid past the grace: the licenses lapse, nothing is renewed
    target = deps.signer.expiry(today, order.paid_until)
    if target is None:
        return []
    wanted = day_number(target)
    # A perpetual license (expires_day 0, issued before the order had a term) stays as it is.
    return [lic for lic in licenses if 0 < lic.expires_day < wanted]


def _renew(deps: Deps, store: Store, order_id: str, now: datetime) -> RenewalDone | None:
    with store.transaction():
        # Read again under the write lock: another process may have renewed meanwhile.
        order = store.order(order_id)
        if order is None or order.paid_until is None:
            return None
        behind = _behind(deps, order, store.active_licenses_for_orders([order_id]), now.date())
        if not behind or store.renewal(order_id, order.paid_until) is not None:
            return None
        today = now.date()
        renewed: list[License] = []
        for lic in sorted(behind, key=lambda x: x.license_no):
            expires = deps.signer.expiry(today, order.paid_until)
            string = deps.signer.sign(lic.serial, lic.license_no, today, order.paid_until)
            expires_day = day_number(expires) if expires else 0
            if store.renew_license(lic.license_no, string, deps.signer.key_id, expires_day, now):
                renewed.append(store.license(lic.license_no) or lic)
        if not renewed:
            return None
        outbox_id = queue_mail(
            deps,
            store,
            to=order.email,
            template="renewed",
            context={
                "customer_name": order.name,
                "results": [result_item(lic.serial, "renew", license=lic) for lic in renewed],
                "licensed": True,
                "outcome": "renewed",
                "original_subject": "",
                "paid_until": order.paid_until.isoformat(),
            },
            now=now,
            kind="reply",
        )
        numbers = tuple(lic.license_no for lic in renewed)
        if not store.add_renewal(order_id, order.paid_until, order.email, numbers, outbox_id, now):
            raise RuntimeError("renewal recorded twice")  # rolls the whole renewal back
        for lic in renewed:
            events.emit(
                store,
                LICENSE_RENEWED,
                {"license": events.license_data(lic), "paid_until": order.paid_until.isoformat()},
                now,
            )
            store.add_audit(
                None,
                BOT,
                "license_renewed",
                f"license #{lic.license_no}: {lic.serial} re-signed to expire "
                f"{day_of(lic.expires_day).isoformat()} (order {order_id} paid until "
                f"{order.paid_until.isoformat()}), mailed to {order.email}",
                now,
            )
    log.info(
        "licenses renewed",
        extra={
            "order": order_id,
            "paid_until": order.paid_until.isoformat(),
            "licenses": len(renewed),
            "first": short(renewed[0].license_string),
        },
    )
    return RenewalDone(order_id, order.paid_until, order.email, numbers, outbox_id)
