"""The signing side: the vendor's Ed25519 key files (docs/contract.md, "License string").

- The private key is one PEM (PKCS#8) file, mode 0600, passphrase-encrypted when a passphrase is
  given. It is created with its final mode from the first byte (never briefly world-readable),
  written whole to a temporary file and then linked into place, so a crash never leaves half a
  key and two concurrent `init`s never overwrite each other. Directories this module creates
  for it are 0700.
- Every public key ever used stays in a folder as `key-<id>.pub` (one line: base64 of the 32 raw
  bytes), so licenses signed before a rotation keep verifying: verifiers pick the key by the id
  each license carries (see `mailbot/core/license_format.py`).
- Rotation keeps the old private key beside the new one as `<name>.retired-<id>` (0600) instead
  of deleting it, and swaps the active file atomically.

Nothing here prints or logs key material; errors name files, never contents.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from mailbot.adapters.private_files import (
    PrivateFileError,
    check_private,
    fsync_dir,
    make_private_dirs,
    write_private_temp,
)
from mailbot.core.license_format import key_id_of, public_key_from_text, sign_license
from mailbot.core.revocation_format import sign_revocation_list
from mailbot.core.terms import license_expiry

_KEY_IDS = 256


class KeyFileError(Exception):
    """A key file that cannot be used, with what to do about it."""


def init_key(
    private_key_path: Path, public_dir: Path, passphrase: bytes | None
) -> tuple[bool, Ed25519PublicKey]:
    """Create the signing key unless it exists; publish its public key either way.

    Returns (created, public key). An empty passphrase means none.
    """
    private_key_path = Path(private_key_path)
    if os.path.lexists(private_key_path):
        public = load_private_key(private_key_path, passphrase).public_key()
        _publish(public, Path(public_dir))
        return False, public
    key = _new_key(avoid={key_id_of(k) for k in load_public_keys(Path(public_dir))})
    make_private_dirs(private_key_path.parent)
    temp = write_private_temp(private_key_path, _private_pem(key, passphrase))
    try:
        os.link(temp, private_key_path)
    except FileExistsError:
        # Another `init` won the race: theirs is the key, ours was never used.
        public = load_private_key(private_key_path, passphrase).public_key()
        _publish(public, Path(public_dir))
        return False, public
    finally:
        temp.unlink(missing_ok=True)
    fsync_dir(private_key_path.parent)
    _publish(key.public_key(), Path(public_dir))
    return True, key.public_key()


def load_private_key(path: Path, passphrase: bytes | None) -> Ed25519PrivateKey:
    """The signing key, refusing files others can read. Raises KeyFileError."""
    path = Path(path)
    if not os.path.exists(path):
        raise KeyFileError(f"no signing key at {path}: run `mailbot keys init` to create one")
    try:
        check_private(path, "signing key")
    except PrivateFileError as exc:
        raise KeyFileError(str(exc)) from None
    try:
        data = path.read_bytes()
    except PermissionError:
        raise KeyFileError(f"cannot read signing key {path}: permission denied") from None
    encrypted = b"-----BEGIN ENCRYPTED PRIVATE KEY-----" in data
    passphrase = passphrase or None
    if encrypted and passphrase is None:
        raise KeyFileError(f"signing key {path} is encrypted: a passphrase is needed")
    if not encrypted and passphrase is not None:
        raise KeyFileError(f"signing key {path} is not encrypted, but a passphrase was given")
    try:
        key = serialization.load_pem_private_key(data, password=passphrase)
    except ValueError:
        if encrypted:
            raise KeyFileError(f"wrong passphrase for signing key {path}") from None
        raise KeyFileError(f"{path} is not a PEM private key") from None
    except Exception:  # cryptography raises several types for unsupported or damaged keys
        raise KeyFileError(f"{path} is not a usable private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path} holds a {type(key).__name__}, not an Ed25519 key")
    return key


def load_public_keys(
    public_dir: Path, private_key_path: Path | None = None
) -> list[Ed25519PublicKey]:
    """Every public key that may have signed a license: the folder's *.pub (a missing folder is
    no keys), plus the private key's own public key when it can be read without a passphrase."""
    keys: list[Ed25519PublicKey] = []
    seen: set[bytes] = set()

    def add(key: Ed25519PublicKey) -> None:
        raw = _raw(key)
        if raw not in seen:
            seen.add(raw)
            keys.append(key)

    public_dir = Path(public_dir)
    if public_dir.is_dir():
        for file in sorted(public_dir.glob("*.pub")):
            add(_read_public(file))
    if private_key_path is not None:
        try:
            add(load_private_key(Path(private_key_path), None).public_key())
        except KeyFileError:
            pass  # encrypted or absent: its public key is in the folder if it ever signed
    return keys


def rotate_key(
    private_key_path: Path, public_dir: Path, passphrase: bytes | None
) -> Ed25519PublicKey:
    """Replace the signing key with a new one whose id no known key has; old licenses keep
    verifying through the old public key, which stays in `public_dir`. The new key is encrypted
    with the same passphrase. The old private file is kept as `<name>.retired-<id>`."""
    private_key_path = Path(private_key_path)
    public_dir = Path(public_dir)
    old = load_private_key(private_key_path, passphrase).public_key()
    _publish(old, public_dir)
    known = {key_id_of(k) for k in load_public_keys(public_dir)} | {key_id_of(old)}
    key = _new_key(avoid=known)
    retired = private_key_path.with_name(f"{private_key_path.name}.retired-{key_id_of(old):02x}")
    current = private_key_path.read_bytes()
    if os.path.lexists(retired) and retired.read_bytes() != current:
        raise KeyFileError(f"{retired} exists and holds another key; move it aside first")
    # Publish first: a crash after this leaves an unused public key, which is harmless.
    _publish(key.public_key(), public_dir)
    temp = write_private_temp(private_key_path, _private_pem(key, passphrase))
    try:
        if not os.path.lexists(retired):
            os.link(private_key_path, retired)
        os.chmod(retired, 0o600)
        os.replace(temp, private_key_path)
    finally:
        temp.unlink(missing_ok=True)
    fsync_dir(private_key_path.parent)
    return key.public_key()


def public_key_text(public_key: Ed25519PublicKey) -> str:
    """Base64 of the 32 raw bytes: what to print, publish, or embed in the desktop app."""
    return base64.b64encode(_raw(public_key)).decode("ascii")


def fingerprint(public_key: Ed25519PublicKey) -> str:
    """A short, human-comparable identity: 'key id 3f, sha256 3f09a1c2d4e5f607'."""
    digest = hashlib.sha256(_raw(public_key)).hexdigest()
    return f"key id {key_id_of(public_key):02x}, sha256 {digest[:16]}"


def public_key_file(public_dir: Path, public_key: Ed25519PublicKey) -> Path:
    """Where `public_key` is published in `public_dir`."""
    return Path(public_dir) / f"key-{key_id_of(public_key):02x}.pub"


class Signer:
    """The Signer port: signs licenses with one key for one product, edition and term, and
    knows the public keys (the published folder plus its own) that verify them."""

    def __init__(
        self,
        private_key: Ed25519PrivateKey,
        product_code: str,
        edition: int = 1,
        license_days: int = 0,
        public_dir: Path | None = None,
        grace_days: int = 0,
    ) -> None:
        if license_days < 0 or grace_days < 0:
            raise ValueError(
                f"license_days and grace_days must be 0 or more: {license_days}, {grace_days}"
            )
        if not 0 <= edition <= 0xFF:
            raise ValueError(f"edition out of range: {edition}")
        self._private_key = private_key
        self.product_code = product_code
        self.edition = edition
        self.license_days = license_days
        self.grace_days = grace_days
        self.public_key = private_key.public_key()
        self._key_id = key_id_of(self.public_key)
        self._public_dir = public_dir

    @property
    def key_id(self) -> int:
        return self._key_id

    def public_keys(self) -> list[Ed25519PublicKey]:
        """The published public keys and this key's own: what a verifier of ours knows."""
        keys = load_public_keys(self._public_dir, None) if self._public_dir else []
        if all(_raw(k) != _raw(self.public_key) for k in keys):
            keys.append(self.public_key)
        return keys

    def sign_revocation_list(self, revoked: Sequence[int], issued_at: datetime) -> bytes:
        return sign_revocation_list(
            self._private_key, product_code=self.product_code, revoked=revoked, issued_at=issued_at
        )

    def expiry(self, issued: date, paid_until: date | None = None) -> date | None:
        """The expiry a license signed now carries: `grace_days` after an order's paid term,
        else `license_days` after `issued` (0: never). See core/terms.py."""
        return license_expiry(
            issued,
            paid_until=paid_until,
            grace_days=self.grace_days,
            license_days=self.license_days,
        )

    def sign(
        self, serial: str, license_no: int, issued: date, paid_until: date | None = None
    ) -> str:
        """The license string, expiring as `expiry` says. Raises ValueError for a term that
        ended before `issued` (a lapsed order gives no licenses)."""
        expires = self.expiry(issued, paid_until)
        return sign_license(
            self._private_key,
            serial=serial,
            license_no=license_no,
            issued=issued,
            expires=expires,
            edition=self.edition,
            product_code=self.product_code,
            key_id=self._key_id,
        )

    def __repr__(self) -> str:  # never the key itself
        return (
            f"Signer(product_code={self.product_code!r}, key_id={self.key_id:02x}, "
            f"edition={self.edition}, license_days={self.license_days}, "
            f"grace_days={self.grace_days})"
        )


# -- internals ---------------------------------------------------------------------------------


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _new_key(avoid: set[int]) -> Ed25519PrivateKey:
    # Distinct ids let a verifier find a license's key by id alone.
    if len(avoid) >= _KEY_IDS:
        raise KeyFileError("all 256 key ids are taken by known public keys; retire some first")
    while True:
        key = Ed25519PrivateKey.generate()
        if key_id_of(key.public_key()) not in avoid:
            return key


def _private_pem(key: Ed25519PrivateKey, passphrase: bytes | None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def _read_public(file: Path) -> Ed25519PublicKey:
    try:
        return public_key_from_text(file.read_text(encoding="ascii"))
    except (ValueError, UnicodeDecodeError):
        raise KeyFileError(
            f"{file} is not a mailbot public key (one line of base64, 32 bytes)"
        ) from None


def _publish(public_key: Ed25519PublicKey, public_dir: Path) -> Path:
    """Write `key-<id>.pub` unless it is already there; never overwrite a different key."""
    target = public_key_file(public_dir, public_key)
    if target.exists():
        if _raw(_read_public(target)) != _raw(public_key):
            raise KeyFileError(
                f"{target} holds a different public key with the same id; move it aside "
                "(licenses it signed would stop verifying if it were lost)"
            )
        return target
    public_dir.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    try:
        temp.write_text(public_key_text(public_key) + "\n", encoding="ascii")
        os.chmod(temp, 0o644)  # public by nature: the desktop app build and support read it
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)
    return target
