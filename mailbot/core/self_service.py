"""Deciding a customer's own "which licenses do I have" and "release SERIAL". Pure.

Called by `decide.decide` after the guards every mail passes (rate limit, loop, a usable From,
DMARC as for transfers), so a forged From with a failing DMARC check gets nothing. The answer
always goes to the order's address, never to a Reply-To:

- a list goes to the sender's own address, and only when that address is on an order or holds
  a license; a stranger is escalated as `no_order` (acknowledged like any request without an
  order, with no license data in it);
- a release revokes the serial's active license when it is the customer's (the sender's, or
  the order it names of the same organisation, as for transfers), on an order's seat, and the
  seat has moved fewer than `transfers_per_seat` times in the window: releases and transfers
  share one limit, because the next license on that order takes over the released seat's
  history (`services/issuing.py`), so releasing and licensing again counts as a move.
  Anything else is `release_review` (someone else's serial: `serial_licensed_elsewhere`).

`listed_licenses` is what the list mail shows: the newest license of each serial, with its
state ("expired" for an active license past its day) and its expiry day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from mailbot.core.classification import Classification
from mailbot.core.license_format import EPOCH
from mailbot.core.model import (
    Action,
    Decision,
    Facts,
    Inbound,
    License,
    LicenseState,
    Outcome,
    Policy,
    Reason,
    SerialDecision,
)
from mailbot.core.seat_pool import customer_pool

LIST_TEMPLATE = "licenses_list"
RELEASED_TEMPLATE = "released"


def decide_list(inbound: Inbound, facts: Facts, why: list[str]) -> Decision | Reason:
    """The list for the sender's own address, or the reason it cannot have one."""
    owner = inbound.sender
    on_order = any(o.email == owner for o in facts.orders)
    own = [lic for lic in facts.own_licenses if lic.customer_email == owner]
    if not on_order and not own:
        why.append(f"{owner} is on no order and holds no license: no list to send")
        return Reason.NO_ORDER
    why.append(f"{len(own)} license(s) under {owner}; the list goes to that address only")
    return Decision(
        outcome=Outcome.LISTED,
        reason=None,
        reply_to=owner,
        template=LIST_TEMPLATE,
        explanation=tuple(why),
    )


def decide_release(
    inbound: Inbound, cls: Classification, facts: Facts, policy: Policy, why: list[str]
) -> SerialDecision | Reason:
    """Release of `cls.old_serial`: the decision for that serial, or (the pool cannot be
    known) the reason the whole mail goes to a person."""
    serial = cls.old_serial
    assert serial is not None
    as_found = next((f.as_found for f in inbound.serials if f.normalized == serial), serial)
    review = SerialDecision(
        serial=serial, as_found=as_found, action=Action.ESCALATE, reason=Reason.RELEASE_REVIEW
    )
    pool = customer_pool(inbound, facts, why)
    if isinstance(pool, Reason):
        return pool
    lic = facts.licenses.get(serial)
    if lic is None or lic.state is not LicenseState.ACTIVE:
        why.append(f"release: {serial} has no active license")
        return review
    if lic.customer_email != pool.email:
        why.append(f"release: {serial} is licensed to another customer (#{lic.license_no})")
        return SerialDecision(
            serial=serial,
            as_found=as_found,
            action=Action.ESCALATE,
            reason=Reason.SERIAL_LICENSED_ELSEWHERE,
            license_no=lic.license_no,
        )
    if lic.order_id is None:
        why.append(f"release: #{lic.license_no} is a manual grant, on no order's seat")
        return review
    done = facts.transfers_in_window.get(lic.seat_key, 0)
    if done >= policy.transfers_per_seat:
        why.append(
            f"release: this seat moved {done} time(s) in {policy.transfer_window_days} days "
            f"(automatic limit {policy.transfers_per_seat}, shared with transfers)"
        )
        return review
    why.append(
        f"release: {serial} (#{lic.license_no}) revoked, its seat on order {lic.order_id} free "
        f"({done} of {policy.transfers_per_seat} moves used on it)"
    )
    return SerialDecision(
        serial=serial,
        as_found=as_found,
        action=Action.RELEASE,
        order_id=lic.order_id,
        license_no=lic.license_no,
        recipient=lic.customer_email,
    )


def released_decision(result: SerialDecision, why: list[str]) -> Decision:
    """A release carried out: the confirmation goes to the license's (the order's) address."""
    return Decision(
        outcome=Outcome.RELEASED,
        reason=None,
        results=(result,),
        reply_to=result.recipient,
        template=RELEASED_TEMPLATE,
        explanation=tuple(why),
    )


@dataclass(frozen=True)
class ListedLicense:
    """One serial as the list mail shows it."""

    serial: str
    state: str  # "active", "expired" or "revoked"
    expires: date | None  # None: perpetual
    issued: date
    order_id: str | None


LIST_MAX = 200  # more than any customer mails about; the rest is counted, not listed


def expiry_date(lic: License) -> date | None:
    return EPOCH + timedelta(days=lic.expires_day) if lic.expires_day else None


def listed_licenses(licenses: tuple[License, ...], today: date) -> tuple[ListedLicense, ...]:
    """The newest license of each serial, active ones first, then by serial."""
    newest: dict[str, License] = {}
    for lic in sorted(licenses, key=lambda x: x.license_no):
        current = newest.get(lic.serial)
        if current is None or current.state is not LicenseState.ACTIVE:
            newest[lic.serial] = lic
    items = []
    for lic in newest.values():
        expires = expiry_date(lic)
        state = lic.state.value
        if lic.state is LicenseState.ACTIVE and expires is not None and expires < today:
            state = "expired"
        items.append(ListedLicense(lic.serial, state, expires, lic.issued_at.date(), lic.order_id))
    order = {"active": 0, "expired": 1, "revoked": 2}
    return tuple(sorted(items, key=lambda i: (order[i.state], i.serial)))
