"""Checks for what a person's mail asks: a transfer, a license request, a question. Pure.

Each check is `(Inbound, Policy) -> Hit | None`, in words staff can read. A transfer needs
transfer wording and exactly two serials, and says which is the old one from the words next
to each; serials only in quoted text are a follow-up, not a request; without a serial, a
server, a question or talk of a license goes to a person. The order they run in is
`classify.CHECKS` (transfer before requests, since a transfer mail also carries serials).
"""

from __future__ import annotations

import re

from mailbot.core.classification import Hit, Kind
from mailbot.core.model import Inbound, Policy, Reason, SerialFinding, SerialStatus
from mailbot.mail.parse import is_reply_subject, searchable

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
    ok = [s for s in inbound.serials if s.status is SerialStatus.OK]
    if len(ok) < 2:
        return None  # before the wording: most mails hold one serial, and text can be long
    subject = "" if is_reply_subject(inbound.subject) else inbound.subject
    wording_text = _NOT_TRANSFER.sub(" ", f"{subject}\n{inbound.text}")
    wording = _TRANSFER_WORDS.search(wording_text)
    if not wording:
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
