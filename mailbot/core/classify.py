"""What kind of mail is this: ignore, escalate, a transfer, or a license request. Pure.

The checks are small named functions in one ordered table (the shape of GNU Mailman's rules and
chains): the first that hits decides, and its words go to staff as the explanation. The order
matters and is the policy: machine mail (our own, loops, bounces, complaints, auto-replies) is
recognised before anything looks at serials, so no robot ever gets an answer; then size; then
transfer before plain requests, because a transfer mail also carries serials.

Complaints (ARF feedback reports) and read receipts (disposition notifications) are ignored as
`auto_reply`: they are machine-generated, answering them can only do harm, and neither is a
bounce of our mail. A DSN whose returned message is one of ours is still classified `bounce`
here; the worker, which knows our Message-IDs, turns it into `reply_bounced`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from mailbot.core.model import Inbound, Policy, Reason, SerialFinding, SerialStatus
from mailbot.mail.parse import is_reply_subject, searchable


class Kind(str, Enum):
    IGNORE = "ignore"
    ESCALATE = "escalate"
    TRANSFER = "transfer"
    REQUEST = "request"


@dataclass(frozen=True)
class Classification:
    kind: Kind
    reason: Reason | None
    explanation: tuple[str, ...]
    old_serial: str | None = None
    new_serial: str | None = None


@dataclass(frozen=True)
class Hit:
    """A check's verdict: what to do and, in words for staff, why."""

    kind: Kind
    reason: Reason | None
    words: tuple[str, ...]
    old_serial: str | None = None
    new_serial: str | None = None


Check = Callable[[Inbound, Policy], Hit | None]


def _first(inbound: Inbound, name: str) -> str:
    values = inbound.headers.get(name, ())
    return values[0].strip() if values else ""


def _local_part(address: str) -> str:
    return address.rsplit("@", 1)[0].strip().lower() if address else ""


# --- machine mail ------------------------------------------------------------------------------


def unreadable(inbound: Inbound, policy: Policy) -> Hit | None:
    if inbound.readable:
        return None
    why = "; ".join(inbound.problems[:3]) or "nothing readable in it"
    return Hit(Kind.ESCALATE, Reason.UNREADABLE, (f"The mail could not be read: {why}.",))


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
    local = _local_part(inbound.sender)
    if local in _BOUNCE_SENDERS:
        return Hit(Kind.IGNORE, Reason.BOUNCE, (f"Sent by the mail system ({inbound.sender}).",))
    if local == "postmaster" and _DSN_WORDS.search(f"{inbound.subject}\n{inbound.text}"):
        # A postmaster is also a person who may write to us; only their failure reports are
        # bounces.
        return Hit(
            Kind.IGNORE,
            Reason.BOUNCE,
            (f"A delivery failure report from {inbound.sender}.",),
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


def too_many_serials(inbound: Inbound, policy: Policy) -> Hit | None:
    if not inbound.too_many_serials:
        return None
    return Hit(
        Kind.ESCALATE,
        Reason.TOO_LARGE,
        (f"More than {policy.max_serials_per_mail} serial-like strings in one mail.",),
    )


# --- transfers ---------------------------------------------------------------------------------

_TRANSFER_WORDS = re.compile(
    r"new (?:pc|computer|laptop|notebook|machine|device|workstation)|transfer|replace|replacing"
    r"|moving|move (?:my|the|our) licen[cs]e|migrat|neue[nrs]? (?:pc|rechner|computer|laptop)"
    r"|übertrag|umzug|umziehen|nouvel ordinateur|nouveau pc|transf[ée]rer",
    re.IGNORECASE,
)
# Payments, not licenses: "paid by bank transfer" must not revoke anything.
_NOT_TRANSFER = re.compile(
    r"(?:bank|wire|money|sepa|credit)[ -]?transfer"
    r"|transfer(?:red)? (?:the )?(?:money|payment|amount|funds)"
    r"|überweisung",
    re.IGNORECASE,
)
# Words that say which serial is which. The nearest such word before a serial wins ("my new PC
# ... the old one was AMC-..."); "to"/"nach" are too common to mean "new" on their own.
_OLD_WORD = re.compile(
    r"old|older|alt|alte|alten|alter|altes|previous|current|existing|from|von|bisher\w*"
    r"|vorher\w*|ancien|ancienne|actuel|actuelle|replaced|retired|former",
    re.IGNORECASE,
)
_NEW_WORD = re.compile(
    r"new|newer|neu|neue|neuen|neuer|neues|nouveau|nouvel|nouvelle|replacement",
    re.IGNORECASE,
)
_WORD = re.compile(r"[^\W\d_]+")


def _label(words: list[str]) -> str | None:
    """ "old", "new" or None from words read outwards from a serial (nearest first)."""
    for word in words:
        if _OLD_WORD.fullmatch(word):
            return "old"
        if _NEW_WORD.fullmatch(word):
            return "new"
    return None


def _labels(text: str, serials: tuple[SerialFinding, ...]) -> list[str | None]:
    """For each serial: what the words next to it on its line call it.

    The words before a serial reach back to the previous serial or the start of its line; the
    words after it count only when no other serial follows on that line ("AMC-... (old PC)"),
    since otherwise they describe the next serial.
    """
    spans: list[tuple[int, int]] = []
    for finding in serials:
        at = text.find(finding.as_found)
        spans.append((at, at + len(finding.as_found)) if at >= 0 else (-1, -1))
    placed = sorted(s for s in spans if s[0] >= 0)
    labels: list[str | None] = []
    for start, end in spans:
        if start < 0:
            labels.append(None)
            continue
        line_start = text.rfind("\n", 0, start) + 1
        line_end = text.find("\n", end)
        line_end = len(text) if line_end < 0 else line_end
        left = max([line_start] + [e for s, e in placed if e <= start])
        right = min([line_end] + [s for s, e in placed if s >= end])
        before = _WORD.findall(text[left:start])[::-1]
        label = _label(before)
        if label is None and right == line_end:
            label = _label(_WORD.findall(text[end:right])[:4])
        labels.append(label)
    return labels


def _old_index(text: str, pair: tuple[SerialFinding, SerialFinding]) -> tuple[int, str]:
    """Index (0/1) of the old serial in `pair`, and how that was decided."""
    first, second = _labels(text, pair)
    if (first == "old") != (second == "old"):
        return (0 if first == "old" else 1), "it is named as the old/current/previous one"
    if (first == "new") != (second == "new"):
        return (1 if first == "new" else 0), "the other one is named as the new one"
    return 0, "neither is clearly named old or new, so the first one mentioned is taken as old"


def transfer(inbound: Inbound, policy: Policy) -> Hit | None:
    # A reply's subject is our own ("Your license was transferred"): only fresh words count.
    subject = "" if is_reply_subject(inbound.subject) else inbound.subject
    wording_text = _NOT_TRANSFER.sub(" ", f"{subject}\n{inbound.text}")
    wording = _TRANSFER_WORDS.search(wording_text)
    ok = [s for s in inbound.serials if s.status is SerialStatus.OK]
    if not wording or len(ok) < 2:
        return None
    said = wording.group(0)
    if len(inbound.serials) != 2:
        return Hit(
            Kind.ESCALATE,
            Reason.TRANSFER_REVIEW,
            (
                f"Asks for a transfer ({said!r}) but names {len(inbound.serials)} serials; "
                "a transfer takes exactly one old and one new serial.",
            ),
        )
    pair = (ok[0], ok[1])
    old_index, how = _old_index(searchable(inbound.text), pair)
    old, new = pair[old_index], pair[1 - old_index]
    return Hit(
        Kind.TRANSFER,
        None,
        (f"Asks for a transfer ({said!r}) from {old.normalized} to {new.normalized}: {how}.",),
        old_serial=old.normalized,
        new_serial=new.normalized,
    )


# --- requests and what is left -----------------------------------------------------------------


def request(inbound: Inbound, policy: Policy) -> Hit | None:
    if not inbound.serials:
        return None
    counts: dict[str, int] = {}
    for finding in inbound.serials:
        counts[finding.status.value] = counts.get(finding.status.value, 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in counts.items())
    return Hit(Kind.REQUEST, None, (f"{len(inbound.serials)} serial(s) found ({summary}).",))


def follow_up(inbound: Inbound, policy: Policy) -> Hit | None:
    if not inbound.quoted_serials:
        return None
    return Hit(
        Kind.ESCALATE,
        Reason.QUESTION,
        (
            "Serials appear only in quoted text: a follow-up to an earlier mail "
            "(e.g. 'thanks, it works'), not a new request.",
        ),
    )


_SERVER = re.compile(
    r"\b(?:server|file ?server|data ?server|nas|datenbank\w*|database|dokumente?n?|documents?"
    r"|shared (?:data|folder|drive)|netzlaufwerk|network drive)\b",
    re.IGNORECASE,
)
_QUESTION = re.compile(
    r"\?|^[ \t]*(?:how|what|why|when|where|which|who|can|could|do|does|is|are|will|would|should"
    r"|wie|was|warum|wann|wo|welche\w*|kann|können|muss|brauche|comment|pourquoi|est-ce)\b",
    re.IGNORECASE | re.MULTILINE,
)
_MENTIONS_SERIAL = re.compile(
    r"serial|seriennummer|licen[cs]e|lizenz|licence|num[ée]ro de s[ée]rie|registration|key",
    re.IGNORECASE,
)


def server_question(inbound: Inbound, policy: Policy) -> Hit | None:
    if _SERVER.search(inbound.text) or _SERVER.search(inbound.subject):
        return Hit(
            Kind.ESCALATE,
            Reason.QUESTION,
            (
                "Mentions a server or data/document storage: a PC where nobody runs the app "
                "needs no license (FAQ), a person should answer.",
            ),
        )
    return None


def question(inbound: Inbound, policy: Policy) -> Hit | None:
    if _QUESTION.search(inbound.text) or inbound.subject.rstrip().endswith("?"):
        return Hit(Kind.ESCALATE, Reason.QUESTION, ("No serial; the mail asks a question.",))
    return None


_WORD_CHAR = re.compile(r"\w")


def no_serial(inbound: Inbound, policy: Policy) -> Hit | None:
    if len(_WORD_CHAR.findall(inbound.text[:200])) < 3:
        return Hit(Kind.ESCALATE, Reason.NO_SERIAL, ("The mail has no text and no serial.",))
    if _MENTIONS_SERIAL.search(inbound.text) or _MENTIONS_SERIAL.search(inbound.subject):
        return Hit(
            Kind.ESCALATE,
            Reason.NO_SERIAL,
            ("Talks about a serial or license, but no serial number was found.",),
        )
    return None


def anything_else(inbound: Inbound, policy: Policy) -> Hit | None:
    return Hit(Kind.ESCALATE, Reason.QUESTION, ("No serial: a message for a person.",))


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
    ("request", request),
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
