"""New text versus quoted history in plain text: reply intros, Outlook blocks, forwards, flowed.

Quoted history is split off so that serials standing only in a quote (our own earlier reply, or
the customer's earlier request) never count as new requests. Forwarded content is not a quote:
a customer forwarding a colleague's request is asking for it. The markers are matched in the
languages our customers write; every pattern is anchored and bounded, since a regex that
backtracks on a long line of spaces is a denial of service.
"""

from __future__ import annotations

import re

_FORWARD = re.compile(
    r"^-*\s*(?:forwarded message|weitergeleitete nachricht"
    r"|message transf[ée]r[ée]|mensaje reenviado|messaggio inoltrato)\s*-*$"
    r"|^begin forwarded message:?$|^anfang der weitergeleiteten nachricht:?$"
    r"|^d[ée]but du message r[ée]exp[ée]di[ée]\s*:?$|^-{4,}\s*forwarded message\s*-{4,}$",
    re.IGNORECASE,
)
# "-----Original Message-----" is Outlook's reply header, and "Original message follows" how
# some MTAs introduce the mail they return: both start quoted history, not a forward.
_ORIGINAL = re.compile(
    r"^-*\s*(?:original message(?: follows\.?)?|urspr[üu]ngliche nachricht|message d'origine"
    r"|mensaje original|messaggio originale|oorspronkelijk bericht)\s*-*:?$",
    re.IGNORECASE,
)
_UNDERSCORES = re.compile(r"^_{10,}$")
# "On <date>, <name> wrote:" in the languages our customers write. A date is required (a digit),
# so "On my new PC I wrote down the serial:" is not mistaken for one; English-style verbs must be
# followed by the colon, the Germanic ones may have the name after them.
_REPLY_INTRO = re.compile(
    r"^(?:on|am|le|el|op|il|em|den|dne|w dniu)\s(?=.*\d).{0,400}?"
    r"(?:(?:wrote|a [ée]crit|escribi[óo]|ha scritto|escreveu|napisa[łl]|napsal)\s*:"
    r"|(?:schrieb|schreef|skrev)\b[^:]{0,120}:)\s*$",
    re.IGNORECASE,
)
_INTRO_START = re.compile(r"^(?:on|am|le|el|op|il|em|den|dne|w dniu)\s", re.IGNORECASE)
_FROM_LINE = re.compile(r"^(?:from|von|de|van|da|fra|fr[åa]n|od)\s*:\s*\S", re.IGNORECASE)
_SENT_LINE = re.compile(
    r"^(?:sent|date|gesendet|datum|envoy[ée]|verzonden|inviato|enviado|sendt|skickat|data)"
    r"\s*:\s*\S",
    re.IGNORECASE,
)
_HEADER_LINE = re.compile(
    r"^(?:from|von|de|van|da|sent|date|gesendet|datum|envoy[ée]|to|an|[àa]|cc|bcc|subject"
    r"|betreff|objet|asunto|oggetto|reply-to|antwort an)\s*:",
    re.IGNORECASE,
)
_FORWARD_SUBJECT = re.compile(r"^\s*(?:fwd?|wg|tr|rv|enc|doorst)\s*:", re.IGNORECASE)
_REPLY_SUBJECT = re.compile(
    r"^\s*(?:re|aw|antw|antwort|sv|vs|r|ref|rif|odp|yn|回复|答复)\s*(?:\[\d+\])?\s*:",
    re.IGNORECASE,
)


def is_reply_subject(subject: str) -> bool:
    """True for "Re: ..." and its translations: the subject is ours (or old), not new words."""
    return bool(_REPLY_SUBJECT.match(subject))


def is_forward_subject(subject: str) -> bool:
    """True for "Fwd: ...", "WG: ..." and the like: the body is someone else's mail passed on."""
    return bool(_FORWARD_SUBJECT.match(subject))


def _bare(line: str) -> str:
    """A line without indentation and the *bold* markers Gmail puts around header names."""
    return line.strip().replace("*", "").strip()


def is_forward_marker(line: str) -> bool:
    """True for a "---------- Forwarded message ---------" line and its translations."""
    return bool(_FORWARD.match(_bare(line)))


def starts_with_forward(text: str) -> bool:
    """True when the first non-blank line of the first six is a forward marker."""
    for line in text.split("\n")[:6]:
        if line.strip():
            return is_forward_marker(line)
    return False


def _reply_header_kind(lines: list[str], i: int) -> tuple[str, int]:
    """("intro", lines) for "On ... wrote:" (clients wrap it over up to 3 lines), ("block", 1)
    for Outlook style headers, ("", 0) for neither."""
    line = _bare(lines[i])
    if not line:
        return "", 0
    if _INTRO_START.match(line):
        joined = line
        for k in range(3):
            if joined.endswith(":") and _REPLY_INTRO.match(joined):
                return "intro", k + 1
            if i + k + 1 >= len(lines) or len(joined) > 400:
                break
            joined = f"{joined} {_bare(lines[i + k + 1])}"
        return "", 0
    if _ORIGINAL.match(line):
        return "block", 1
    if _UNDERSCORES.match(line):
        following = [_bare(x) for x in lines[i + 1 : i + 5] if x.strip()][:2]
        return ("block", 1) if any(_FROM_LINE.match(x) for x in following) else ("", 0)
    if _FROM_LINE.match(line):
        following = [_bare(x) for x in lines[i + 1 : i + 7]]
        return ("block", 1) if any(_SENT_LINE.match(x) for x in following) else ("", 0)
    return "", 0


def _header_block_end(lines: list[str], start: int) -> int:
    """Index after the header lines (From:, Date:, ...) that follow a forward marker."""
    j = start
    seen = False
    while j < len(lines) and j < start + 12:
        bare = _bare(lines[j])
        if _HEADER_LINE.match(bare):
            seen = True
        elif bare or seen:
            break
        j += 1
    return j


def split_quotes(text: str, forwarded: bool = False) -> tuple[str, str]:
    """(new text, quoted text) of a plain-text body.

    Quoted: lines starting with ">", and everything after an Outlook-style header block
    ("From: ... Sent: ...", "-----Original Message-----", an underscore rule before "From:"), as
    Outlook quotes without ">". "On ... wrote:" quotes what follows: if ">" lines follow, only
    those (so answers written between quoted lines stay new), else the rest of the mail.
    Forward markers and the header block after them stay in the new text; when `forwarded` (the
    subject says Fwd/FW/WG), the first Outlook-style block is the forwarded mail, not a quote.
    """
    lines = text.split("\n")
    new: list[str] = []
    quoted: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.lstrip()
        if stripped.startswith(">"):
            quoted.append(line)
            i += 1
            continue
        bare = _bare(line)
        if bare and _FORWARD.match(bare) and not _ORIGINAL.match(bare):
            end = _header_block_end(lines, i + 1)
            new.extend(lines[i:end])
            forwarded = False
            i = end
            continue
        kind, span = _reply_header_kind(lines, i) if bare else ("", 0)
        if kind == "block" and forwarded:
            end = _header_block_end(lines, i + 1)
            new.extend(lines[i:end])
            forwarded = False
            i = end
            continue
        if kind == "intro":
            following = next((x for x in lines[i + span : i + span + 3] if x.strip()), "")
            if following.lstrip().startswith(">"):
                quoted.extend(lines[i : i + span])
                i += span
                continue
        if kind:
            quoted.extend(lines[i:])
            break
        new.append(line)
        i += 1
    return "\n".join(new).strip("\n"), "\n".join(quoted).strip("\n")


def unflow(text: str, delsp: bool) -> str:
    """Join format=flowed soft line breaks (RFC 3676), so a spaced serial is not cut in two."""
    out: list[str] = []
    pending = ""
    pending_depth = -1
    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        body = line[depth:]
        if body.startswith(" "):
            body = body[1:]  # space-stuffing
        if pending and depth != pending_depth:
            out.append(">" * pending_depth + (" " if pending_depth else "") + pending)
            pending = ""
        soft = body.endswith(" ") and body != "-- "
        if soft:
            pending += body[:-1] if delsp else body
            pending_depth = depth
            continue
        full = pending + body
        pending = ""
        out.append(">" * depth + (" " if depth else "") + full)
    if pending:
        out.append(">" * pending_depth + (" " if pending_depth else "") + pending)
    return "\n".join(out)
