"""Files only mailbot's user may read: private folders (0700), files written whole with mode 0600
from their first byte, and the secret behind staff reply addresses.

The signing key (`signing.py`) and the reply secret are written the same way: to a temporary
file of mode 0600, flushed, then linked into place, so a crash never leaves half a secret and
two processes creating it at once end up with one (the second reads the first's).
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

REPLY_SECRET_NAME = "staff-reply.key"
_REPLY_SECRET_BYTES = 32


class PrivateFileError(Exception):
    """A private file that cannot be used, with what to do about it (names it, never its
    contents)."""


def reply_secret_path(private_key: Path) -> Path:
    """Where the reply secret lives: beside the signing key, in the same private folder."""
    return Path(private_key).with_name(REPLY_SECRET_NAME)


def load_reply_secret(path: Path) -> bytes:
    """The secret that makes reply-by-mail tokens, created (32 random bytes) on first use.

    Its own file and not derived from the signing key: rotating the signing key (or keeping it
    passphrase-encrypted, unreadable to a worker without the passphrase) must not touch reply
    addresses, and deleting this file to invalidate every outstanding reply address must not
    touch licenses. Raises PrivateFileError."""
    path = Path(path)
    if not os.path.lexists(path):
        make_private_dirs(path.parent)
        temp = write_private_temp(path, secrets.token_hex(_REPLY_SECRET_BYTES).encode() + b"\n")
        try:
            os.link(temp, path)
        except FileExistsError:
            pass  # another process made it first: theirs is the secret
        finally:
            temp.unlink(missing_ok=True)
        fsync_dir(path.parent)
    check_private(path, "reply secret")
    try:
        secret = bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (ValueError, UnicodeDecodeError):
        raise PrivateFileError(
            f"{path} is not a mailbot reply secret; delete it to make a new one "
            "(answers to notifications sent before are then refused)"
        ) from None
    except PermissionError:
        raise PrivateFileError(f"cannot read the reply secret {path}: permission denied") from None
    if len(secret) < _REPLY_SECRET_BYTES // 2:
        raise PrivateFileError(f"the reply secret {path} is too short; delete it to make a new one")
    return secret


def check_private(path: Path, what: str) -> os.stat_result:
    """The file's status when it is a regular file nobody but its owner can use; else
    PrivateFileError saying what to do."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise PrivateFileError(f"no {what} at {path}") from None
    if not stat.S_ISREG(info.st_mode):
        raise PrivateFileError(f"{what} {path} is not a regular file")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise PrivateFileError(
            f"{what} {path} is accessible to other users (mode {mode:04o}): run `chmod 600 {path}`"
        )
    return info


def make_private_dirs(directory: Path) -> None:
    """Create the missing folders leading to `directory`, each 0700 (existing ones untouched)."""
    missing: list[Path] = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            continue
        os.chmod(folder, 0o700)  # whatever the umask


def write_private_temp(beside: Path, data: bytes) -> Path:
    """`data` in a new 0600 file next to `beside`, flushed to disk; the caller moves it in."""
    temp = beside.with_name(f".{beside.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        temp.unlink(missing_ok=True)
        raise
    os.close(fd)
    return temp


def fsync_dir(directory: Path) -> None:
    # Makes the rename/link itself durable, not just the file's bytes.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
