"""The signed revocation list the desktop app downloads: which license numbers are revoked.

Like `license_format.py`, whose keys, key ids and product-code rule it shares, the desktop app
embeds it, so it imports nothing but the standard library, `cryptography` and `.license_format`.
Apart from the license format because it is a second document with its own life (published by
`mailbot licenses revoked --signed`, fetched and replaced by the app), not part of a license.

Format
------
`mailbot licenses revoked --signed` publishes the numbers of revoked licenses as a small JSON
document the desktop app downloads and checks with the same public keys::

    {"format": "mailbot-revocations/v1", "key_id": "3f",
     "payload": "<base64 of the payload JSON>", "signature": "<base64, 64 bytes>"}

The payload is UTF-8 JSON ``{"product": "AMC", "issued_at": "2025-05-01T12:00:00Z",
"revoked": [3, 17]}``; the signature is Ed25519 over
``b"mailbot-revocations/v1/" + product_code + b"\\0" + payload``. The signed bytes are carried
as base64, so no JSON canonicalisation is needed, and the domain prefix differs from the
license's: no license signature can ever pass as a list signature, nor the other way round.
An app should keep the newest `issued_at` it has accepted and refuse older lists, so that an old
(shorter) list cannot be replayed to it.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .license_format import SIGNATURE_BYTES, checked_product_code, key_id_of, signed_by

REVOCATIONS_FORMAT = "mailbot-revocations/v1"
_MAX_REVOCATIONS_INPUT = 64 * 1024 * 1024


class InvalidRevocationList(ValueError):
    """A revocation list that does not hold; `reason` says why in plain words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class RevocationList:
    """A verified revocation list."""

    product: str
    issued_at: datetime
    revoked: frozenset[int]  # license numbers
    key_id: int

    def is_revoked(self, license_no: int) -> bool:
        return license_no in self.revoked


def sign_revocation_list(
    private_key: Ed25519PrivateKey,
    *,
    product_code: str,
    revoked: Iterable[int],
    issued_at: datetime,
) -> bytes:
    """The signed revocation list document (UTF-8 JSON bytes) for `revoked` license numbers."""
    code = checked_product_code(product_code)
    numbers = sorted(set(revoked))
    if any(not 0 <= n <= 0xFFFFFFFF for n in numbers):
        raise ValueError("license numbers must fit in 32 bits")
    stamp = issued_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    payload = json.dumps(
        {"product": code, "issued_at": stamp, "revoked": numbers}, separators=(",", ":")
    ).encode("utf-8")
    signature = private_key.sign(_revocations_domain(code) + payload)
    document = {
        "format": REVOCATIONS_FORMAT,
        "key_id": f"{key_id_of(private_key.public_key()):02x}",
        "payload": base64.b64encode(payload).decode("ascii"),
        "signature": base64.b64encode(signature).decode("ascii"),
    }
    return (json.dumps(document, indent=1) + "\n").encode("utf-8")


def verify_revocation_list(
    data: bytes | str,
    public_keys: Iterable[Ed25519PublicKey],
    product_code: str,
) -> RevocationList:
    """Check a revocation list document against `public_keys` for `product_code`.

    Raises InvalidRevocationList. Only what the signature covers is returned.
    """
    code = checked_product_code(product_code)
    if len(data) > _MAX_REVOCATIONS_INPUT:
        raise InvalidRevocationList("not a revocation list: too large")
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise InvalidRevocationList("not a revocation list: not JSON") from None
    if not isinstance(document, dict) or document.get("format") != REVOCATIONS_FORMAT:
        raise InvalidRevocationList(f"not a revocation list: format is not {REVOCATIONS_FORMAT}")
    try:
        key_id = int(str(document["key_id"]), 16)
        payload = base64.b64decode(str(document["payload"]), validate=True)
        signature = base64.b64decode(str(document["signature"]), validate=True)
    except (KeyError, ValueError, binascii.Error):
        raise InvalidRevocationList("not a revocation list: fields missing or damaged") from None
    if len(signature) != SIGNATURE_BYTES:
        raise InvalidRevocationList("not a revocation list: damaged signature")
    candidates = [key for key in public_keys if key_id_of(key) == key_id]
    if not candidates:
        raise InvalidRevocationList(f"unknown signing key (key id {key_id:02x})")
    message = _revocations_domain(code) + payload
    if not any(signed_by(key, signature, message) for key in candidates):
        raise InvalidRevocationList("signature does not match")
    try:
        body = json.loads(payload)
        product = body["product"]
        issued_at = datetime.strptime(body["issued_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        revoked = body["revoked"]
        if not isinstance(revoked, list) or not all(
            isinstance(n, int) and not isinstance(n, bool) for n in revoked
        ):
            raise ValueError("revoked")
    except (ValueError, KeyError, TypeError):
        raise InvalidRevocationList("signed, but the payload is malformed") from None
    if product != code:
        raise InvalidRevocationList(f"wrong product: a list for {product}, not {code}")
    return RevocationList(product, issued_at, frozenset(revoked), key_id)


def _revocations_domain(code: str) -> bytes:
    return REVOCATIONS_FORMAT.encode("ascii") + b"/" + code.encode("ascii") + b"\0"
