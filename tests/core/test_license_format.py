"""License strings: format, round trip, tamper detection, tolerance, and the embeddable verifier."""

from __future__ import annotations

import ast
import hashlib
import json
import struct
import subprocess
import sys
import textwrap
from dataclasses import FrozenInstanceError
from datetime import date, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from mailbot.core import license_format as lic
from mailbot.core import serials
from mailbot.core.license_format import (
    InvalidLicense,
    LicenseInfo,
    decode_license,
    key_id_of,
    public_key_from_text,
    short,
    sign_license,
    verify_license,
)

CODE = "AMC"
ALPHABET = serials.ALPHABET
LAST_DAY = date(2000, 1, 1) + timedelta(days=0xFFFF)


def fixed_key(label: str) -> Ed25519PrivateKey:
    """Deterministic keys, so a failing example reproduces exactly."""
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(label.encode()).digest())


KEY = fixed_key("test key one")
OTHER_KEY = fixed_key("test key two")
PUBLIC = KEY.public_key()


def colliding_key(key: Ed25519PrivateKey) -> Ed25519PrivateKey:
    """Another key with the same one-byte key id (about 256 tries)."""
    wanted = key_id_of(key.public_key())
    for n in range(100_000):
        other = fixed_key(f"collide {n}")
        if key_id_of(other.public_key()) == wanted and other != key:
            return other
    raise AssertionError("no colliding key found")


def make_serial(symbols: str, code: str = CODE) -> str:
    return serials.format_serial(symbols + serials.check_symbol(symbols), code)


serial_strategy = st.text(alphabet=ALPHABET, min_size=15, max_size=15).map(make_serial)
day_strategy = st.dates(min_value=date(2000, 1, 1), max_value=LAST_DAY)


def sign(serial: str, **overrides: object) -> str:
    fields: dict[str, object] = dict(
        serial=serial,
        license_no=42,
        issued=date(2025, 3, 14),
        expires=None,
        edition=1,
        product_code=CODE,
    )
    fields.update(overrides)
    return sign_license(KEY, **fields)  # type: ignore[arg-type]


def verify(text: str, serial: str, **overrides: object) -> LicenseInfo:
    fields: dict[str, object] = dict(serial=serial, public_keys=[PUBLIC], product_code=CODE)
    fields.update(overrides)
    return verify_license(text, **fields)  # type: ignore[arg-type]


def reason_of(text: str, serial: str, **overrides: object) -> str:
    with pytest.raises(InvalidLicense) as caught:
        verify(text, serial, **overrides)
    assert str(caught.value) == caught.value.reason
    return caught.value.reason


SERIAL = make_serial("0123456789ABCDE")
OTHER_SERIAL = make_serial("FGHJKMNPQRSTVWX")
LICENSE = sign(SERIAL)


# -- an independent reading of the format (docs/contract.md, "License strings"), not the module's own code -----


def reference_encode(data: bytes) -> str:
    bits = "".join(f"{byte:08b}" for byte in data)
    bits += "0" * (-len(bits) % 5)
    return "".join(ALPHABET[int(bits[i : i + 5], 2)] for i in range(0, len(bits), 5))


def reference_decode(symbols: str) -> bytes:
    bits = "".join(f"{ALPHABET.index(ch):05b}" for ch in symbols)
    usable = len(bits) // 8 * 8
    return int(bits[:usable], 2).to_bytes(usable // 8, "big")


def domain(code: str) -> bytes:
    return b"mailbot-license/v1/" + code.encode() + b"\0"


def forge(payload: bytes, key: Ed25519PrivateKey = KEY, code: str = CODE) -> str:
    """A correctly signed string around an arbitrary payload (e.g. an unknown version)."""
    body = reference_encode(payload + key.sign(domain(code) + payload))
    return f"{code}1-" + "-".join(body[i : i + 8] for i in range(0, len(body), 8))


def test_string_layout_matches_the_specification() -> None:
    serial = SERIAL
    text = sign(
        serial, license_no=0x01020304, issued=date(2024, 2, 29), expires=date(2026, 1, 1), edition=7
    )
    assert text.startswith("AMC1-")
    groups = text.removeprefix("AMC1-").split("-")
    assert [len(g) for g in groups] == [8] * 17
    assert all(ch in ALPHABET for g in groups for ch in g)
    assert 140 <= len(text) <= 160

    data = reference_decode("".join(groups))
    assert len(data) == 85
    payload, signature = data[:21], data[21:]
    version, key_id, serial_bytes, license_no, issued_day, expires_day, edition = struct.unpack(
        ">BB10sIHHB", payload
    )
    assert version == 1
    assert key_id == hashlib.sha256(PUBLIC.public_bytes_raw()).digest()[0]
    assert serial_bytes == serials.to_bytes(serial)
    assert license_no == 0x01020304
    assert issued_day == (date(2024, 2, 29) - date(2000, 1, 1)).days
    assert expires_day == (date(2026, 1, 1) - date(2000, 1, 1)).days
    assert edition == 7
    PUBLIC.verify(signature, domain(CODE) + payload)  # raises if the signed message differs


@settings(max_examples=200)
@given(
    serial=serial_strategy,
    license_no=st.integers(0, 2**32 - 1),
    issued=day_strategy,
    term=st.none() | st.integers(0, 0xFFFF),
    edition=st.integers(0, 255),
)
@example(serial=SERIAL, license_no=0, issued=date(2000, 1, 1), term=None, edition=0)
@example(serial=SERIAL, license_no=2**32 - 1, issued=LAST_DAY, term=0, edition=255)
def test_round_trip(
    serial: str, license_no: int, issued: date, term: int | None, edition: int
) -> None:
    expires = None if term is None else min(issued + timedelta(days=term), LAST_DAY)
    assume(expires != date(2000, 1, 1))  # day 0 is reserved for "perpetual"
    text = sign(serial, license_no=license_no, issued=issued, expires=expires, edition=edition)
    expected = LicenseInfo(serial, license_no, issued, expires, edition, key_id_of(PUBLIC))
    assert verify(text, serial) == expected
    assert verify(text, serial, today=issued) == expected
    assert decode_license(text, CODE) == expected
    assert len(text) == 157


@settings(max_examples=300)
@given(position=st.integers(min_value=0), replacement=st.sampled_from(ALPHABET + "OILoil"))
def test_changing_any_single_symbol_fails(position: int, replacement: str) -> None:
    places = [i for i, ch in enumerate(LICENSE) if ch != "-"]
    index = places[position % len(places)]
    original = LICENSE[index]
    canonical = str.maketrans("OIL", "011")
    assume(replacement.upper().translate(canonical) != original)
    tampered = LICENSE[:index] + replacement + LICENSE[index + 1 :]
    with pytest.raises(InvalidLicense):
        verify(tampered, SERIAL)


def test_every_position_matters() -> None:
    # Exhaustive companion to the property above: one changed symbol at each place.
    for index, ch in enumerate(LICENSE):
        if ch == "-":
            continue
        replacement = ALPHABET[(ALPHABET.index(ch) + 1) % 32] if ch in ALPHABET else "Z"
        with pytest.raises(InvalidLicense):
            verify(LICENSE[:index] + replacement + LICENSE[index + 1 :], SERIAL)


@given(first=serial_strategy, second=serial_strategy)
def test_license_for_one_serial_never_verifies_for_another(first: str, second: str) -> None:
    assume(first != second)
    text = sign(first)
    assert reason_of(text, second) == f"license is for serial {first}, not {second}"


def test_serial_to_verify_against_is_read_forgivingly_but_must_be_valid() -> None:
    loose = SERIAL.lower().replace("-", " ").replace("1", "l").replace("0", "o")
    assert verify(LICENSE, loose).serial == SERIAL
    mistyped = SERIAL[:-1] + ("0" if SERIAL[-1] != "0" else "1")
    assert "not a valid AMC serial" in reason_of(LICENSE, mistyped)


def test_wrapped_lowercased_and_reindented_strings_verify() -> None:
    # What mail clients and people do to a long line.
    variants = [
        textwrap.fill(LICENSE, 76),  # breaks after dashes, like format=flowed wrapping
        "\r\n".join(LICENSE[i : i + 76] for i in range(0, len(LICENSE), 76)),  # hard wrap
        "\n".join("    " + LICENSE[i : i + 76] for i in range(0, len(LICENSE), 76)),
        LICENSE.lower(),
        f"  \t{LICENSE.replace('-', ' ')}\n\n",
        LICENSE.replace("-", ""),
        LICENSE.replace("-", "\u2013"),  # an en dash from a word processor
        LICENSE.replace("-", "-\u00ad").replace("A", "A\u200b"),  # soft hyphen, zero-width
        LICENSE.replace("-", "\u00a0"),  # no-break space
    ]
    for variant in variants:
        assert verify(variant, SERIAL).serial == SERIAL, variant


def test_crockford_aliases_are_accepted() -> None:
    body = LICENSE.removeprefix("AMC1-")
    assert "0" in body or "1" in body
    aliased = "AMCl-" + body.replace("0", "o").replace("1", "I")
    assert verify(aliased, SERIAL).license_no == 42


def test_not_a_license_string() -> None:
    for junk in [
        "",
        "   ",
        "hello",
        SERIAL,
        LICENSE[:-1],
        LICENSE + "Q",
        "AMC1-" + "U" * 136,
        "x" * 100_000,
    ]:
        assert reason_of(junk, SERIAL).startswith("not a license string"), junk


def test_truncated_copy_says_so() -> None:
    reason = reason_of(LICENSE[:100], SERIAL)
    assert reason.startswith("not a license string") and "copied whole" in reason


def test_nonzero_padding_bits_are_rejected() -> None:
    # 85 bytes fill 136 symbols exactly today; the decoder must still insist on one spelling.
    assert lic._decode_symbols("01", 1) is None
    assert lic._decode_symbols("00", 1) == b"\0"


def test_license_of_another_product() -> None:
    foreign = sign_license(
        KEY,
        serial=make_serial("0123456789ABCDE", "XYZ"),
        license_no=1,
        issued=date(2025, 1, 1),
        expires=None,
        edition=1,
        product_code="XYZ",
    )
    assert reason_of(foreign, SERIAL).startswith("wrong product")
    assert reason_of(foreign, SERIAL) == "wrong product: a license for XYZ, not AMC"


def test_product_code_is_part_of_the_signature() -> None:
    # Same payload under another product's prefix: the domain separation must reject it.
    relabelled = "XYZ1-" + LICENSE.removeprefix("AMC1-")
    xyz_serial = make_serial("0123456789ABCDE", "XYZ")
    reason = reason_of(relabelled, xyz_serial, product_code="XYZ")
    assert reason == "signature does not match"


def test_unknown_signing_key() -> None:
    reason = reason_of(LICENSE, SERIAL, public_keys=[OTHER_KEY.public_key()])
    assert reason == f"unknown signing key (key id {key_id_of(PUBLIC):02x})"
    assert reason_of(LICENSE, SERIAL, public_keys=[]).startswith("unknown signing key")


def test_signature_from_a_key_sharing_the_id_does_not_match() -> None:
    impostor = colliding_key(KEY)
    assert reason_of(LICENSE, SERIAL, public_keys=[impostor.public_key()]) == (
        "signature does not match"
    )
    # Both known: the verifier tries each key with that id.
    assert verify(LICENSE, SERIAL, public_keys=[impostor.public_key(), PUBLIC]).serial == SERIAL


def test_a_payload_signed_by_someone_else_does_not_match() -> None:
    # The impostor claims our key id and signs with its own key.
    payload = struct.pack(
        ">BB10sIHHB", 1, key_id_of(PUBLIC), serials.to_bytes(SERIAL), 1, 9000, 0, 1
    )
    assert reason_of(forge(payload, key=OTHER_KEY), SERIAL) == "signature does not match"
    assert verify(forge(payload), SERIAL).license_no == 1  # control: our key, same payload


def test_unknown_version_is_invalid() -> None:
    payload = struct.pack(
        ">BB10sIHHB", 2, key_id_of(PUBLIC), serials.to_bytes(SERIAL), 1, 9000, 0, 1
    )
    assert reason_of(forge(payload), SERIAL) == "unknown license version 2"
    with pytest.raises(InvalidLicense):
        decode_license(forge(payload), CODE)
    assert reason_of(LICENSE.replace("AMC1-", "AMC2-"), SERIAL) == "unknown license version 2"


def test_expiry() -> None:
    text = sign(SERIAL, issued=date(2025, 1, 1), expires=date(2025, 12, 31))
    assert verify(text, SERIAL).expires == date(2025, 12, 31)  # no today: not checked
    assert verify(text, SERIAL, today=date(2025, 12, 31)).expires_day == 9496
    assert reason_of(text, SERIAL, today=date(2026, 1, 1)) == "expired on 2025-12-31"
    forever = verify(LICENSE, SERIAL, today=date(2179, 1, 1))
    assert forever.expires is None and forever.expires_day == 0


def test_serial_binding_is_checked_after_the_signature() -> None:
    # A forged license must not be able to learn (or echo) anything about serial binding.
    reason = reason_of(sign(OTHER_SERIAL), SERIAL, public_keys=[OTHER_KEY.public_key()])
    assert reason.startswith("unknown signing key")


def test_signing_rejects_what_the_format_cannot_carry() -> None:
    bad: list[dict[str, object]] = [
        dict(serial="AMC-0000"),
        dict(serial=SERIAL[:-1] + ("0" if SERIAL[-1] != "0" else "1")),  # wrong check symbol
        dict(license_no=-1),
        dict(license_no=2**32),
        dict(edition=256),
        dict(issued=date(1999, 12, 31)),
        dict(issued=LAST_DAY + timedelta(days=1)),
        dict(issued=date(2025, 1, 2), expires=date(2025, 1, 1)),
        dict(issued=date(2000, 1, 1), expires=date(2000, 1, 1)),
        dict(product_code="amc"),
        dict(product_code=""),
    ]
    for overrides in bad:
        with pytest.raises(ValueError):
            sign(**{"serial": SERIAL, **overrides})  # type: ignore[arg-type]


def test_info_and_error_types() -> None:
    info = decode_license(LICENSE, CODE)
    with pytest.raises(FrozenInstanceError):
        info.license_no = 1  # type: ignore[misc]
    assert issubclass(InvalidLicense, ValueError)
    with pytest.raises(InvalidLicense):
        decode_license("AMC1-nonsense", CODE)


def test_public_key_text_round_trip() -> None:
    import base64

    text = base64.b64encode(PUBLIC.public_bytes_raw()).decode()
    assert public_key_from_text(f" {text}\n") == PUBLIC
    for bad in ["", "not base64!", base64.b64encode(b"short").decode()]:
        with pytest.raises(ValueError):
            public_key_from_text(bad)


def test_short_form_is_redacted() -> None:
    assert short(LICENSE) == LICENSE[:13] + "…"
    assert short(textwrap.fill(LICENSE, 76)) == LICENSE[:13] + "…"


@given(st.text(alphabet=ALPHABET + "abc- \n", min_size=1, max_size=200))
def test_short_never_returns_the_whole_input(text: str) -> None:
    stripped = "".join(text.split()).strip("-")
    assume(stripped)
    redacted = short(text)
    assert stripped not in redacted
    assert len(redacted) <= 8 + 1 + 8 + 1


# -- the embeddable verifier ---------------------------------------------------------------------

CORE = Path(lic.__file__).parent
# The modules the desktop app embeds, and the siblings each may import relatively. The
# revocation list shares the license format's keys, key ids and product-code rule.
EMBEDDED = {
    "license_format": {"serials"},
    "revocation_format": {"serials", "license_format"},
}


@pytest.mark.parametrize("module", sorted(EMBEDDED))
def test_license_module_imports_only_stdlib_cryptography_and_serials(module: str) -> None:
    allowed = EMBEDDED[module]
    tree = ast.parse((CORE / f"{module}.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            tops = [alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                names = {alias.name for alias in node.names}
                assert (node.module is None and names <= allowed) or node.module in allowed, (
                    f"relative import of {node.module}: only "
                    f"{', '.join('.' + m for m in sorted(allowed))} may be embedded with it"
                )
                continue
            tops = [(node.module or "").split(".")[0]]
        else:
            continue
        for top in tops:
            assert top in sys.stdlib_module_names or top in {"__future__", "cryptography"}, top


# Run in a fresh interpreter (-I): only a new process starts with nothing imported.
PROBE = """
import json, sys
before = set(sys.modules)
import mailbot.core.MODULE
print(json.dumps({"new": sorted(set(sys.modules) - before), "all": sorted(sys.modules)}))
"""


@pytest.mark.parametrize("module", sorted(EMBEDDED))
def test_importing_the_verifier_loads_no_other_third_party_package(
    module: str, tmp_path: Path
) -> None:
    result = subprocess.run(
        [sys.executable, "-I", "-c", PROBE.replace("MODULE", module)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=True,
    )
    modules = json.loads(result.stdout)
    # cryptography's own compiled parts register under these top-level names.
    cryptography_native = {"_cffi_backend", "_openssl", "_rust"}
    third_party = {
        name
        for name in modules["new"]
        if name.split(".")[0] not in sys.stdlib_module_names
        and name.split(".")[0] not in {"mailbot", "cryptography"} | cryptography_native
    }
    assert third_party == set()
    ours = {name for name in modules["new"] if name.split(".")[0] == "mailbot"}
    # serials.py brings model.py (its finding types); nothing else of mailbot may come along.
    assert ours <= {
        "mailbot",
        "mailbot.core",
        "mailbot.core.license_format",
        "mailbot.core.serials",
        f"mailbot.core.{module}",
    }
    assert "cryptography" in modules["new"]
    for heavy in [
        "jinja2",
        "markupsafe",
        "click",
        "sqlite_utils",
        "apscheduler",
        "imapclient",
        "stripe",
        "rich",
        "mailbot.adapters.signing",
        "mailbot.config",
    ]:
        assert heavy not in modules["all"], heavy


@given(st.binary(max_size=200))
def test_the_fast_encoding_spells_what_the_definition_spells(data: bytes) -> None:
    """`_encode` goes through RFC 4648 base32 and a change of alphabet; by definition a
    license's symbols are its bits five at a time, the last group padded with zeros."""
    from mailbot.core import license_format, serials

    bits = len(data) * 8
    count = -(-bits // 5)
    value = int.from_bytes(data, "big") << (count * 5 - bits)
    spelled = "".join(serials.ALPHABET[(value >> (5 * (count - 1 - i))) & 31] for i in range(count))
    assert license_format._encode(data) == spelled
