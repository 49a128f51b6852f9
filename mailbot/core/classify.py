"""What kind of mail is this: ignore, escalate, a transfer, or a license request. Pure.

The checks are small named functions in one ordered table (the shape of GNU Mailman's rules and
chains): the first that hits decides, and its words go to staff as the explanation. The order
matters and is the policy: machine mail (our own, loops, bounces, complaints, auto-replies) is
recognised before anything looks at serials, so no robot ever gets an answer; then size; then
transfer before plain requests, because a transfer mail also carries serials; a customer's own
"release SERIAL" and "which licenses do I have" (`self_service_mail.py`) around requests.

The checks live by what they read: `machine_mail.py` (our own mail, loops, bounces, reports,
auto-replies), `human_mail.py` (transfers, requests, follow-ups, questions) and, here, the two
about the mail itself (unreadable, too many serials). The order is this file's `CHECKS` alone.
"""

from __future__ import annotations

from mailbot.core.classification import Check, Classification, Hit, Kind
from mailbot.core.human_mail import (
    anything_else,
    follow_up,
    no_serial,
    question,
    request,
    server_question,
    transfer,
)
from mailbot.core.machine_mail import auto_reply, bounce, loop, machine_report, own_mail
from mailbot.core.model import Inbound, Policy, Reason
from mailbot.core.self_service_mail import list_licenses, release

__all__ = ["CHECKS", "Check", "Classification", "Hit", "Kind", "classify"]


# --- what the mail is, before who wrote it -----------------------------------------------------


def unreadable(inbound: Inbound, policy: Policy) -> Hit | None:
    if inbound.readable:
        return None
    why = "; ".join(inbound.problems[:3]) or "nothing readable in it"
    return Hit(Kind.ESCALATE, Reason.UNREADABLE, (f"The mail could not be read: {why}.",))


def too_many_serials(inbound: Inbound, policy: Policy) -> Hit | None:
    if not inbound.too_many_serials:
        return None
    return Hit(
        Kind.ESCALATE,
        Reason.TOO_LARGE,
        (f"More than {policy.max_serials_per_mail} serial-like strings in one mail.",),
    )


# The policy, in order. The first check that hits decides.
CHECKS: tuple[tuple[str, Check], ...] = (
    ("unreadable", unreadable),
    ("own_mail", own_mail),
    ("loop", loop),
    ("bounce", bounce),
    ("machine_report", machine_report),
    ("auto_reply", auto_reply),
    ("too_many_serials", too_many_serials),
    ("transfer", transfer),
    # After transfers (two serials and "new PC" are a move, not a release), before requests
    # (a release names a serial too).
    ("release", release),
    ("request", request),
    # Before follow-ups and questions: a reply to our license mail that asks for the list
    # quotes serials and ends in "?".
    ("list_licenses", list_licenses),
    ("follow_up", follow_up),
    ("server_question", server_question),
    ("question", question),
    ("no_serial", no_serial),
    ("anything_else", anything_else),
)


def classify(inbound: Inbound, policy: Policy) -> Classification:
    for _name, check in CHECKS:
        hit = check(inbound, policy)
        if hit is not None:
            return Classification(
                kind=hit.kind,
                reason=hit.reason,
                explanation=hit.words,
                old_serial=hit.old_serial,
                new_serial=hit.new_serial,
            )
    raise AssertionError("anything_else always hits")  # pragma: no cover
