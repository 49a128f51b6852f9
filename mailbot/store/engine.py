"""The SQLite side of the store: the connection, transactions, migrations, and small helpers the
table modules share. A second database engine would replace this module (and the few statements
that use SQLite's own functions, each marked `SQLite:`), not the table modules' queries.

One connection per process, used by one thread at a time: the scheduler runs its jobs on a
single executor thread. WAL mode and a busy timeout let several processes (the worker and staff
commands) take turns on one file.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterable, Iterator, Sequence, Sized
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from mailbot.store.schema import MIGRATIONS, SCHEMA_VERSION

Params = Sequence[Any]


class StoreVersionError(RuntimeError):
    """The database was written by a newer mailbot."""


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

    # -- opening -------------------------------------------------------------------------

    @classmethod
    def open(cls, path: Path | str) -> Any:
        """Open (creating and migrating as needed) the database at `path`."""
        memory = str(path) == ":memory:"
        file = None if memory else Path(path)
        if file is not None:
            file.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 30000")
        if not memory:
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        store = cls(conn, file)
        store.migrate()
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

    def close(self) -> None:
        self.conn.close()

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
        for version in range(current + 1, SCHEMA_VERSION + 1):
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
        decide on stale seat counts; inside another transaction this is a savepoint."""
        if self.conn.in_transaction:
            name = f"sp_{uuid.uuid4().hex}"
            self.conn.execute(f"SAVEPOINT {name}")
            try:
                yield self
            except BaseException:
                self.conn.execute(f"ROLLBACK TO {name}")
                self.conn.execute(f"RELEASE {name}")
                raise
            self.conn.execute(f"RELEASE {name}")
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")

    # -- helpers for the table modules ----------------------------------------------------

    def _rows(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        return self.conn.execute(sql, params).fetchall()

    def _row(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.conn.execute(sql, params).fetchone()
        return row

    def _scalar(self, sql: str, params: Params = ()) -> Any:
        row = self.conn.execute(sql, params).fetchone()
        return row[0] if row is not None else None

    def _exec(self, sql: str, params: Params = ()) -> int:
        """Run a write; the number of rows it changed."""
        return self.conn.execute(sql, params).rowcount

    def _insert(self, sql: str, params: Params = ()) -> int:
        """Run an INSERT; the new row's id."""
        cursor = self.conn.execute(sql, params)
        return int(cursor.lastrowid or 0)

    def _many(self, sql: str, rows: Iterable[Params]) -> None:
        self.conn.executemany(sql, rows)

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
