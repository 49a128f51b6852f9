"""The signed revocation list: round trip, tampering, and no confusion with license signatures."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mailbot.core.license_format import sign_license
from mailbot.core.revocation_format import (
    InvalidRevocationList,
    sign_revocation_list,
    verify_revocation_list,
)
from tests.builders import new_serial


def _key(label: str) -> Ed25519PrivateKey:
    import hashlib

    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(label.encode()).digest())


def test_revocation_list_round_trip_and_tampering() -> None:
    key, other = _key("a"), _key("b")
    at = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    data = sign_revocation_list(key, product_code="AMC", revoked=[7, 3, 7], issued_at=at)
    got = verify_revocation_list(data, [other.public_key(), key.public_key()], "AMC")
    assert got.revoked == frozenset({3, 7}) and got.issued_at == at and got.product == "AMC"
    assert got.is_revoked(3) and not got.is_revoked(4)

    with pytest.raises(InvalidRevocationList, match="unknown signing key"):
        verify_revocation_list(data, [other.public_key()], "AMC")
    with pytest.raises(InvalidRevocationList, match="signature does not match"):
        verify_revocation_list(data, [key.public_key()], "XYZ")  # the product is signed too
    document = json.loads(data)
    payload = json.loads(base64.b64decode(document["payload"]))
    payload["revoked"] = [3]  # an attacker un-revokes license 7
    document["payload"] = base64.b64encode(json.dumps(payload).encode()).decode()
    with pytest.raises(InvalidRevocationList, match="signature does not match"):
        verify_revocation_list(json.dumps(document), [key.public_key()], "AMC")
    for broken in (b"", b"not json", b"{}", json.dumps({**json.loads(data), "signature": "!"})):
        with pytest.raises(InvalidRevocationList):
            verify_revocation_list(broken, [key.public_key()], "AMC")


def test_a_license_signature_never_passes_as_a_list_signature() -> None:
    # Sign, as a license, exactly the bytes a list would carry: the domains differ, so it fails.
    key = _key("a")
    at = datetime(2026, 11, 29, tzinfo=UTC)
    genuine = json.loads(sign_revocation_list(key, product_code="AMC", revoked=[], issued_at=at))
    payload = base64.b64decode(genuine["payload"])
    license_domain = b"mailbot-license/v1/AMC\0"
    forged = {**genuine, "signature": base64.b64encode(key.sign(license_domain + payload)).decode()}
    with pytest.raises(InvalidRevocationList, match="signature does not match"):
        verify_revocation_list(json.dumps(forged), [key.public_key()], "AMC")
    # And a real license string is untouched by the list code.
    assert sign_license(
        key,
        serial=new_serial(),
        license_no=1,
        issued=at.date(),
        expires=None,
        edition=1,
        product_code="AMC",
    ).startswith("AMC1-")
