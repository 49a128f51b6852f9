"""The SQLite side of the store: the connection, transactions, migrations, and small helpers the
table modules share. A second database engine would replace this module (and the few statements
that use SQLite's own functions, each marked `SQLite:`), not the table modules' queries.

One connection per process, used by one thread at a time: the scheduler runs its jobs on a
single executor thread. WAL mode and a busy timeout let several processes (the worker and staff
commands) take turns on one file.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence, Sized
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from mailbot.store.dbfile import FILE_MODE, group_id, prepare_file, share_with_group
from mailbot.store.errors import Conflict, StoreError, StoreVersionError
from mailbot.store.schema import MIGRATIONS, SCHEMA_VERSION

Params = Sequence[Any]


LOCK_RETRY_SECONDS = 30.0


def store_error(exc: sqlite3.Error, path: Path | None) -> StoreError:
    """One sentence for what went wrong with the database, and what to do about it."""
    where = str(path) if path is not None else "the database"
    said = str(exc)
    lowered = said.lower()
    if "disk is full" in lowered or "database or disk is full" in lowered:
        text = f"the disk holding {where} is full: free some space and run again"
    elif "locked" in lowered or "busy" in lowered:
        text = (
            f"{where} stayed locked for {LOCK_RETRY_SECONDS:.0f} s (another mailbot "
            "process holds it): run again when it is done"
        )
    elif "readonly" in lowered or "read-only" in lowered:
        text = f"{where} cannot be written by this user: fix its owner or mode"
    elif "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered:
        text = (
            f"{where} is damaged or not a mailbot database ({said}): restore it from a "
            "backup (`mailbot db backup` makes them); `mailbot db check` tells more"
        )
    elif "unable to open" in lowered:
        text = f"cannot open {where}: check that its folder exists and this user may write it"
    else:
        text = f"{where} cannot be used ({said})"
    return StoreError(text + "; the mail waits")


def schema_version_on_disk(path: Path) -> int:
    """The schema version written in the database at `path` (0 before the first migration),
    read without creating, migrating or locking it for long; StoreError when it cannot be read."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            tables = {
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
            if "meta" not in tables:
                return 0
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            return int(row[0]) if row else 0
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise store_error(exc, path) from None


def iso(at: datetime) -> str:
    """A timestamp as stored: UTC, ISO 8601, whole seconds (sorts as text)."""
    return at.astimezone(UTC).isoformat(timespec="seconds")


def parse_iso(text: str | None) -> datetime | None:
    """A stored timestamp back; naive ones are UTC."""
    if not text:
        return None
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


EPOCH = datetime.min.replace(tzinfo=UTC)


def when(text: str | None) -> datetime:
    """A stored timestamp that is always set."""
    return parse_iso(text) or EPOCH


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def loads(text: str | None, default: Any) -> Any:
    if not text:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


def marks(values: Sized) -> str:
    """`?, ?, ?` for an IN list of that many values."""
    return ",".join("?" * len(values))


def like_pattern(text: str) -> str:
    """`text` as a LIKE pattern that matches it literally (escape character: backslash)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def address_condition(column: str, address: str) -> tuple[str, str]:
    """A condition matching one address, or a whole organisation for "@domain", with LIKE's
    wildcards in what was typed taken literally. `column` is ours, never input."""
    address = address.strip().lower()
    if address.startswith("@"):
        return f"{column} LIKE ? ESCAPE '\\'", f"%{like_pattern(address)}"
    return f"{column} = ?", address


class Engine:
    """A connection and its transactions; the table mixins add the queries."""

    def __init__(self, conn: sqlite3.Connection, path: Path | None = None) -> None:
        conn.row_factory = sqlite3.Row
        self.conn = conn
        self.path = path
        self._writer = _writer_lock(path)
        self._savepoints = 0

    # -- opening -------------------------------------------------------------------------

    @classmethod
    def open(cls, path: Path | str, group: str = "") -> Any:
        """Open (creating and migrating as needed) the database at `path`. A new file is made
        private (0600) whatever the umask; its WAL files take the same mode; with a `group`
        (`[store] group`), it and its WAL files are 0640 and belong to that group, for staff
        who run commands as themselves. A file that is empty or not a mailbot database is
        refused, never written over."""
        memory = str(path) == ":memory:"
        file = None if memory else Path(path)
        if file is not None:
            prepare_file(file)
        try:
            store = cls(_connect(str(path), wal=not memory), file)
            store._check_ours()
            store.migrate()
        except sqlite3.Error as exc:
            raise store_error(exc, file) from None
        if file is not None and group:
            share_with_group(file, group_id(group))
        return store

    @classmethod
    def open_read_only(cls, path: Path | str) -> Any:
        """The store for looking only (`explain`): the file opened read-only, so nothing can be
        written to it. A store that does not exist yet is an empty one in memory; one of an
        older schema is copied into memory and migrated there, leaving the file as it is."""
        path = Path(path)
        if not path.exists():
            return cls.open(":memory:")
        conn = sqlite3.connect(
            f"file:{path}?mode=ro",
            uri=True,
            timeout=30,
            isolation_level=None,
            check_same_thread=False,
        )
        store = cls(conn, path)
        if store.schema_version() == SCHEMA_VERSION:
            return store
        memory = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        conn.backup(memory)
        conn.close()
        copy = cls(memory, None)
        copy.migrate()
        return copy

    def another_connection(self) -> Any:
        """A second connection to the same database, for another thread (a connection is for
        one thread at a time); None for a database in memory, which has only this one."""
        if self.path is None:
            return None
        # SQLite's own open only: the file checks of `open` read the file with plain file
        # calls, and closing such a handle drops every POSIX lock this process holds on the
        # database (the SQLite manual's "how to corrupt", 2.2), here the first connection's.
        try:
            return type(self)(_connect(str(self.path), wal=True), self.path)
        except sqlite3.Error as exc:
            raise store_error(exc, self.path) from None

    def close(self) -> None:
        self.conn.close()

    def checkpoint(self) -> None:
        """Copy the write-ahead log into the database file as far as readers allow, waiting
        for no one (SQLite's PASSIVE checkpoint)."""
        self._execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def _check_ours(self) -> None:
        """A database with tables but no schema version of ours belongs to something else."""
        tables = {
            r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        if tables and "meta" not in tables:
            raise StoreError(
                f"{self.path or 'the database'} holds tables of another "
                "program, not mailbot's: point [store] path at another file"
            )

    # -- schema --------------------------------------------------------------------------

    def schema_version(self) -> int:
        found = self.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
        ).fetchone()
        if not found:
            return 0
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return int(row[0]) if row else 0

    def migrate(self) -> None:
        current = self.schema_version()
        if current > SCHEMA_VERSION:
            raise StoreVersionError(
                f"the database is schema version {current}, newer than this mailbot "
                f"({SCHEMA_VERSION}); upgrade mailbot"
            )
        # Only the numbers there are: branches developed side by side each took their own.
        for version in sorted(v for v in MIGRATIONS if current < v <= SCHEMA_VERSION):
            # BEGIN IMMEDIATE and a second look: two processes opening a new database at once
            # (the worker and a staff command) must not both create the schema.
            with self.transaction():
                if self.schema_version() >= version:
                    continue
                MIGRATIONS[version](sqlite_utils.Database(self.conn))
                self.conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    [str(version)],
                )

    # -- transactions --------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """All-or-nothing. BEGIN IMMEDIATE takes the write lock up front, so two workers never
        decide on stale seat counts; inside another transaction this is a savepoint.

        Connections of this process to the same file (the worker's and the delivery
        thread's) first take turns on a lock of the process: SQLite's own wait for a busy
        database sleeps in steps of up to 100 ms, far longer than these transactions last."""
        if self.conn.in_transaction:
            self._savepoints += 1
            name = f"sp{self._savepoints}"
            self._execute(f"SAVEPOINT {name}")
            try:
                yield self
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute(f"ROLLBACK TO {name}")
                    self.conn.execute(f"RELEASE {name}")
                raise
            finally:
                self._savepoints -= 1
            self._execute(f"RELEASE {name}")
            return
        with self._writer:
            self._execute("BEGIN IMMEDIATE")
            try:
                yield self
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
            else:
                self._execute("COMMIT")

    # -- helpers for the table modules ----------------------------------------------------

    def _execute(self, sql: str, params: Params = ()) -> sqlite3.Cursor:
        """Every statement of the store runs here: a database fault becomes one StoreError
        sentence; a broken schema rule becomes Conflict, for the caller to decide."""
        try:
            return self.conn.execute(sql, params)
        except sqlite3.IntegrityError as exc:
            raise Conflict(str(exc)) from exc
        except sqlite3.Error as exc:
            raise store_error(exc, self.path) from None

    def _rows(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        return self._execute(sql, params).fetchall()

    def _row(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self._execute(sql, params).fetchone()
        return row

    def _scalar(self, sql: str, params: Params = ()) -> Any:
        row = self._execute(sql, params).fetchone()
        return row[0] if row is not None else None

    def _exec(self, sql: str, params: Params = ()) -> int:
        """Run a write; the number of rows it changed."""
        return self._execute(sql, params).rowcount

    def _insert(self, sql: str, params: Params = ()) -> int:
        """Run an INSERT; the new row's id."""
        return int(self._execute(sql, params).lastrowid or 0)

    def _many(self, sql: str, rows: Iterable[Params]) -> None:
        try:
            self.conn.executemany(sql, rows)
        except sqlite3.IntegrityError as exc:
            raise Conflict(str(exc)) from exc
        except sqlite3.Error as exc:
            raise store_error(exc, self.path) from None

    # -- keeping it healthy --------------------------------------------------------------

    def integrity_problems(self) -> list[str]:
        """SQLite's own integrity check: [] when the file is sound."""
        rows = [str(r[0]) for r in self._rows("PRAGMA integrity_check")]
        return [] if rows == ["ok"] else rows

    def backup_to(self, target: Path) -> None:
        """A consistent copy while others keep writing (SQLite's online backup), created
        private, written under a temporary name and renamed into place."""
        target = Path(target)
        if target.exists():
            raise StoreError(
                f"{target} exists already: choose a new name (backups are never written over)"
            )
        tmp = target.with_name(f".{target.name}.tmp")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE)
            os.close(fd)
            copy = sqlite3.connect(str(tmp))
            try:
                self.conn.backup(copy)
            finally:
                copy.close()
            os.replace(tmp, target)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise StoreError(f"cannot write the backup {target} ({exc.strerror or exc})") from None
        except sqlite3.Error as exc:
            tmp.unlink(missing_ok=True)
            raise store_error(exc, self.path) from None

    # -- key/value state (sync cursors, digest times) ------------------------------------

    def get_state(self, key: str) -> str | None:
        value = self._scalar("SELECT value FROM meta WHERE key = ?", [f"state:{key}"])
        return None if value is None else str(value)

    def set_state(self, key: str, value: str) -> None:
        self._exec(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [f"state:{key}", value],
        )


_WRITERS: dict[str, threading.Lock] = {}
_WRITERS_GUARD = threading.Lock()


def _writer_lock(path: Path | None) -> threading.Lock:
    """The lock this process's connections to one database file take turns on to write."""
    if path is None:
        return threading.Lock()  # a database in memory has only its own connection
    key = os.path.realpath(path)
    with _WRITERS_GUARD:
        return _WRITERS.setdefault(key, threading.Lock())


def _connect(target: str, *, wal: bool) -> sqlite3.Connection:
    """A connection with the settings every connection of the store has."""
    conn = sqlite3.connect(
        target, timeout=LOCK_RETRY_SECONDS, isolation_level=None, check_same_thread=False
    )
    conn.execute(f"PRAGMA busy_timeout = {int(LOCK_RETRY_SECONDS * 1000)}")
    if wal:
        _wal(conn)
    # FULL: a commit is on disk before it returns. The mailbox move and the reply follow a
    # commit; after a power cut the store must not have forgotten either. Mail is committed
    # in groups, so this costs one sync per group, not one per mail.
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def _wal(conn: sqlite3.Connection) -> None:
    """WAL mode; two processes creating a new database at once may find it locked for a
    moment, which the busy handler does not cover for this pragma."""
    deadline = time.monotonic() + LOCK_RETRY_SECONDS
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
