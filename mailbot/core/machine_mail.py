"""Checks for mail no person wrote: our own, loops, bounces, reports and auto-replies. Pure.

Each check is `(Inbound, Policy) -> Hit | None`, in words staff can read. Complaints (ARF
feedback reports) and read receipts (disposition notifications) are `auto_reply`: machine
generated, answering them can only do harm, and neither is a bounce of our mail. A DSN whose
returned message is one of ours is still a `bounce` here; the worker, which knows our
Message-IDs, turns it into `reply_bounced`. The order they run in is `classify.CHECKS`.
"""

from __future__ import annotations

import re

from mailbot.core.classification import Hit, Kind
from mailbot.core.model import Inbound, Policy, Reason


def _first(inbound: Inbound, name: str) -> str:
    values = inbound.headers.get(name, ())
    return values[0].strip() if values else ""


def _local_part(address: str) -> str:
    return address.rsplit("@", 1)[0].strip().lower() if address else ""


def own_mail(inbound: Inbound, policy: Policy) -> Hit | None:
    ours = {a.lower() for a in policy.our_addresses}
    if inbound.sender and inbound.sender in ours:
        return Hit(Kind.IGNORE, Reason.OWN_MAIL, (f"Sent from our own address {inbound.sender}.",))
    return None


def loop(inbound: Inbound, policy: Policy) -> Hit | None:
    if inbound.headers.get("x-mailbot-loop"):
        return Hit(
            Kind.IGNORE,
            Reason.LOOP,
            ("Carries our own X-Mailbot-Loop marker: a mail of ours came back.",),
        )
    ours = {a.lower() for a in policy.our_addresses}
    for value in inbound.headers.get("x-loop", ()):
        lowered = value.lower()
        named = next((a for a in ours if a and a in lowered), None)
        if named:
            return Hit(Kind.IGNORE, Reason.LOOP, (f"X-Loop names our address {named}.",))
    return None


_BOUNCE_SENDERS = frozenset(
    {"mailer-daemon", "mailerdaemon", "mail-delivery-subsystem", "mail.delivery.subsystem"}
)
_BOUNCE_SUBJECT = re.compile(
    r"^\s*(?:undeliverable|undelivered mail|unzustellbar|nicht zustellbar|non remis"
    r"|non recapitabile|no se puede entregar|delivery status notification \((?:failure|delay)\)"
    r"|mail delivery failed|returned mail|delivery failure|failure notice|mail system error"
    r"|delivery has failed|delivery notification|warning: could not send message"
    r"|undeliverable mail)",
    re.IGNORECASE,
)
_DSN_WORDS = re.compile(
    r"could not be delivered|undeliverable|delivery (?:has )?failed|failed permanently"
    r"|returned to sender|delivery status notification|diagnostic-code|final-recipient"
    r"|mailbox (?:is )?(?:full|unavailable)|user unknown|recipient (?:address )?rejected"
    r"|unzustellbar|konnte nicht zugestellt",
    re.IGNORECASE,
)


def bounce(inbound: Inbound, policy: Policy) -> Hit | None:
    dsn = inbound.report_type == "delivery-status"
    if dsn or inbound.content_type == "message/delivery-status":
        return Hit(
            Kind.IGNORE,
            Reason.BOUNCE,
            (f"A delivery status notification ({inbound.content_type}, delivery-status).",),
        )
    # A bare "MAILER-DAEMON" is no address we may answer, but it says who sent the mail.
    sender = inbound.sender or inbound.sender_claimed
    local = _local_part(sender)
    if local in _BOUNCE_SENDERS:
        return Hit(Kind.IGNORE, Reason.BOUNCE, (f"Sent by the mail system ({sender}).",))
    if local == "postmaster" and _DSN_WORDS.search(f"{inbound.subject}\n{inbound.text}"):
        # A postmaster is also a person who may write to us; only their failure reports are
        # bounces.
        return Hit(
            Kind.IGNORE,
            Reason.BOUNCE,
            (f"A delivery failure report from {sender}.",),
        )
    if inbound.headers.get("x-failed-recipients"):
        return Hit(
            Kind.IGNORE, Reason.BOUNCE, ("Has an X-Failed-Recipients header: a delivery failure.",)
        )
    if _BOUNCE_SUBJECT.match(inbound.subject):
        return Hit(
            Kind.IGNORE, Reason.BOUNCE, (f"The subject says delivery failed: {inbound.subject!r}.",)
        )
    null_sender = any(v.strip() == "<>" for v in inbound.headers.get("return-path", ()))
    if null_sender and _DSN_WORDS.search(f"{inbound.subject}\n{inbound.text}"):
        return Hit(
            Kind.IGNORE,
            Reason.BOUNCE,
            ("Null envelope sender and the text reports a delivery failure.",),
        )
    return None


def machine_report(inbound: Inbound, policy: Policy) -> Hit | None:
    """Complaints (ARF) and read receipts (MDN): machine-generated, never answered."""
    if inbound.report_type == "feedback-report" or inbound.headers.get("feedback-type"):
        return Hit(
            Kind.IGNORE,
            Reason.AUTO_REPLY,
            ("A spam complaint / feedback report (ARF): machine-generated, not answered.",),
        )
    if inbound.report_type == "disposition-notification":
        return Hit(
            Kind.IGNORE,
            Reason.AUTO_REPLY,
            ("A read receipt (disposition notification): machine-generated, not answered.",),
        )
    return None


_AUTO_PRECEDENCE = frozenset({"bulk", "junk", "list", "auto_reply", "auto-reply"})
_AUTO_SUBJECT = re.compile(
    r"^\s*(?:out of (?:the )?office|automatic reply|auto(?:matic)?[ -]?reply|autoreply|auto:"
    r"|automatische antwort|abwesenheitsnotiz|r[ée]ponse automatique"
    r"|respuesta autom[áa]tica|risposta automatica|fuori sede|autosvar|automatisch antwoord)",
    re.IGNORECASE,
)


def auto_reply(inbound: Inbound, policy: Policy) -> Hit | None:
    submitted = _first(inbound, "auto-submitted").split(";")[0].strip().lower()
    if submitted and submitted != "no":
        return Hit(Kind.IGNORE, Reason.AUTO_REPLY, (f"Auto-Submitted: {submitted} (RFC 3834).",))
    for name in ("x-autoreply", "x-autorespond", "x-autogenerated"):
        if inbound.headers.get(name):
            return Hit(Kind.IGNORE, Reason.AUTO_REPLY, (f"Has an {name} header.",))
    precedence = _first(inbound, "precedence").lower()
    if precedence in _AUTO_PRECEDENCE:
        return Hit(Kind.IGNORE, Reason.AUTO_REPLY, (f"Precedence: {precedence}.",))
    for name in ("list-id", "list-unsubscribe"):
        if inbound.headers.get(name):
            return Hit(Kind.IGNORE, Reason.AUTO_REPLY, (f"Mailing-list mail ({name} header).",))
    source = _first(inbound, "x-ms-exchange-generated-message-source")
    if source:
        return Hit(
            Kind.IGNORE,
            Reason.AUTO_REPLY,
            (f"Generated by Exchange ({source}), e.g. an out-of-office reply.",),
        )
    if _AUTO_SUBJECT.match(inbound.subject):
        return Hit(
            Kind.IGNORE,
            Reason.AUTO_REPLY,
            (f"The subject marks an automatic reply: {inbound.subject!r}.",),
        )
    return None


def answers_our_mail(inbound: Inbound, policy: Policy) -> bool:
    """Whether the mail answers one of ours: it names, as In-Reply-To or in References, a
    Message-ID of the kind we make (mailbot.<hex>@ one of our domains)."""
    domains = {a.rpartition("@")[2].lower() for a in policy.our_addresses}
    for message_id in (inbound.in_reply_to, *inbound.references[-3:]):
        local, _, domain = message_id.lower().rpartition("@")
        if local.startswith("mailbot.") and domain in domains:
            return True
    return False
