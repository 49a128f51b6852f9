"""The decision step, with no I/O at all: plain values in, a Decision out."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.core.classify import Classification, Kind
from mailbot.core.decide import decide
from mailbot.core.model import (
    Action,
    AuthResult,
    LicenseState,
    OrderStatus,
    Outcome,
    Policy,
    Reason,
)
from mailbot.core.serials import SerialStatus
from tests.builders import facts, finding, inbound, license_, mistyped, new_serial, order

POLICY = Policy(our_addresses=frozenset({"support@amphis.example"}))
REQUEST = Classification(Kind.REQUEST, None, ())


def test_new_serial_with_a_free_seat_is_issued_to_the_order_email() -> None:
    s = new_serial()
    d = decide(inbound(serials=(s,)), REQUEST, facts((order(seats=1),)), POLICY)
    assert d.outcome is Outcome.ISSUED
    assert d.results[0].action is Action.ISSUE
    assert d.results[0].order_id == "ORD-1"
    assert d.reply_to == "alice@northwind.example"


def test_license_never_goes_to_a_differing_reply_to() -> None:
    s = new_serial()
    mail = inbound(serials=(s,), reply_to="attacker@evil.example")
    d = decide(mail, REQUEST, facts((order(),)), POLICY)
    assert d.outcome is Outcome.ISSUED
    assert d.reply_to == "alice@northwind.example"


def test_already_licensed_serial_is_resent_and_uses_no_seat() -> None:
    s = new_serial()
    other = new_serial()
    lic = license_(s)
    # One seat, already used by s: re-sending s must still work, a new serial must not.
    d = decide(inbound(serials=(s,)), REQUEST, facts((order(seats=1),), (lic,)), POLICY)
    assert d.outcome is Outcome.RESENT and d.results[0].license_no == 1
    d2 = decide(inbound(serials=(other,)), REQUEST, facts((order(seats=1),), (lic,)), POLICY)
    assert d2.outcome is Outcome.ESCALATED and d2.reason is Reason.SEATS_EXHAUSTED


def test_serial_licensed_to_someone_else_is_escalated() -> None:
    s = new_serial()
    lic = license_(s, email="bob@contoso.example")
    d = decide(inbound(serials=(s,)), REQUEST, facts((order(),), (lic,)), POLICY)
    assert d.outcome is Outcome.ESCALATED
    assert d.reason is Reason.SERIAL_LICENSED_ELSEWHERE


def test_revoked_serial_needs_staff() -> None:
    s = new_serial()
    lic = license_(s, state=LicenseState.REVOKED)
    d = decide(inbound(serials=(s,)), REQUEST, facts((order(seats=3),), (lic,)), POLICY)
    assert d.reason is Reason.SERIAL_REVOKED


def test_seats_pool_across_orders_oldest_first() -> None:
    from datetime import timedelta

    from tests.builders import T0

    a = order("ORD-A", seats=1, created=T0 - timedelta(days=30))
    b = order("ORD-B", seats=2, created=T0)
    serials = tuple(new_serial() for _ in range(3))
    d = decide(inbound(serials=serials), REQUEST, facts((b, a)), POLICY)
    assert d.outcome is Outcome.ISSUED
    assert [r.order_id for r in d.results] == ["ORD-A", "ORD-B", "ORD-B"]


def test_one_seat_short_issues_the_rest_and_escalates_the_mail() -> None:
    serials = tuple(new_serial() for _ in range(5))
    d = decide(inbound(serials=serials), REQUEST, facts((order(seats=4),)), POLICY)
    assert d.outcome is Outcome.ESCALATED
    assert d.reason is Reason.SEATS_EXHAUSTED
    assert [r.action for r in d.results].count(Action.ISSUE) == 4
    assert d.reply_to == "alice@northwind.example"  # the four licenses still go out


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (OrderStatus.REFUNDED, Reason.REFUNDED_ORDER),
        (OrderStatus.DISPUTED, Reason.DISPUTED_ORDER),
        (OrderStatus.UNPAID, Reason.UNPAID_ORDER),
    ],
)
def test_orders_that_are_not_paid_give_no_seat(status: OrderStatus, reason: Reason) -> None:
    d = decide(inbound(serials=(new_serial(),)), REQUEST, facts((order(status=status),)), POLICY)
    assert d.outcome is Outcome.ESCALATED and d.reason is reason


def test_partial_refund_removes_seats() -> None:
    o = order(seats=3, refunded_seats=2)
    lic = license_(new_serial())
    d = decide(inbound(serials=(new_serial(),)), REQUEST, facts((o,), (lic,)), POLICY)
    assert d.reason is Reason.SEATS_EXHAUSTED


def test_no_order_escalates_or_sends_the_pay_link_when_configured() -> None:
    mail = inbound(serials=(new_serial(),))
    assert decide(mail, REQUEST, facts(), POLICY).reason is Reason.NO_ORDER
    with_link = replace(POLICY, payment_link="https://buy.stripe.com/test_x")
    d = decide(mail, REQUEST, facts(), with_link)
    assert d.outcome is Outcome.AWAITING_PAYMENT
    assert d.reply_to == mail.sender
    # A refunded order is not something a pay link fixes.
    refunded = facts((order(status=OrderStatus.REFUNDED),))
    assert decide(mail, REQUEST, refunded, with_link).reason is Reason.REFUNDED_ORDER


def test_mistyped_serial_first_clarify_then_escalate() -> None:
    bad = mistyped(new_serial())
    mail = inbound(serials=(finding(bad, SerialStatus.MISTYPED),))
    d = decide(mail, REQUEST, facts((order(),)), POLICY)
    assert d.outcome is Outcome.CLARIFY and d.reply_to == mail.sender
    d2 = decide(mail, REQUEST, facts((order(),), previous_mistyped=1), POLICY)
    assert d2.outcome is Outcome.ESCALATED and d2.reason is Reason.MISTYPED_SERIAL


def test_order_reference_from_a_colleague_at_the_same_company() -> None:
    o = order("ORD-7", email="it@fabrikam.example", seats=2)
    mail = inbound("pat@fabrikam.example", (new_serial(),), order_refs=("ORD-7",))
    d = decide(mail, REQUEST, facts((o,)), POLICY)
    assert d.outcome is Outcome.ISSUED
    assert d.reply_to == "it@fabrikam.example"  # the order's address, not the sender's


def test_order_reference_of_a_stranger_is_ambiguous() -> None:
    o = order("ORD-7", email="it@fabrikam.example")
    mail = inbound("mallory@gmail.com", (new_serial(),), order_refs=("ORD-7",))
    assert decide(mail, REQUEST, facts((o,)), POLICY).reason is Reason.AMBIGUOUS_ORDER
    # Sharing a freemail domain proves nothing.
    o2 = order("ORD-8", email="owner@gmail.com")
    mail2 = inbound("mallory@gmail.com", (new_serial(),), order_refs=("ORD-8",))
    assert decide(mail2, REQUEST, facts((o2,)), POLICY).reason is Reason.AMBIGUOUS_ORDER


def test_transfer_within_the_limit() -> None:
    old, new = new_serial(), new_serial()
    lic = license_(old, no=5)
    cls = Classification(Kind.TRANSFER, None, (), old_serial=old, new_serial=new)
    mail = inbound(serials=(old, new))
    d = decide(mail, cls, facts((order(),), (lic,)), POLICY)
    assert d.outcome is Outcome.TRANSFERRED
    r = d.results[0]
    assert (r.serial, r.old_serial, r.license_no) == (new, old, 5)


def test_transfer_beyond_the_limit_goes_to_a_person() -> None:
    old, new = new_serial(), new_serial()
    lic = license_(old, no=5, seat_key=2)
    cls = Classification(Kind.TRANSFER, None, (), old_serial=old, new_serial=new)
    f = facts((order(),), (lic,), transfers_in_window={2: 2})
    d = decide(inbound(serials=(old, new)), cls, f, POLICY)
    assert d.outcome is Outcome.ESCALATED and d.reason is Reason.TRANSFER_REVIEW


def test_transfer_of_someone_elses_serial_goes_to_a_person() -> None:
    old, new = new_serial(), new_serial()
    lic = license_(old, email="bob@contoso.example")
    cls = Classification(Kind.TRANSFER, None, (), old_serial=old, new_serial=new)
    d = decide(inbound(serials=(old, new)), cls, facts((order(),), (lic,)), POLICY)
    assert d.reason is Reason.TRANSFER_REVIEW


def test_dmarc_fail_never_gets_a_license_and_no_reply() -> None:
    header = "mx.amphis.example; dkim=fail header.d=northwind.example; dmarc=fail"
    mail = inbound(
        serials=(new_serial(),),
        auth=AuthResult(dmarc="fail"),
        headers={"authentication-results": (header,)},
    )
    ours = replace(POLICY, authserv_id="mx.amphis.example")
    d = decide(mail, REQUEST, facts((order(),)), ours)
    assert d.outcome is Outcome.ESCALATED and d.reason is Reason.SENDER_UNVERIFIED
    assert d.reply_to == ""


def test_rate_limit_ignores() -> None:
    d = decide(
        inbound(serials=(new_serial(),)),
        REQUEST,
        facts((order(),), replies_last_hour=POLICY.max_replies_per_hour),
        POLICY,
    )
    assert d.outcome is Outcome.IGNORED and d.reason is Reason.RATE_LIMITED


def test_ignore_and_bounce_of_our_own_reply() -> None:
    bounce = Classification(Kind.IGNORE, Reason.BOUNCE, ("a DSN",))
    mail = inbound("mailer-daemon@mx.example", bounced_message_ids=("mailbot.1@amphis.example",))
    assert decide(mail, bounce, facts(), POLICY).outcome is Outcome.IGNORED
    d = decide(mail, bounce, facts(bounced_replies=("mailbot.1@amphis.example",)), POLICY)
    assert d.outcome is Outcome.ESCALATED and d.reason is Reason.REPLY_BOUNCED
    assert d.reply_to == ""  # a bounce is never answered


def test_escalation_acknowledgement_follows_policy() -> None:
    question = Classification(Kind.ESCALATE, Reason.QUESTION, ("a question",))
    mail = inbound()
    assert decide(mail, question, facts(), POLICY).template == "escalated"
    quiet = replace(POLICY, acknowledge_escalations=False)
    assert decide(mail, question, facts(), quiet).reply_to == ""
    unreadable = Classification(Kind.ESCALATE, Reason.UNREADABLE, ())
    assert decide(mail, unreadable, facts(), POLICY).reply_to == ""


@settings(max_examples=200, deadline=None)
@given(seats=st.integers(0, 6), licensed=st.integers(0, 6), asked=st.integers(1, 8))
def test_never_more_licenses_than_seats(seats: int, licensed: int, asked: int) -> None:
    """Whatever the numbers, issues never exceed free seats and the outcome ranks correctly."""
    licensed = min(licensed, seats)
    held = tuple(license_(new_serial(), no=i + 1) for i in range(licensed))
    mail = inbound(serials=tuple(new_serial() for _ in range(asked)))
    d = decide(mail, REQUEST, facts((order(seats=seats),), held), POLICY)
    issued = sum(r.action is Action.ISSUE for r in d.results)
    assert issued == min(asked, seats - licensed)
    expected = Outcome.ESCALATED if asked > seats - licensed else Outcome.ISSUED
    assert d.outcome is expected


def test_a_mail_without_one_usable_sender_is_never_answered() -> None:
    """From named several addresses (or none we could write to): no license, no reply, not
    even to a Reply-To; a person looks."""
    s = new_serial()
    mail = inbound(
        serials=(s,),
        sender="",
        reply_to="eve@evil.example",
        problems=("From holds several addresses",),
    )
    d = decide(mail, REQUEST, facts((order(),)), POLICY)
    assert (d.outcome, d.reason, d.reply_to) == (Outcome.ESCALATED, Reason.SENDER_UNVERIFIED, "")
    assert "From holds several addresses" in d.explanation
