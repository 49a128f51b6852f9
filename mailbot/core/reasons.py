"""What each escalation reason means, in the two voices that need it: the customer's (a line in
a reply) and staff's (why the bot stopped, in a notification, `queue show` or the console).

One table, so a reason added to `Reason` gets its words here and nowhere else.
"""

from __future__ import annotations

from mailbot.core.model import Reason

# reason -> (what the customer reads, what staff read). "" for the customer: the reply says
# nothing more than that a person will answer.
_WORDS: dict[Reason, tuple[str, str]] = {
    Reason.NO_SERIAL: ("we found no serial number in your mail", "no serial number in the mail"),
    Reason.MISTYPED_SERIAL: (
        "the serial number still does not read correctly",
        "a serial with a wrong check symbol, again after we asked once",
    ),
    Reason.NO_ORDER: (
        "we found no order for your address",
        "no order for the sender's address (or an order it names)",
    ),
    Reason.UNPAID_ORDER: ("the payment has not arrived yet", "the sender's order is not paid"),
    Reason.REFUNDED_ORDER: ("the order was refunded", "the sender's order was refunded"),
    Reason.DISPUTED_ORDER: (
        "the payment is disputed",
        "the payment of the sender's order is disputed",
    ),
    Reason.SEATS_EXHAUSTED: (
        "all licenses of your orders are in use",
        "every paid seat of the sender is in use",
    ),
    Reason.AMBIGUOUS_ORDER: (
        "we could not tell which order it belongs to",
        "the mail names an order of another customer, or several customers",
    ),
    Reason.SERIAL_LICENSED_ELSEWHERE: (
        "this serial is registered to another customer",
        "the serial is licensed to another customer",
    ),
    Reason.SERIAL_REVOKED: (
        "the license of this serial was moved to another PC or released",
        "the serial's license was revoked; only staff may license it again",
    ),
    Reason.TRANSFER_REVIEW: (
        "the transfer needs a person's look",
        "a transfer beyond the automatic limit, or unclear",
    ),
    Reason.RELEASE_REVIEW: (
        "releasing this license needs a person's look",
        "a release by mail that is unclear, of a serial without an active license of the "
        "sender, of a manual grant, or beyond the per-seat limit it shares with transfers",
    ),
    Reason.SENDER_UNVERIFIED: ("", "DMARC/DKIM did not pass: the sender may be forged"),
    Reason.UNREADABLE: ("", "the mail could not be read"),
    Reason.TOO_LARGE: (
        "the mail holds more serial numbers than we process automatically",
        "the mail is over the size cap, or holds too many serials",
    ),
    Reason.QUESTION: (
        "your question needs a person",
        "a question for a person (no license request)",
    ),
    Reason.REPLY_BOUNCED: ("", "our reply could not be delivered"),
    Reason.PAYMENT_EXPIRED: ("", "a pay-link request was not paid in time"),
    Reason.INTERNAL_ERROR: ("", "mailbot failed while deciding (the traceback is kept)"),
    Reason.REPLY_LOOP: (
        "",
        "the sender keeps answering our mail with nothing new: a robot in a "
        "loop, not answered for a day",
    ),
    Reason.STAFF_REPLY_REFUSED: (
        "",
        "a mail to a staff reply address that was not sent on to the customer: the token, "
        "the sender, its DMARC check, the escalation's state or an empty answer did not allow "
        "it (see docs/reply-by-mail.md)",
    ),
    Reason.SEATS_REDUCED: (
        "",
        "a subscription's quantity fell below the licenses in use: nothing was revoked; "
        "decide with finance which to revoke, or keep them",
    ),
}


def customer_text(reason: Reason | str | None) -> str:
    """The reason as a customer reads it in a reply ("" for none or an ignore reason)."""
    found = _lookup(reason)
    return _WORDS[found][0] if found in _WORDS else ""


def staff_text(reason: Reason | str | None) -> str:
    """The reason as staff read it; an unknown reason is shown as it is."""
    found = _lookup(reason)
    if found in _WORDS:
        return _WORDS[found][1]
    return str(reason or "")


def _lookup(reason: Reason | str | None) -> Reason | None:
    if reason is None or isinstance(reason, Reason):
        return reason
    try:
        return Reason(reason)
    except ValueError:
        return None
