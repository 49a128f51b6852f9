"""One mail from bytes to a decision, written once: parse -> classify -> gather -> decide.

The worker (inside the mail's transaction), `queue retry` (on a stored mail, with today's
facts) and `explain` (against a read-only store) all call `evaluate()`; only what they do with
the decision differs. `gather` is the one place the facts a decision rests on are read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from mailbot.config import Settings
from mailbot.core.classify import Classification, Kind, classify
from mailbot.core.decide import decide
from mailbot.core.machine_mail import answers_our_mail
from mailbot.core.model import (
    Action,
    Decision,
    Facts,
    Inbound,
    License,
    Order,
    Outcome,
    Policy,
    Reason,
    SerialStatus,
)
from mailbot.core.terms import in_force
from mailbot.mail.parse import parse_message
from mailbot.store.rows import MessageRef, OutboxRef, SerialItem


class FactsReader(Protocol):
    """What `gather` reads: the store, or the store with a local orders file laid over it."""

    def orders_for_email(self, email: str) -> list[Order]: ...

    def orders_by_reference(self, refs: Iterable[str]) -> list[Order]: ...

    def licenses_for_serials(self, serials: Iterable[str]) -> dict[str, License]: ...

    def active_licenses_for_orders(self, order_ids: Iterable[str]) -> list[License]: ...

    def licenses_of_customer(self, email: str) -> list[License]: ...

    def transfers_in_window(self, seat_keys: Iterable[int], since: datetime) -> dict[int, int]: ...

    def previous_mistyped(self, sender: str) -> int: ...

    def replies_since(self, addresses: Iterable[str], since: datetime) -> int: ...

    def outbox_by_message_ids(self, message_ids: Iterable[str]) -> list[OutboxRef]: ...

    def message_by_message_id(self, message_id: str) -> MessageRef | None: ...

    def answers_in_a_row(self, sender: str, since: datetime, limit: int) -> int: ...


@dataclass(frozen=True)
class Evaluation:
    """A mail decided: what was read, what kind of mail it is, the facts, the decision."""

    inbound: Inbound
    classification: Classification
    facts: Facts | None  # None for a duplicate: nothing was gathered
    decision: Decision
    duplicate_of: int | None = None

    @property
    def serial_items(self) -> tuple[SerialItem, ...]:
        return serial_items(self.inbound, self.decision)


def parse(settings: Settings, raw: bytes) -> Inbound:
    """The project's one parser, with the configured product, authserv id and caps."""
    return parse_message(
        raw,
        product_code=settings.product.code,
        authserv_id=settings.security.authserv_id,
        max_serials=settings.policy.max_serials_per_mail,
    )


def gather(
    reader: FactsReader, inbound: Inbound, cls: Classification, policy: Policy, now: datetime
) -> Facts:
    """Read what the store knows about this sender and these serials."""
    serials = [f.normalized for f in inbound.serials if f.status is SerialStatus.OK]
    if cls.old_serial:
        serials.append(cls.old_serial)
    orders = (
        {o.order_id: o for o in reader.orders_for_email(inbound.sender)} if inbound.sender else {}
    )
    for named in reader.orders_by_reference(inbound.order_refs):
        orders[named.order_id] = named
        for o in reader.orders_for_email(named.email):
            orders[o.order_id] = o
    # A subscription or offline term that ran out (grace included) gives no new seats.
    today = now.date()
    orders = {k: in_force(o, today, policy.subscription_grace_days) for k, o in orders.items()}
    licenses = reader.licenses_for_serials(serials)
    bounced: tuple[str, ...] = ()
    if cls.reason is Reason.BOUNCE and inbound.bounced_message_ids:
        # Only replies to customers: a bounced staff notification escalated would notify the
        # same bouncing address again, and again.
        bounced = tuple(
            r.message_id
            for r in reader.outbox_by_message_ids(inbound.bounced_message_ids)
            if r.kind == "reply"
        )
    # Every address this mail could make us write to: a license for an order named in the
    # mail goes to the order's address, so a colleague asking must not reset that count.
    addresses = {inbound.sender, inbound.reply_to, *(o.email for o in orders.values())}
    return Facts(
        orders=tuple(orders.values()),
        licenses=licenses,
        customer_licenses=tuple(reader.active_licenses_for_orders(orders)),
        transfers_in_window=reader.transfers_in_window(
            [lic.seat_key for lic in licenses.values()],
            now - timedelta(days=policy.transfer_window_days),
        ),
        # Read only when it matters (core/decide.py asks for a serial that is not OK):
        # one statement fewer for nearly every mail.
        previous_mistyped=reader.previous_mistyped(inbound.sender)
        if inbound.sender and any(f.status is not SerialStatus.OK for f in inbound.serials)
        else 0,
        replies_last_hour=reader.replies_since(addresses, now - timedelta(hours=1)),
        bounced_replies=bounced,
        answers_in_a_row=reader.answers_in_a_row(
            inbound.sender, now - timedelta(days=1), policy.loop_after
        )
        if inbound.sender and answers_our_mail(inbound, policy)
        else 0,
        own_licenses=tuple(reader.licenses_of_customer(inbound.sender))
        if inbound.sender and cls.kind is Kind.LIST_LICENSES
        else (),
    )


def evaluate(
    reader: FactsReader,
    inbound: Inbound,
    policy: Policy,
    now: datetime,
    *,
    check_duplicate: bool = True,
    cls: Classification | None = None,
) -> Evaluation:
    """Classify (unless `cls` is given), gather and decide one parsed mail. A mail whose
    Message-ID was processed before is a duplicate (`check_duplicate=False` for a retry of
    that very mail)."""
    cls = cls or classify(inbound, policy)
    if check_duplicate:
        first = reader.message_by_message_id(inbound.message_id)
        if first is not None:
            decision = Decision(
                Outcome.IGNORED,
                Reason.DUPLICATE,
                explanation=(f"the same Message-ID was processed as mail #{first.id}",),
            )
            return Evaluation(inbound, cls, None, decision, duplicate_of=first.id)
    facts = gather(reader, inbound, cls, policy, now)
    return Evaluation(inbound, cls, facts, decide(inbound, cls, facts, policy))


def serial_items(inbound: Inbound, decision: Decision) -> tuple[SerialItem, ...]:
    """Each serial of the mail with what was decided for it, as stored and shown."""
    by_serial = {r.serial: r for r in decision.results}
    items = []
    for f in inbound.serials:
        r = by_serial.get(f.normalized)
        items.append(
            SerialItem(
                serial=f.normalized,
                as_found=f.as_found,
                status=f.status.value,
                new=r is not None and r.action in (Action.ISSUE, Action.TRANSFER),
                action=r.action.value if r else None,
                reason=r.reason.value if r and r.reason else None,
                order_id=r.order_id if r else None,
                old_serial=r.old_serial if r else None,
            )
        )
    return tuple(items)


def facts_snapshot(facts: Facts | None) -> dict[str, Any]:
    """What the bot saw, kept with an escalation for staff."""
    if facts is None:
        return {}
    return {
        "orders": [
            {
                "order_id": o.order_id,
                "email": o.email,
                "seats": o.seats,
                "refunded_seats": o.refunded_seats,
                "status": o.status.value,
                "usable_seats": o.usable_seats,
            }
            for o in facts.orders
        ],
        "licenses": {
            s: {
                "license_no": lic.license_no,
                "customer_email": lic.customer_email,
                "state": lic.state.value,
                "order_id": lic.order_id,
            }
            for s, lic in facts.licenses.items()
        },
        "active_licenses_on_orders": len(facts.customer_licenses),
        "previous_mistyped": facts.previous_mistyped,
        "replies_last_hour": facts.replies_last_hour,
    }
