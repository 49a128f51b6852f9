"""Sender authenticity from Authentication-Results headers (RFC 8601).

Only the header written by our own receiving server counts: it is recognised by its authserv-id
(the first token). Anyone can put an `Authentication-Results: ...; dmarc=pass` line into a mail
before it reaches us, so headers naming another server are ignored. Our server prepends its
header, so the first one carrying our id is the one it wrote; a copy further down with the same
id was either forged or added by an earlier hop and is not trusted over it.

The parsing is tolerant on purpose: real headers carry comments, quoted strings, versions and
vendor oddities (Microsoft's have no authserv-id at all), and a header we cannot read must simply
yield "not reported", never an exception.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from mailbot.core.model import AuthResult, Inbound

# "method[/version] = result", the start of every resinfo.
_RESINFO = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9_.-]*)\s*(?:/\s*\d+\s*)?=\s*([A-Za-z0-9_-]+)")
_METHODS = ("dmarc", "dkim", "spf")
_HEADER_FROM = re.compile(r"\bheader\.from\s*=\s*([^\s;]+)", re.IGNORECASE)


# A run of ordinary characters, an escaped pair (or a lone trailing backslash), or one of the
# three characters that open or close something: scanned in C rather than a character at a time.
_TOKEN = re.compile(r'[^\\"()]+|\\.?|["()]', re.DOTALL)


def _strip_comments(value: str) -> str:
    """Remove (nested) comments and keep quoted strings intact, so ';' inside either is inert.

    Quoted strings are replaced by a neutral token: their content never matters to us, and a
    ';' or '(' inside them must not split or open anything. An escaped character (a backslash
    pair) is dropped wherever it stands.
    """
    out: list[str] = []
    depth = 0
    in_quote = False
    for match in _TOKEN.finditer(value):
        token = match.group()
        first = token[0]
        if first == "\\":
            continue
        if in_quote:
            if first == '"':
                in_quote = False
                out.append("q")
        elif depth:
            if first == "(":
                depth += 1
            elif first == ")":
                depth -= 1
        elif first == "(":
            depth = 1
            out.append(" ")
        elif first == '"':
            in_quote = True
        else:
            out.append(token)
    return "".join(out)


def authserv_id_of(value: str) -> str:
    """The authserv-id of one header value (lower-cased), "" when there is none."""
    head = _strip_comments(value).split(";", 1)[0].strip()
    if not head or "=" in head.split()[0]:
        return ""  # e.g. Microsoft's "spf=none (...) smtp.mailfrom=..." with no id at all
    return head.split()[0].lower()


def _results(value: str) -> dict[str, list[tuple[str, str]]]:
    """method -> (result, header.from domain or "") in order, from one header value."""
    found: dict[str, list[tuple[str, str]]] = {}
    for part in _strip_comments(value).split(";")[1:]:
        match = _RESINFO.match(part)
        if match:
            domain = _HEADER_FROM.search(part)
            found.setdefault(match.group(1).lower(), []).append(
                (match.group(2).lower(), domain.group(1).strip('"').lower() if domain else "")
            )
    return found


def read_auth_results(values: Iterable[str], authserv_id: str) -> AuthResult:
    """The DMARC, DKIM and SPF verdicts our own server (authserv_id) recorded.

    `values` are the Authentication-Results header values, topmost first. Without a configured
    authserv_id nothing is trusted and everything is "not reported" (None).
    """
    wanted = authserv_id.strip().lower()
    if not wanted:
        return AuthResult()
    for value in values:
        try:
            if authserv_id_of(value) != wanted:
                continue
            results = _results(value)
        except Exception:  # noqa: BLE001 - a header we cannot read reports nothing
            continue
        verdicts: dict[str, str | None] = {}
        for method in _METHODS:
            seen = [result for result, _ in results.get(method, [])]
            if not seen:
                verdicts[method] = None
            elif method == "dkim" and "pass" in seen:
                # Several signatures are normal (the author's and a mailing service's): one
                # good signature is what DKIM promises.
                verdicts[method] = "pass"
            else:
                verdicts[method] = seen[0]
        dmarc = results.get("dmarc", [])
        return AuthResult(
            dmarc=verdicts["dmarc"],
            dkim=verdicts["dkim"],
            spf=verdicts["spf"],
            dmarc_domain=dmarc[0][1] if dmarc else "",
        )
    return AuthResult()


def sender_verdict(inbound: Inbound, require_dmarc_pass: bool, authserv_id: str) -> str | None:
    """None when the sender may get a license automatically, else the reason in plain words.

    Re-reads the stored header values with the authserv_id given now rather than trusting
    `inbound.auth`, so a mail decided again after a configuration change is judged by the
    current configuration.
    """
    auth = read_auth_results(inbound.headers.get("authentication-results", ()), authserv_id)
    domain = inbound.sender.rpartition("@")[2]
    if auth.dmarc == "pass" and auth.dmarc_domain and auth.dmarc_domain != domain:
        # Our server checked another From than the one we read (two From headers, a display
        # name trick): its pass says nothing about this sender.
        if require_dmarc_pass:
            return (
                f"DMARC passed for {auth.dmarc_domain}, not for the sender's domain "
                f"{domain or '(none)'}: this installation requires a DMARC pass for the sender"
            )
        return None
    if auth.dmarc == "fail":
        return (
            f"DMARC failed for {inbound.sender or 'the sender'}: our mail server could not "
            "confirm that this mail really comes from the sender's domain"
        )
    if require_dmarc_pass and auth.dmarc != "pass":
        got = auth.dmarc or "not reported"
        return (
            f"DMARC did not pass (result: {got}); this installation requires a DMARC pass "
            "before a license is sent automatically"
        )
    return None
