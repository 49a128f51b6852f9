"""Checks for a customer serving themselves by mail: "release SERIAL", "which licenses do I
have". Pure.

Both are read only from a clear request form in English or German ("please release ...",
"could you deactivate ...", "bitte ... freigeben", "which licenses do we have", "welche Lizenzen
habe ich"). Release wording that is not such a request ("why was it deactivated?", "don't
release it", the app's "new release"), that is negated, or that names no serial or several goes
to a person as `release_review`, the way an unclear transfer does: a release revokes a license,
so the bot acts only on words that can mean nothing else. A list request that comes with other
questions falls through to the ordinary checks, which hand it to a person.

The serial to release travels as the `Hit`'s `old_serial` (the license it frees), so that
`services/evaluate.gather` reads its license like a transfer's old serial.
"""

from __future__ import annotations

import re

from mailbot.core.classification import Hit, Kind
from mailbot.core.model import Inbound, Policy, Reason, SerialStatus
from mailbot.mail.parse import is_reply_subject

# --- release -----------------------------------------------------------------------------------

_VERB_EN = r"(?:release|deactivate|de-activate|unregister|deregister|free up|revoke)"
_VERB_DE = r"(?:deaktivieren|freigeben|abmelden)"
_RELEASE_REQUEST = re.compile(
    # English: "please release", "could you please deactivate", "I'd like to free up",
    # "we want to unregister", and a sentence that starts with the verb ("Release AMC-...").
    rf"(?:please|pls|kindly)[ ,]+(?:(?:can|could|would|will) you[ ,]+)?{_VERB_EN}\b"
    rf"|\b(?:can|could|would|will) you(?:[ ,]+(?:please|kindly))?[ ,]+{_VERB_EN}\b"
    rf"|\b(?:i|we)(?:'d| would) like(?: you)? to[ ,]+{_VERB_EN}\b"
    rf"|\b(?:i|we) (?:want|need|wish)(?: you)? to[ ,]+{_VERB_EN}\b"
    rf"|(?:^|[.!:]\s+){_VERB_EN}\b"
    # German, the verb at the clause's end: "bitte die Lizenz ... freigeben", "ich möchte ...
    # deaktivieren", "können Sie ... abmelden".
    rf"|\bbitte\b[^.!?\n,;]{{0,80}}?\b{_VERB_DE}\b"
    rf"|\b(?:ich|wir) (?:möchten?|will|wollen|würden? gerne?)\b[^.!?\n,;]{{0,80}}?\b{_VERB_DE}\b"
    rf"|\b(?:können|könnten|würden) sie\b[^.!?\n,;]{{0,80}}?\b{_VERB_DE}\b"
    rf"|(?:^|[.!:]\s+)(?:deaktivierung|freigabe|{_VERB_DE})\b"
    # The separable verb, as most people write it: "bitte geben Sie AMC-... frei".
    r"|\b(?:bitte\s+)?(?:geben|gebt|gib)\s+sie\b[^.!?\n,;]{0,80}?\bfrei\b",
    re.IGNORECASE | re.MULTILINE,
)
# Any talk of releasing, requested or not: without a request form it is unclear.
# Not "unregistered" or "revoked": a request says the app shows "unregistered", and a revoked
# serial is a case of its own (`serial_revoked`).
_RELEASE_MENTION = re.compile(
    r"\b(?:releas(?:e|ed|ing)|deactivat\w*|de-activat\w*|unregister|deregister|free up|revoke"
    r"|deaktivier\w*|freigeb\w*|freigegeben|freigabe|abmelden)\b"
    r"|\b(?:geben|gebt|gib)\b[^.!?\n,;]{0,80}?\bfrei\b",
    re.IGNORECASE,
)
# A stem of every word _RELEASE_MENTION is made of. Taking text out (_NOT_RELEASE) cannot
# make one, so a mail without any has no mention.
_RELEASE_STEM = re.compile(
    r"releas|activat|register|free up|revoke|deaktivier|freig[ea]b|freigeg|abmelden|frei\b",
    re.IGNORECASE,
)
# "release" as a noun about the app, not a request about a license.
_NOT_RELEASE = re.compile(
    r"\b(?:new|newest|latest|last|next|recent|current|beta|previous|this|that) release\b"
    r"|\brelease (?:notes?|candidate|version|date|\d)",
    re.IGNORECASE,
)
_NEGATION = re.compile(
    r"\b(?:not|don't|dont|do not|never|nicht|keine?\w*|nie|niemals)\b", re.IGNORECASE
)
_CLAUSE_START = re.compile(r"[.!?,;:\n]")


def _words(inbound: Inbound) -> str:
    # A reply's subject is ours ("Your license was released"): only fresh words count.
    subject = "" if is_reply_subject(inbound.subject) else inbound.subject
    return f"{subject}\n{inbound.text}"


def _negated(text: str, start: int, stop: int) -> bool:
    """Whether the clause a request starts in denies it ("please do not release", "bitte
    geben Sie ihn nicht frei": a German verb comes last, so the request's own span counts)."""
    clause_start = max((m.end() for m in _CLAUSE_START.finditer(text, 0, start)), default=0)
    if _NEGATION.search(text, clause_start, stop):
        return True
    # The request form itself may hold the negation ("please don't deactivate").
    end = text.find("\n", start)
    clause = text[clause_start : len(text) if end < 0 else end]
    verb = _RELEASE_MENTION.search(clause)
    return bool(_NEGATION.search(clause[: verb.start() if verb else len(clause)]))


def release(inbound: Inbound, policy: Policy) -> Hit | None:
    words = _words(inbound)
    if not _RELEASE_STEM.search(words):
        return None  # no word a request could be made of (the cheap test, for every mail)
    text = _NOT_RELEASE.sub(" ", words)
    mention = _RELEASE_MENTION.search(text)
    if mention is None:
        return None
    said = mention.group(0)
    asked = _RELEASE_REQUEST.search(text)

    def review(why: str) -> Hit:
        words = (f"Mentions a release ({said!r}); {why}.",)
        return Hit(Kind.ESCALATE, Reason.RELEASE_REVIEW, words)

    if asked is None:
        if not inbound.serials:
            return None  # talk about releases without a serial: the question checks decide
        return review("it is not worded as a request to release a serial, so a person reads it")
    if _negated(text, asked.start(), asked.end()):
        return review(f"the request ({asked.group(0).strip()!r}) is negated")
    if not inbound.serials:
        return review("but names no serial number")
    if len(inbound.serials) != 1:
        return review(
            f"but names {len(inbound.serials)} serials; a release by mail takes exactly one"
        )
    found = inbound.serials[0]
    if found.status is not SerialStatus.OK:
        return review(f"but {found.as_found!r} is {found.status.value}")
    return Hit(
        Kind.RELEASE,
        None,
        (f"Asks to release {found.normalized} ({asked.group(0).strip()!r}).",),
        old_serial=found.normalized,
    )


# --- which licenses do I have ------------------------------------------------------------------

_THINGS_EN = r"(?:licen[cs]es|serials|serial numbers|keys|license keys|seats)"
_THINGS_DE = r"(?:lizenzen|seriennummern|lizenzschlüssel)"
_LIST_REQUEST = re.compile(
    # "have", not "need": "how many licenses do I need" is a question about buying.
    rf"\b(?:which|what|how many) {_THINGS_EN} (?:do (?:i|we) (?:currently )?(?:have|own|hold)"
    rf"|have (?:i|we)(?: got| bought)?|did (?:i|we) (?:buy|purchase|get))\b"
    rf"|\b(?:list|overview|summary|status)(?: of)?(?: all)? (?:my|our) {_THINGS_EN}"
    rf"|\b(?:list|show|send)(?: me| us)? (?:all )?(?:of )?(?:my|our) {_THINGS_EN}"
    rf"|\b(?:my|our) {_THINGS_EN}(?: and their (?:states?|status))?\s*$"
    rf"|\bwelche {_THINGS_DE} (?:habe|hab|haben) (?:ich|wir)\b"
    rf"|\bwie viele {_THINGS_DE} (?:habe|haben) (?:ich|wir)(?! noch)\b"
    rf"|\b(?:liste|übersicht|aufstellung)\b[^.!?\n]{{0,40}}"
    rf"\b(?:meine[rn]?|unsere[rn]?) {_THINGS_DE}"
    rf"|\b(?:meine|unsere) {_THINGS_DE}\b[^.!?\n]{{0,40}}\b(?:auflisten|anzeigen|zeigen)\b",
    re.IGNORECASE | re.MULTILINE,
)
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]*")
LIST_TEXT_CHARS = 1500  # a longer mail says more than "which licenses do I have": a person reads it


def list_licenses(inbound: Inbound, policy: Policy) -> Hit | None:
    if inbound.serials or len(inbound.text) > LIST_TEXT_CHARS:
        return None  # serials in new text are a request (the earlier checks), never a list
    text = _words(inbound)
    asked = _LIST_REQUEST.search(text)
    if asked is None:
        return None
    for sentence in _SENTENCE.findall(text):
        if _LIST_REQUEST.search(sentence):
            if _NEGATION.search(sentence):
                return None  # "I don't need a list of my licenses, but ...": a person
        elif "?" in sentence:
            return None  # another question besides the list: a person answers it all
    return Hit(
        Kind.LIST_LICENSES,
        None,
        (f"Asks which licenses the sender has ({asked.group(0).strip()!r}).",),
    )
