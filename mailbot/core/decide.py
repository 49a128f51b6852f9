"""The decision: from one classified mail and the facts about its sender, what to do.

Pure: values in, a Decision out. No clock reads, no database, no network; the worker gathers the
facts first and applies the decision afterwards, in one transaction. Everything a person might
later ask ("why did the bot do that?") is in `Decision.explanation`.

Rules (docs/contract.md, "Licensing rules"):
- a serial that already has an active license is re-sent, to the license's customer, and uses
  no seat; licensed to someone else, a person decides;
- a new serial takes a free seat from the customer's paid orders (pooled, oldest order first;
  `seat_pool.py`);
- no seat: a pay link when one is configured, else a person decides, with the precise reason;
- a transfer revokes the old license and licenses the new serial on the same seat, within the
  configured number of transfers per seat and window;
- a mistyped serial gets one request to paste it again; the second time, a person;
- "which licenses do I have" and "release SERIAL" are the customer's own (`self_service.py`).
"""

from __future__ import annotations

from dataclasses import replace

from mailbot.core.authenticate import sender_verdict
from mailbot.core.classify import Classification, Kind
from mailbot.core.machine_mail import answers_our_mail
from mailbot.core.model import (
    ACTION_OUTCOME,
    OUTCOME_PRIORITY,
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
    SerialFinding,
    SerialStatus,
)
from mailbot.core.seat_pool import SeatPool, customer_pool
from mailbot.core.self_service import decide_list, decide_release, released_decision

LICENSE_BEARING = frozenset({Action.ISSUE, Action.RESEND, Action.TRANSFER})


def decide(inbound: Inbound, cls: Classification, facts: Facts, policy: Policy) -> Decision:
    why = list(cls.explanation)

    if cls.kind is Kind.IGNORE:
        if cls.reason is Reason.BOUNCE and facts.bounced_replies:
            why.append(f"the bounce names our reply {', '.join(facts.bounced_replies)}")
            return Decision(Outcome.ESCALATED, Reason.REPLY_BOUNCED, explanation=tuple(why))
        return Decision(Outcome.IGNORED, cls.reason, explanation=tuple(why))

    if facts.replies_last_hour >= policy.max_replies_per_hour:
        why.append(
            f"{facts.replies_last_hour} replies to {inbound.sender} (or addresses its request "
            f"concerns) in the last hour "
            f"(limit {policy.max_replies_per_hour})"
        )
        return Decision(Outcome.IGNORED, Reason.RATE_LIMITED, explanation=tuple(why))

    if (
        facts.answers_in_a_row >= policy.loop_after
        and answers_our_mail(inbound, policy)
        and not _brings_new_serials(inbound, facts)
    ):
        # A robot without RFC 3834 headers answering every reply of ours: the hourly limit
        # alone would let it go on all day. One escalation, then silence for a day.
        why.append(
            f"{inbound.sender} answered our mail {facts.answers_in_a_row} times in a row within "
            "a day, bringing nothing new: a mail loop"
        )
        if facts.answers_in_a_row == policy.loop_after:
            return _escalate_mail(inbound, Reason.REPLY_LOOP, why, policy, acknowledge=False)
        return Decision(Outcome.IGNORED, Reason.LOOP, explanation=tuple(why))

    if not inbound.sender and cls.reason is not Reason.UNREADABLE:
        # No one address we could answer (several, none, a malformed one): never replied to,
        # never licensed; a person looks.
        why.append(next((p for p in inbound.problems if "From" in p), "no usable From address"))
        return _escalate_mail(inbound, Reason.SENDER_UNVERIFIED, why, policy, acknowledge=False)

    new_machines = _transfer_of_nothing(inbound, cls, facts)
    if cls.kind is Kind.ESCALATE and not new_machines:
        assert cls.reason is not None
        return _escalate_mail(inbound, cls.reason, why, policy, acknowledge=_may_ack(cls.reason))

    verdict = sender_verdict(inbound, policy.require_dmarc_pass, policy.authserv_id)
    if verdict:
        why.append(verdict)
        # No acknowledgement: the From may be forged, and a reply would be backscatter.
        return _escalate_mail(inbound, Reason.SENDER_UNVERIFIED, why, policy, acknowledge=False)

    if cls.kind in (Kind.LIST_LICENSES, Kind.RELEASE):
        return _self_service(inbound, cls, facts, policy, why)

    pool = customer_pool(inbound, facts, why)
    if isinstance(pool, Reason):
        return _escalate_mail(inbound, pool, why, policy, acknowledge=True)

    if new_machines:
        ok = sum(f.status is SerialStatus.OK for f in inbound.serials)
        if pool.total_free >= ok:
            why.append(
                "none of its serials has a license yet, so nothing moves: new PCs, "
                "licensed from free seats"
            )
            return _finish(inbound, _requests(inbound, facts, policy, pool, why), policy, why)
        # Not enough seats: it may be a move of a license issued outside mailbot.
        why.append(
            "none of its serials has a license yet, and there are not enough free "
            "seats to license them all as new PCs"
        )
        if cls.kind is Kind.ESCALATE:
            assert cls.reason is not None
            return _escalate_mail(inbound, cls.reason, why, policy, acknowledge=True)

    if cls.kind is Kind.TRANSFER:
        assert cls.old_serial and cls.new_serial
        results = [_transfer(inbound, cls.old_serial, cls.new_serial, facts, policy, pool, why)]
    else:
        results = _requests(inbound, facts, policy, pool, why)
    return _finish(inbound, results, policy, why)


def _self_service(
    inbound: Inbound, cls: Classification, facts: Facts, policy: Policy, why: list[str]
) -> Decision:
    """ "Which licenses do I have" and "release SERIAL" (core/self_service.py)."""
    if cls.kind is Kind.LIST_LICENSES:
        listed = decide_list(inbound, facts, why)
        if isinstance(listed, Reason):
            return _escalate_mail(inbound, listed, why, policy, acknowledge=True)
        return listed
    result = decide_release(inbound, cls, facts, policy, why)
    if isinstance(result, Reason):
        return _escalate_mail(inbound, result, why, policy, acknowledge=True)
    if result.action is Action.RELEASE:
        return released_decision(result, why)
    return _finish(inbound, [result], policy, why)


def _brings_new_serials(inbound: Inbound, facts: Facts) -> bool:
    return any(
        f.status is SerialStatus.OK and f.normalized not in facts.licenses for f in inbound.serials
    )


def _transfer_of_nothing(inbound: Inbound, cls: Classification, facts: Facts) -> bool:
    """Transfer wording ("new computer", "replace") around serials none of which was ever
    licensed: new machines, not moved ones."""
    transfer_like = cls.kind is Kind.TRANSFER or (
        cls.kind is Kind.ESCALATE and cls.reason is Reason.TRANSFER_REVIEW
    )
    ok = [f.normalized for f in inbound.serials if f.status is SerialStatus.OK]
    return transfer_like and bool(ok) and not any(s in facts.licenses for s in ok)


def _requests(
    inbound: Inbound, facts: Facts, policy: Policy, pool: SeatPool, why: list[str]
) -> list[SerialDecision]:
    results = []
    for found in inbound.serials:
        results.append(_one_serial(found, facts, policy, pool, why))
    return results


def _one_serial(
    found: SerialFinding, facts: Facts, policy: Policy, pool: SeatPool, why: list[str]
) -> SerialDecision:
    base = SerialDecision(serial=found.normalized, as_found=found.as_found, action=Action.CLARIFY)
    if found.status is not SerialStatus.OK:
        if facts.previous_mistyped == 0:
            why.append(f"{found.as_found!r} is {found.status.value}: ask the customer again")
            return base
        why.append(f"{found.as_found!r} is {found.status.value} again after we asked once")
        return replace(base, action=Action.ESCALATE, reason=Reason.MISTYPED_SERIAL)

    lic = facts.licenses.get(found.normalized)
    if lic is not None:
        return _existing(base, lic, pool, why)

    order_id = pool.take_seat()
    if order_id is not None:
        why.append(f"{found.normalized}: new, takes a seat of order {order_id}")
        return replace(base, action=Action.ISSUE, order_id=order_id, recipient=pool.email)
    reason = pool.shortage_reason()
    if policy.payment_link and reason in (
        Reason.NO_ORDER,
        Reason.SEATS_EXHAUSTED,
        Reason.UNPAID_ORDER,
    ):
        why.append(f"{found.normalized}: {reason.value}; the customer gets the pay link")
        return replace(base, action=Action.AWAIT_PAYMENT, reason=reason)
    why.append(f"{found.normalized}: {reason.value}")
    return replace(base, action=Action.ESCALATE, reason=reason)


def _existing(base: SerialDecision, lic: License, pool: SeatPool, why: list[str]) -> SerialDecision:
    if lic.state is LicenseState.REVOKED:
        why.append(f"{lic.serial}: its license #{lic.license_no} was revoked; staff decide")
        return replace(
            base, action=Action.ESCALATE, reason=Reason.SERIAL_REVOKED, license_no=lic.license_no
        )
    if lic.customer_email == pool.email:
        why.append(f"{lic.serial}: already licensed (#{lic.license_no}); re-send, no new seat")
        return replace(
            base,
            action=Action.RESEND,
            license_no=lic.license_no,
            order_id=lic.order_id,
            recipient=lic.customer_email,
        )
    why.append(f"{lic.serial}: licensed to another customer (#{lic.license_no})")
    return replace(
        base,
        action=Action.ESCALATE,
        reason=Reason.SERIAL_LICENSED_ELSEWHERE,
        license_no=lic.license_no,
    )


def _transfer(
    inbound: Inbound,
    old: str,
    new: str,
    facts: Facts,
    policy: Policy,
    pool: SeatPool,
    why: list[str],
) -> SerialDecision:
    as_found = next((f.as_found for f in inbound.serials if f.normalized == new), new)
    review = SerialDecision(
        serial=new,
        as_found=as_found,
        action=Action.ESCALATE,
        reason=Reason.TRANSFER_REVIEW,
        old_serial=old,
    )
    old_lic = facts.licenses.get(old)
    if old_lic is None or old_lic.state is not LicenseState.ACTIVE:
        why.append(f"transfer: the old serial {old} has no active license")
        return review
    if old_lic.customer_email != pool.email:
        why.append(f"transfer: {old} is licensed to another customer")
        return review
    if new in facts.licenses:
        why.append(f"transfer: the new serial {new} already has a license")
        return review
    done = facts.transfers_in_window.get(old_lic.seat_key, 0)
    if done >= policy.transfers_per_seat:
        why.append(
            f"transfer: this seat moved {done} time(s) in {policy.transfer_window_days} days "
            f"(automatic limit {policy.transfers_per_seat})"
        )
        return review
    why.append(
        f"transfer: {old} -> {new} on the same seat ({done + 1} of "
        f"{policy.transfers_per_seat} allowed)"
    )
    return SerialDecision(
        serial=new,
        as_found=as_found,
        action=Action.TRANSFER,
        order_id=old_lic.order_id,
        license_no=old_lic.license_no,
        old_serial=old,
        recipient=old_lic.customer_email,
    )


def _finish(
    inbound: Inbound, results: list[SerialDecision], policy: Policy, why: list[str]
) -> Decision:
    # One reply per mail: every license it carries goes to one address. Should the results
    # point at two (they cannot today, but the rule is cheap to keep), the odd ones wait for a
    # person rather than travel to the wrong inbox.
    recipient = next((r.recipient for r in results if r.action in LICENSE_BEARING), "")
    results = [
        replace(r, action=Action.ESCALATE, reason=Reason.AMBIGUOUS_ORDER)
        if r.action in LICENSE_BEARING and r.recipient != recipient
        else r
        for r in results
    ]
    outcomes = {ACTION_OUTCOME[r.action] for r in results}
    outcome = next(o for o in OUTCOME_PRIORITY if o in outcomes)
    reason = next((r.reason for r in results if r.action is Action.ESCALATE), None)
    if outcome is not Outcome.ESCALATED:
        reason = None
    carries_license = bool(recipient)
    if carries_license:
        reply_to = recipient
    elif outcome is Outcome.ESCALATED and not policy.acknowledge_escalations:
        reply_to = ""
    else:
        reply_to = _answer_address(inbound, policy)
    return Decision(
        outcome=outcome,
        reason=reason,
        results=tuple(results),
        reply_to=reply_to,
        template=outcome.value if reply_to else "",
        explanation=tuple(why),
    )


def _answer_address(inbound: Inbound, policy: Policy) -> str:
    """Where a reply without a license goes; "" when that is one of our own addresses (a
    Reply-To naming us would make us write to ourselves)."""
    address = inbound.reply_address
    return "" if address in {a.lower() for a in policy.our_addresses} else address


def _may_ack(reason: Reason) -> bool:
    # Unreadable or oversized mail may come from anything; acknowledging it invites loops.
    return reason not in (Reason.UNREADABLE, Reason.TOO_LARGE)


def _escalate_mail(
    inbound: Inbound, reason: Reason, why: list[str], policy: Policy, acknowledge: bool
) -> Decision:
    results = tuple(
        SerialDecision(
            serial=f.normalized, as_found=f.as_found, action=Action.ESCALATE, reason=reason
        )
        for f in inbound.serials
    )
    address = _answer_address(inbound, policy)
    send_ack = acknowledge and policy.acknowledge_escalations and bool(address)
    return Decision(
        outcome=Outcome.ESCALATED,
        reason=reason,
        results=results,
        reply_to=address if send_ack else "",
        template=Outcome.ESCALATED.value if send_ack else "",
        explanation=tuple(why),
    )
