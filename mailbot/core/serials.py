"""Serial numbers: `AMC-XXXX-XXXX-XXXX-XXXX` (docs/contract.md, "Serial numbers").

Sixteen Crockford base32 symbols after the product code: fifteen random (75 bits) and one check
symbol, Luhn mod 32 over the fifteen, which catches every single-symbol error and every adjacent
transposition but one: `0` and `Z` (values 0 and 31) swapped, Luhn mod N's known blind spot, like
09/90 in Luhn mod 10. Parsing forgives what people do when they retype: any case, O for 0,
I or L for 1, spaces or missing dashes.

This module uses the standard library only, so the desktop app can embed it as it is.
"""

from __future__ import annotations

import enum
import re
import secrets
from dataclasses import dataclass


class SerialStatus(str, enum.Enum):
    OK = "ok"  # well formed, check symbol right
    MISTYPED = "mistyped"  # well formed, check symbol wrong
    UNREADABLE = "unreadable"  # looks like an attempt (product prefix) but is not 16 symbols


@dataclass(frozen=True)
class SerialFinding:
    """A serial-like string found in a mail."""

    as_found: str  # the text exactly as the customer wrote it
    normalized: str  # canonical "AMC-XXXX-XXXX-XXXX-XXXX" (best effort when not OK)
    status: SerialStatus


ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
N = len(ALPHABET)
PAYLOAD_SYMBOLS = 15
SYMBOLS = PAYLOAD_SYMBOLS + 1
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}
# Crockford's decoding aliases: what a person reads off a screen and types back.
_ALIASES = str.maketrans({"O": "0", "I": "1", "L": "1"})
# Every symbol a customer might type for a serial: the alphabet, the aliases, and U (which
# Crockford excludes, so a U can only be a typo; it makes the serial unreadable, not absent).
_TYPED = "0-9A-Za-z"


def check_symbol(payload: str) -> str:
    """The Luhn mod 32 check symbol over 15 payload symbols (canonical alphabet)."""
    factor = 2
    total = 0
    for ch in reversed(payload):
        addend = factor * _VALUE[ch]
        total += addend // N + addend % N
        factor = 1 if factor == 2 else 2
    return ALPHABET[(N - total % N) % N]


def is_valid_symbols(symbols: str) -> bool:
    """True when 16 canonical symbols end with the right check symbol."""
    return (
        len(symbols) == SYMBOLS
        and all(ch in _VALUE for ch in symbols)
        and check_symbol(symbols[:PAYLOAD_SYMBOLS]) == symbols[-1]
    )


def format_serial(symbols: str, code: str = "AMC") -> str:
    groups = [symbols[i : i + 4] for i in range(0, SYMBOLS, 4)]
    return "-".join([code, *groups])


def generate(code: str = "AMC") -> str:
    """A new random serial, as the desktop app makes on install."""
    payload = "".join(secrets.choice(ALPHABET) for _ in range(PAYLOAD_SYMBOLS))
    return format_serial(payload + check_symbol(payload), code)


def _symbols_of(text: str, code: str) -> str:
    """Upper-case, strip the product code, separators and aliases: the bare symbols."""
    cleaned = re.sub(r"[\s\-_.]", "", text.upper())
    if cleaned.startswith(code):
        cleaned = cleaned[len(code) :]
    return cleaned.translate(_ALIASES)


def parse(text: str, code: str = "AMC") -> SerialFinding | None:
    """Read one serial as typed. None when the text is not a serial at all.

    A well-formed serial whose check symbol is wrong is MISTYPED (so the customer can be asked
    to paste it again), never silently dropped.
    """
    symbols = _symbols_of(text, code)
    if len(symbols) != SYMBOLS or not symbols.isalnum() or not symbols.isascii():
        return None
    if not all(ch in _VALUE for ch in symbols):
        return SerialFinding(text, format_serial(symbols, code), SerialStatus.UNREADABLE)
    status = SerialStatus.OK if is_valid_symbols(symbols) else SerialStatus.MISTYPED
    return SerialFinding(text, format_serial(symbols, code), status)


def normalize(text: str, code: str = "AMC") -> str | None:
    """The canonical form of a valid serial, or None."""
    found = parse(text, code)
    return found.normalized if found and found.status is SerialStatus.OK else None


def _finder(code: str) -> re.Pattern[str]:
    sym = f"[{_TYPED}]"
    edge_before, edge_after = f"(?<![{_TYPED}\\-])", f"(?![{_TYPED}])"
    # The product code, then four groups of four, spaced, dashed or run together.
    exact = rf"{edge_before}{code}[ \-_.]?{sym}{{4}}(?:[ \-.]?{sym}{{4}}){{3}}{edge_after}"
    # The product code, a dash, and the wrong number of symbols: an attempt we ask about again.
    attempt = rf"{edge_before}{code}-{sym}+(?:-{sym}+)*{edge_after}"
    # Without the code we insist on four dashed groups, or words and hashes would match.
    bare = rf"{edge_before}{sym}{{4}}-{sym}{{4}}-{sym}{{4}}-{sym}{{4}}(?![{_TYPED}\\-])"
    return re.compile(rf"{exact}|{attempt}|{bare}", re.IGNORECASE)


_FINDERS: dict[str, re.Pattern[str]] = {}


def find_serials(text: str, code: str = "AMC", limit: int = 1000) -> tuple[SerialFinding, ...]:
    """Every serial-like string in free text, de-duplicated by normalized form, in order.

    Includes attempts that are not quite right: a mistyped check symbol, or the product code
    followed by too few or too many symbols (UNREADABLE), so the bot can ask again instead of
    pretending no serial was sent. Stops after `limit` findings.
    """
    finder = _FINDERS.get(code)
    if finder is None:
        finder = _FINDERS[code] = _finder(code)
    seen: dict[str, SerialFinding] = {}
    for match in finder.finditer(text):
        raw = match.group(0).strip(" \t-_.")
        found = parse(raw, code)
        if found is None:
            symbols = _symbols_of(raw, code)
            if not 8 <= len(symbols) <= 24:
                continue  # "AMC-2" or a long token: not an attempt at a serial
            found = SerialFinding(raw, f"{code}-{symbols}", SerialStatus.UNREADABLE)
        if found.normalized not in seen:
            seen[found.normalized] = found
            if len(seen) >= limit:
                break
    return tuple(seen.values())


def to_bytes(serial: str, code: str = "AMC") -> bytes:
    """The 80 bits of a valid serial's 16 symbols, as 10 bytes (for license payloads)."""
    symbols = _symbols_of(serial, code)
    if not is_valid_symbols(symbols):
        raise ValueError(f"not a valid {code} serial: {serial!r}")
    value = 0
    for ch in symbols:
        value = value * N + _VALUE[ch]
    return value.to_bytes(10, "big")


def from_bytes(data: bytes, code: str = "AMC") -> str:
    value = int.from_bytes(data, "big")
    symbols = []
    for _ in range(SYMBOLS):
        value, digit = divmod(value, N)
        symbols.append(ALPHABET[digit])
    return format_serial("".join(reversed(symbols)), code)
