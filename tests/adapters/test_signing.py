"""Signing key files: creation, permissions, passphrases, rotation, and the Signer."""

from __future__ import annotations

import base64
import os
import re
import stat
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from mailbot.adapters.signing import (
    KeyFileError,
    Signer,
    fingerprint,
    init_key,
    load_private_key,
    load_public_keys,
    public_key_file,
    public_key_text,
    rotate_key,
)
from mailbot.core import serials
from mailbot.core.license_format import InvalidLicense, key_id_of, verify_license

CODE = "AMC"
SERIAL = serials.format_serial("0123456789ABCDE" + serials.check_symbol("0123456789ABCDE"))


def mode_of(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes_raw()


@pytest.fixture
def paths(tmp_path: Path) -> tuple[Path, Path]:
    keys = tmp_path / "data" / "keys"
    return keys / "signing.pem", keys / "public"


@pytest.fixture
def umask_zero() -> Iterator[None]:
    # The most permissive umask: the key file must still come out 0600.
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def verify(text: str, public_keys: list[Ed25519PublicKey]) -> int:
    return verify_license(text, serial=SERIAL, public_keys=public_keys, product_code=CODE).key_id


# -- init ------------------------------------------------------------------------------------------


def test_init_creates_a_0600_key_in_0700_folders_and_publishes_it(
    paths: tuple[Path, Path], umask_zero: None
) -> None:
    private, public_dir = paths
    created, public = init_key(private, public_dir, None)
    assert created
    assert mode_of(private) == 0o600
    assert mode_of(private.parent) == 0o700
    assert mode_of(private.parent.parent) == 0o700
    assert private.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert raw(load_private_key(private, None).public_key()) == raw(public)

    published = public_dir / f"key-{key_id_of(public):02x}.pub"
    assert published == public_key_file(public_dir, public)
    assert published.read_text() == base64.b64encode(raw(public)).decode() + "\n"
    assert published.read_text() == public_key_text(public) + "\n"
    # Nothing half-written or temporary is left behind.
    assert sorted(p.name for p in private.parent.iterdir()) == ["public", "signing.pem"]
    assert [p.name for p in public_dir.iterdir()] == [published.name]


def test_init_is_idempotent(paths: tuple[Path, Path]) -> None:
    private, public_dir = paths
    _, first = init_key(private, public_dir, None)
    before = private.read_bytes()
    created, second = init_key(private, public_dir, None)
    assert not created
    assert raw(first) == raw(second)
    assert private.read_bytes() == before


def test_init_republishes_a_missing_public_key(paths: tuple[Path, Path]) -> None:
    private, public_dir = paths
    _, public = init_key(private, public_dir, None)
    public_key_file(public_dir, public).unlink()
    init_key(private, public_dir, None)
    assert public_key_file(public_dir, public).exists()


def test_init_refuses_to_overwrite_a_different_public_key_with_the_same_id(
    paths: tuple[Path, Path],
) -> None:
    private, public_dir = paths
    _, public = init_key(private, public_dir, None)
    target = public_key_file(public_dir, public)
    impostor = same_id_key(key_id_of(public))
    target.write_text(public_key_text(impostor.public_key()) + "\n")
    with pytest.raises(KeyFileError, match="different public key with the same id"):
        init_key(private, public_dir, None)
    assert target.read_text() == public_key_text(impostor.public_key()) + "\n"


def test_init_with_a_passphrase_encrypts_the_key(paths: tuple[Path, Path]) -> None:
    private, public_dir = paths
    _, public = init_key(private, public_dir, b"correct horse")
    pem = private.read_bytes()
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    with pytest.raises(TypeError):
        serialization.load_pem_private_key(pem, password=None)
    assert raw(load_private_key(private, b"correct horse").public_key()) == raw(public)


# -- loading ---------------------------------------------------------------------------------------


def test_missing_key_says_how_to_create_one(paths: tuple[Path, Path]) -> None:
    private, _ = paths
    with pytest.raises(KeyFileError, match=r"run `mailbot keys init`"):
        load_private_key(private, None)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o700 | 0o004])
def test_a_key_others_can_read_is_refused(paths: tuple[Path, Path], mode: int) -> None:
    private, public_dir = paths
    init_key(private, public_dir, None)
    os.chmod(private, mode)
    with pytest.raises(KeyFileError) as caught:
        load_private_key(private, None)
    assert f"chmod 600 {private}" in str(caught.value)
    os.chmod(private, 0o600)
    load_private_key(private, None)
    os.chmod(private, 0o400)  # stricter than needed is fine
    load_private_key(private, None)


def test_passphrase_errors_are_plain(paths: tuple[Path, Path]) -> None:
    private, public_dir = paths
    init_key(private, public_dir, b"s3cret")
    with pytest.raises(KeyFileError, match="wrong passphrase"):
        load_private_key(private, b"not it")
    with pytest.raises(KeyFileError, match="passphrase is needed"):
        load_private_key(private, None)
    with pytest.raises(KeyFileError, match="passphrase is needed"):
        load_private_key(private, b"")  # an empty passphrase is none


def test_passphrase_for_an_unencrypted_key_is_an_error(paths: tuple[Path, Path]) -> None:
    private, public_dir = paths
    init_key(private, public_dir, None)
    with pytest.raises(KeyFileError, match="not encrypted"):
        load_private_key(private, b"s3cret")


def test_errors_never_include_key_material(paths: tuple[Path, Path]) -> None:
    private, public_dir = paths
    init_key(private, public_dir, None)
    pem = private.read_text()
    os.chmod(private, 0o644)
    with pytest.raises(KeyFileError) as caught:
        load_private_key(private, b"x")
    body = "".join(pem.splitlines()[1:-1])
    assert body[:20] not in str(caught.value)


def write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.chmod(path, 0o600)


def test_damaged_or_foreign_key_files(paths: tuple[Path, Path]) -> None:
    private, _ = paths
    write_private(private, b"this is not a key\n")
    with pytest.raises(KeyFileError, match="not a PEM private key"):
        load_private_key(private, None)

    ec_key = ec.generate_private_key(ec.SECP256R1())
    write_private(
        private,
        ec_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    with pytest.raises(KeyFileError, match="not an Ed25519 key"):
        load_private_key(private, None)

    private.unlink()
    private.mkdir()
    with pytest.raises(KeyFileError, match="not a regular file"):
        load_private_key(private, None)


def test_public_keys_from_a_missing_folder_are_none(tmp_path: Path) -> None:
    assert load_public_keys(tmp_path / "nowhere") == []
    assert load_public_keys(tmp_path / "nowhere", tmp_path / "no-key.pem") == []


def test_public_keys_include_the_private_keys_own_when_readable(tmp_path: Path) -> None:
    plain, encrypted = tmp_path / "plain.pem", tmp_path / "encrypted.pem"
    _, plain_public = init_key(plain, tmp_path / "elsewhere", None)
    init_key(encrypted, tmp_path / "elsewhere2", b"pw")
    empty = tmp_path / "empty"
    assert [raw(k) for k in load_public_keys(empty, plain)] == [raw(plain_public)]
    assert load_public_keys(empty, encrypted) == []  # needs a passphrase: skipped, no error
    # Already in the folder: listed once.
    assert len(load_public_keys(tmp_path / "elsewhere", plain)) == 1


def test_a_damaged_public_key_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "key-00.pub").write_text("garbage!\n")
    with pytest.raises(KeyFileError, match="key-00.pub"):
        load_public_keys(tmp_path)


# -- rotation --------------------------------------------------------------------------------------


def test_rotation_keeps_old_licenses_valid_and_signs_new_ones_with_the_new_key(
    paths: tuple[Path, Path], umask_zero: None
) -> None:
    private, public_dir = paths
    _, old_public = init_key(private, public_dir, None)
    old_signer = Signer(load_private_key(private, None), CODE)
    old_license = old_signer.sign(SERIAL, 1, date(2024, 5, 1))

    new_public = rotate_key(private, public_dir, None)
    old_id, new_id = key_id_of(old_public), key_id_of(new_public)
    assert old_id != new_id

    # The active file is the new key, still 0600; the old one is retired beside it, 0600.
    new_key = load_private_key(private, None)
    assert raw(new_key.public_key()) == raw(new_public)
    assert mode_of(private) == 0o600
    retired = private.with_name(f"signing.pem.retired-{old_id:02x}")
    assert mode_of(retired) == 0o600
    assert raw(load_private_key(retired, None).public_key()) == raw(old_public)
    assert sorted(p.name for p in private.parent.iterdir()) == [
        "public",
        "signing.pem",
        retired.name,
    ]
    assert sorted(p.name for p in public_dir.iterdir()) == sorted(
        [f"key-{old_id:02x}.pub", f"key-{new_id:02x}.pub"]
    )

    new_signer = Signer(new_key, CODE)
    assert new_signer.key_id == new_id
    new_license = new_signer.sign(SERIAL, 2, date(2024, 6, 1))
    known = load_public_keys(public_dir, private)
    assert verify(old_license, known) == old_id
    assert verify(new_license, known) == new_id
    # Without the published old key, the old license names a key nobody knows.
    with pytest.raises(InvalidLicense, match="unknown signing key"):
        verify(old_license, [new_public])


def test_rotating_twice_with_a_passphrase(paths: tuple[Path, Path]) -> None:
    private, public_dir = paths
    _, first = init_key(private, public_dir, b"pw")
    licenses = [Signer(load_private_key(private, b"pw"), CODE).sign(SERIAL, 1, date(2024, 1, 1))]
    second = rotate_key(private, public_dir, b"pw")
    licenses.append(
        Signer(load_private_key(private, b"pw"), CODE).sign(SERIAL, 2, date(2024, 2, 1))
    )
    third = rotate_key(private, public_dir, b"pw")
    licenses.append(
        Signer(load_private_key(private, b"pw"), CODE).sign(SERIAL, 3, date(2024, 3, 1))
    )

    assert private.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    ids = [key_id_of(k) for k in (first, second, third)]
    assert len(set(ids)) == 3
    known = load_public_keys(public_dir)
    assert [verify(text, known) for text in licenses] == ids
    for old in ids[:2]:
        retired = private.with_name(f"signing.pem.retired-{old:02x}")
        load_private_key(retired, b"pw")


def test_rotation_needs_the_current_key(paths: tuple[Path, Path]) -> None:
    private, public_dir = paths
    with pytest.raises(KeyFileError, match="mailbot keys init"):
        rotate_key(private, public_dir, None)
    init_key(private, public_dir, b"pw")
    before = private.read_bytes()
    with pytest.raises(KeyFileError, match="wrong passphrase"):
        rotate_key(private, public_dir, b"nope")
    assert private.read_bytes() == before


def keys_for_every_id() -> dict[int, Ed25519PrivateKey]:
    found: dict[int, Ed25519PrivateKey] = {}
    while len(found) < 256:
        key = Ed25519PrivateKey.generate()
        found.setdefault(key_id_of(key.public_key()), key)
    return found


def same_id_key(key_id: int) -> Ed25519PrivateKey:
    while True:
        key = Ed25519PrivateKey.generate()
        if key_id_of(key.public_key()) == key_id:
            return key


def test_new_keys_take_an_id_no_known_key_has(paths: tuple[Path, Path]) -> None:
    private, public_dir = paths
    every = keys_for_every_id()
    public_dir.mkdir(parents=True, exist_ok=True)
    free = {0x5A, 0xA5}
    for key_id, key in every.items():
        if key_id not in free:
            public_key_file(public_dir, key.public_key()).write_text(
                public_key_text(key.public_key()) + "\n"
            )

    _, first = init_key(private, public_dir, None)
    assert key_id_of(first) in free
    second = rotate_key(private, public_dir, None)
    assert {key_id_of(first), key_id_of(second)} == free

    # All 256 ids are now taken: rotation must refuse and leave the active key alone.
    before = private.read_bytes()
    with pytest.raises(KeyFileError, match="all 256 key ids"):
        rotate_key(private, public_dir, None)
    assert private.read_bytes() == before


# -- printing and the Signer --------------------------------------------------------------------


def test_public_key_text_and_fingerprint(paths: tuple[Path, Path]) -> None:
    private, public_dir = paths
    _, public = init_key(private, public_dir, None)
    text = public_key_text(public)
    assert base64.b64decode(text) == raw(public) and "\n" not in text
    shown = fingerprint(public)
    match = re.fullmatch(r"key id ([0-9a-f]{2}), sha256 ([0-9a-f]{16})", shown)
    assert match
    assert int(match.group(1), 16) == key_id_of(public)
    assert match.group(2).startswith(match.group(1))  # the id is the digest's first byte


def test_signer_terms() -> None:
    key = Ed25519PrivateKey.generate()
    public = key.public_key()
    perpetual = Signer(key, CODE)
    assert perpetual.key_id == key_id_of(public)
    info = verify_license(
        perpetual.sign(SERIAL, 7, date(2025, 1, 1)),
        serial=SERIAL,
        public_keys=[public],
        product_code=CODE,
    )
    assert (info.license_no, info.issued, info.expires, info.edition) == (
        7,
        date(2025, 1, 1),
        None,
        1,
    )

    yearly = Signer(key, CODE, edition=3, license_days=365)
    info = verify_license(
        yearly.sign(SERIAL, 8, date(2025, 1, 1)),
        serial=SERIAL,
        public_keys=[public],
        product_code=CODE,
    )
    assert (info.expires, info.edition) == (date(2026, 1, 1), 3)

    with pytest.raises(ValueError):
        Signer(key, CODE, license_days=-1)
    with pytest.raises(ValueError):
        Signer(key, CODE, edition=256)


def test_signer_repr_hides_the_key() -> None:
    key = Ed25519PrivateKey.generate()
    secret = key.private_bytes_raw()
    shown = repr(Signer(key, CODE))
    assert "key_id=" in shown
    for form in (secret.hex(), base64.b64encode(secret).decode()):
        assert form not in shown
