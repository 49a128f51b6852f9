"""License strings: Ed25519-signed, bound to one serial (docs/contract.md, "License strings").

This is the verify side the desktop app embeds next to `serials.py`, so it imports nothing but
the standard library, `cryptography` and `.serials`. Signing is here too (it is the same format),
but key files live in `adapters/signing.py`.

Format
------
Payload, 21 bytes, big-endian::

    version(1) | key_id(1) | serial(10) | license_no(4) | issued_day(2) | expires_day(2)
    | edition(1)

- `version` is 1.
- `key_id` is the first byte of SHA-256 over the signing key's 32 raw public bytes. Verifiers
  index their known public keys by it, so rotating keys needs no configuration: old licenses
  still name (and verify against) the old key.
- `serial` is the serial's 16 Crockford symbols as 80 bits (`serials.to_bytes`).
- days count from 2000-01-01; `expires_day` 0 means perpetual. A license is valid up to and
  including its expiry date.

Signature: Ed25519 over ``b"mailbot-license/v1/" + product_code + b"\\0" + payload``. The prefix
separates domains: a license of one product is never a valid signature for another, and no other
message this key might ever sign can be replayed as a license.

String: ``f"{code}1-"`` then payload + signature (85 bytes = 680 bits = 136 symbols) in Crockford
base32 (`serials.ALPHABET`, 5 bits a symbol, most significant first, trailing bits zero-padded),
in groups of 8 joined by dashes: 157 characters for a three-letter code, e.g.
``AMC1-0G2KX7T1-...-9QW3Z5BM``.

Reading is forgiving because the string travels through mail clients and is pasted by hand: case
does not matter; whitespace, line breaks, dashes (any Unicode dash) and invisible format characters
(soft hyphens, zero-width spaces) are ignored; O reads as 0 and I or L as 1, as for serials.

The signed revocation list, checked with the same keys, is `revocation_format.py`.
"""

from __future__ import annotations

import base64
import hashlib
import re
import struct
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from . import serials

VERSION = 1
EPOCH = date(2000, 1, 1)
MAX_DAY = 0xFFFF
_PAYLOAD = struct.Struct(">BB10sIHHB")
SIGNATURE_BYTES = 64
_BODY_BYTES = _PAYLOAD.size + SIGNATURE_BYTES  # 85
_BODY_SYMBOLS = -(-_BODY_BYTES * 8 // 5)  # 136
_GROUP = 8
# Far longer than any license, short enough that scanning a pasted blob costs nothing.
_MAX_INPUT = 4096

_VALUE = {ch: i for i, ch in enumerate(serials.ALPHABET)}
_ALIASES = str.maketrans({"O": "0", "I": "1", "L": "1"})
_OTHER_PREFIX = re.compile(r"[A-Z][A-Z0-9]*1")
_CODE = re.compile(r"[A-Z][A-Z0-9]*")


class InvalidLicense(ValueError):
    """A license string that does not hold; `reason` says why in plain words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class LicenseInfo:
    """What a license string says. From `verify_license` it is also proven authentic."""

    serial: str  # normalized, e.g. "AMC-XXXX-XXXX-XXXX-XXXX"
    license_no: int
    issued: date
    expires: date | None  # None: perpetual
    edition: int
    key_id: int

    @property
    def expires_day(self) -> int:
        """Days since 2000-01-01 of the expiry, 0 when perpetual (as stored in the payload)."""
        return 0 if self.expires is None else _day_number(self.expires)


def key_id_of(public_key: Ed25519PublicKey) -> int:
    """The byte a license carries to name its signing key."""
    return hashlib.sha256(_raw(public_key)).digest()[0]


def public_key_from_text(text: str) -> Ed25519PublicKey:
    """A public key from its printed form: base64 of the 32 raw bytes (what `mailbot keys init`
    prints and what a desktop app embeds). Raises ValueError when it is not one."""
    try:
        raw = base64.b64decode("".join(text.split()), validate=True)
    except ValueError:
        raise ValueError("not a public key: expected base64 of 32 bytes") from None
    if len(raw) != 32:
        raise ValueError(f"not a public key: {len(raw)} bytes, expected 32")
    return Ed25519PublicKey.from_public_bytes(raw)


def sign_license(
    private_key: Ed25519PrivateKey,
    *,
    serial: str,
    license_no: int,
    issued: date,
    expires: date | None,
    edition: int,
    product_code: str,
    key_id: int | None = None,
) -> str:
    """The license string for `serial`. Raises ValueError for values the format cannot carry.
    `key_id` is the key's id when the caller already knows it (deriving it costs a hash)."""
    code = checked_product_code(product_code)
    serial_bytes = serials.to_bytes(serial, code)
    if not 0 <= license_no <= 0xFFFFFFFF:
        raise ValueError(f"license number out of range: {license_no}")
    if not 0 <= edition <= 0xFF:
        raise ValueError(f"edition out of range: {edition}")
    issued_day = _day_number(issued)
    expires_day = 0
    if expires is not None:
        if expires < issued:
            raise ValueError(f"license would expire ({expires}) before it is issued ({issued})")
        expires_day = _day_number(expires)
        if expires_day == 0:
            raise ValueError("a license cannot expire on 2000-01-01 (day 0 means perpetual)")
    payload = _PAYLOAD.pack(
        VERSION,
        key_id if key_id is not None else key_id_of(private_key.public_key()),
        serial_bytes,
        license_no,
        issued_day,
        expires_day,
        edition,
    )
    signature = private_key.sign(_domain(code) + payload)
    body = _encode(payload + signature)
    groups = [body[i : i + _GROUP] for i in range(0, len(body), _GROUP)]
    return f"{code}1-" + "-".join(groups)


def verify_license(
    license_string: str,
    *,
    serial: str,
    public_keys: Iterable[Ed25519PublicKey],
    product_code: str,
    today: date | None = None,
) -> LicenseInfo:
    """Check that `license_string` was signed by one of `public_keys` for `serial`.

    With `today`, a license that expired before it is invalid too. Raises InvalidLicense.
    """
    code = checked_product_code(product_code)
    info, payload, signature = _decode(license_string, code)
    candidates = [key for key in public_keys if key_id_of(key) == info.key_id]
    if not candidates:
        raise InvalidLicense(f"unknown signing key (key id {info.key_id:02x})")
    message = _domain(code) + payload
    # A key id is one byte, so two known keys may share it: any of them may be the signer.
    if not any(signed_by(key, signature, message) for key in candidates):
        raise InvalidLicense("signature does not match")
    # Only now is the payload authentic, so only now is it worth comparing (and echoing).
    try:
        expected = serials.to_bytes(serial, code)
    except ValueError:
        raise InvalidLicense(f"{serial.strip()!r} is not a valid {code} serial") from None
    if payload[2:12] != expected:
        wanted = serials.from_bytes(expected, code)
        raise InvalidLicense(f"license is for serial {info.serial}, not {wanted}")
    if today is not None and info.expires is not None and today > info.expires:
        raise InvalidLicense(f"expired on {info.expires.isoformat()}")
    return info


def decode_license(license_string: str, product_code: str) -> LicenseInfo:
    """What a license string says, WITHOUT checking its signature (for display only).

    Raises InvalidLicense when the string is malformed, of another product or version.
    """
    info, _, _ = _decode(license_string, checked_product_code(product_code))
    return info


def short(license_string: str) -> str:
    """A redacted form for logs: the prefix and the first 8 symbols, never the whole string."""
    text = "".join(license_string.split())
    prefix, dash, rest = text.partition("-")
    symbols = rest.replace("-", "")
    # Show the prefix only when what follows is long enough to hide most of the string.
    if not dash or len(prefix) > 8 or not prefix.isalnum() or len(symbols) < 2 * _GROUP:
        prefix, symbols = "", text.replace("-", "")
    # Half at most, so even a short or malformed string is never logged whole.
    shown = symbols[: min(_GROUP, len(symbols) // 2)]
    return f"{prefix}-{shown}…" if prefix else f"{shown}…"


# -- internals ---------------------------------------------------------------------------------


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _domain(code: str) -> bytes:
    return b"mailbot-license/v1/" + code.encode("ascii") + b"\0"


def checked_product_code(product_code: str) -> str:
    """`product_code` when it is one spelling of a code (upper-case letters and digits)."""
    # The code is part of what is signed: accept exactly one spelling of it.
    if not _CODE.fullmatch(product_code):
        raise ValueError(f"product code must be upper-case letters and digits: {product_code!r}")
    return product_code


def day_number(day: date) -> int:
    """Days since 2000-01-01, as a license carries its dates. Raises ValueError out of range."""
    return _day_number(day)


def day_of(number: int) -> date:
    """The date of a day number (the inverse of `day_number`)."""
    return EPOCH + timedelta(days=number)


def _day_number(day: date) -> int:
    number = (day - EPOCH).days
    if not 0 <= number <= MAX_DAY:
        raise ValueError(f"date out of range for a license (2000-01-01 .. 2179-06-06): {day}")
    return number


def signed_by(key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    """Whether `signature` over `message` verifies with `key`."""
    try:
        key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


# RFC 4648 base32 reads the bits in the same order (5 at a time from the first byte, the last
# group padded with zero bits): only the alphabet differs. In C, not a loop over a big int.
_FROM_RFC4648 = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", serials.ALPHABET)


def _encode(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").rstrip("=").translate(_FROM_RFC4648)


def _decode_symbols(symbols: str, size: int) -> bytes | None:
    value = 0
    for ch in symbols:
        value = (value << 5) | _VALUE[ch]
    padding = len(symbols) * 5 - size * 8
    if value & ((1 << padding) - 1):
        return None  # one canonical spelling per license: padding bits must be zero
    return (value >> padding).to_bytes(size, "big")


def _compact(text: str) -> str:
    """Upper case, without whitespace, dashes or invisible format characters."""
    return "".join(
        ch for ch in text if not ch.isspace() and unicodedata.category(ch) not in ("Pd", "Cf")
    ).upper()


def _decode(text: str, code: str) -> tuple[LicenseInfo, bytes, bytes]:
    not_a_license = InvalidLicense("not a license string")
    if len(text) > _MAX_INPUT:
        raise not_a_license
    compact = _compact(text)
    version_at = len(code)
    if (
        compact.startswith(code)
        and len(compact) > version_at
        and compact[version_at].translate(_ALIASES) == "1"
    ):
        body = compact[version_at + 1 :].translate(_ALIASES)
        if len(body) != _BODY_SYMBOLS:
            raise InvalidLicense(
                f"not a license string: {len(body)} symbols where {_BODY_SYMBOLS} were expected"
                " (was it copied whole?)"
            )
    else:
        head, body = compact[:-_BODY_SYMBOLS], compact[-_BODY_SYMBOLS:].translate(_ALIASES)
        shaped = len(compact) > _BODY_SYMBOLS and all(ch in _VALUE for ch in body)
        if shaped and head[:-1] == code and head[-1] in "0123456789":
            raise InvalidLicense(f"unknown license version {head[-1]}")
        if shaped and _OTHER_PREFIX.fullmatch(head):
            raise InvalidLicense(f"wrong product: a license for {head[:-1]}, not {code}")
        raise not_a_license
    if not all(ch in _VALUE for ch in body):
        raise not_a_license
    data = _decode_symbols(body, _BODY_BYTES)
    if data is None:
        raise not_a_license
    payload, signature = data[: _PAYLOAD.size], data[_PAYLOAD.size :]
    version, key_id, serial_bytes, license_no, issued_day, expires_day, edition = _PAYLOAD.unpack(
        payload
    )
    if version != VERSION:
        raise InvalidLicense(f"unknown license version {version}")
    info = LicenseInfo(
        serial=serials.from_bytes(serial_bytes, code),
        license_no=license_no,
        issued=EPOCH + timedelta(days=issued_day),
        expires=None if expires_day == 0 else EPOCH + timedelta(days=expires_day),
        edition=edition,
        key_id=key_id,
    )
    return info, payload, signature
