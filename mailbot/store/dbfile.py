"""The database file itself, before SQLite opens it: made private (0600) and whole before anyone
can see it, and a file that is a folder, empty or not SQLite refused rather than written over.

Apart from the engine (the connection, transactions, migrations) because these are checks on
the file system, the same for any process that opens the store, and the reason a damaged or
foreign file is never mistaken for a new database.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import uuid
from pathlib import Path

from mailbot.store.errors import StoreError

SQLITE_MAGIC = b"SQLite format 3\x00"
FILE_MODE = 0o600
APPLICATION_ID = 0x4D424F54  # "MBOT" in the SQLite header: a database mailbot made


def prepare_file(file: Path) -> None:
    """The folder exists, the file is ours or new, and new files are private.

    Only before this process has the database open: the check reads the file with plain file
    calls, and closing that handle would drop SQLite's POSIX locks on it."""
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"cannot create the folder {file.parent} for the database "
            f"({exc.strerror or exc}): fix [store] path or the folder's "
            "permissions"
        ) from None
    if file.is_dir():
        raise StoreError(f"{file} is a folder, not a database file: fix [store] path")
    if file.exists():
        size = file.stat().st_size
        if size == 0:
            raise StoreError(
                f"{file} is empty (0 bytes), not a mailbot database: restore it from a backup, "
                "or delete it to start a new one (all history would be gone)"
            )
        with file.open("rb") as handle:
            if handle.read(len(SQLITE_MAGIC)) != SQLITE_MAGIC:
                raise StoreError(
                    f"{file} is not a database file: point [store] path at "
                    "another file, or restore the database from a backup"
                )
        for each in (file, file.with_name(file.name + "-wal"), file.with_name(file.name + "-shm")):
            private(each)
        return
    # Made whole under a temporary name and linked into place, so another process opening the
    # same new path at this moment sees either nothing or a valid database, never 0 bytes.
    tmp = file.with_name(f".{file.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.new")
    try:
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE)
        os.close(fd)
        conn = sqlite3.connect(str(tmp))
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.commit()
        conn.close()
        try:
            os.link(tmp, file)
        except FileExistsError:
            pass  # another process made it a moment ago
    except OSError as exc:
        raise StoreError(
            f"cannot create {file} ({exc.strerror or exc}): fix [store] path or "
            "the folder's permissions"
        ) from None
    finally:
        tmp.unlink(missing_ok=True)


def private(file: Path, mode: int = FILE_MODE) -> None:
    """Take group and other permissions off a state file of ours (if we own it)."""
    try:
        info = file.stat()
        if info.st_uid == os.geteuid() and stat.S_IMODE(info.st_mode) & ~mode:
            os.chmod(file, stat.S_IMODE(info.st_mode) & mode)
    except OSError:
        pass  # not ours to change; reading it will say what is wrong


def group_id(name: str) -> int:
    """The id of a group for `[store] group`; StoreError when there is none of that name."""
    import grp

    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        raise StoreError(f"[store] group = {name!r}: no such group on this machine") from None


def share_with_group(file: Path, gid: int) -> None:
    """A state file readable by a staff group: owner read-write, group read (0640)."""
    for each in (file, file.with_name(file.name + "-wal"), file.with_name(file.name + "-shm")):
        try:
            info = each.stat()
            if info.st_uid != os.geteuid():
                continue
            if info.st_gid != gid:
                os.chown(each, -1, gid)
            if stat.S_IMODE(info.st_mode) != 0o640:
                os.chmod(each, 0o640)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise StoreError(
                f"cannot give {each} to the group of [store] group "
                f"({exc.strerror or exc}): the user running mailbot must be a "
                "member of that group"
            ) from None
