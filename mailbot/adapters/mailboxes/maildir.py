"""A Maildir folder as the inbound mailbox (the embedded default).

Waiting mail is in `new/` (and unflagged in `cur/`, where a mail client may have moved it).
A mail is moved to `cur/` with the Seen flag (and Flagged when a person must look at it) only
after its outcome is committed, so a crash leaves it waiting. The key is the unique part of the
file name, which the Maildir spec keeps across `new/` -> `cur/` and flag changes.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path

from mailbot.core.model import Fetched, Outcome
from mailbot.services.ports import Check

log = logging.getLogger(__name__)
DONE_FLAG = "S"  # Seen: processed by mailbot
ATTENTION_FLAG = "F"  # Flagged: escalated to a person


def _unique(name: str) -> str:
    return name.split(":", 1)[0]


def delivered_at(path: Path, mtime: float) -> datetime:
    """When a mail arrived: the Maildir name starts with its delivery time (seconds since the
    epoch), which survives copying the folder; the file's mtime when the name has none."""
    head = path.name.split(".", 1)[0]
    seconds = float(head) if head.isdigit() and 9 <= len(head) <= 19 else mtime
    while seconds > 1e11:  # some writers use milli-, micro- or nanoseconds
        seconds /= 1000
    return datetime.fromtimestamp(seconds, UTC)


class MaildirMailbox:
    def __init__(self, path: Path, *, since: date | None = None, read_only: bool = False) -> None:
        """`since`: mail delivered before that day (UTC) is left where it is, untouched.
        `read_only`: for looking only; nothing is created, moved or flagged."""
        self.path = Path(path)
        self.since = since
        self.read_only = read_only

    def _ensure_folders(self) -> None:
        # Made on first use, not on construction: `mailbot doctor` builds the mailbox to check
        # it and must change nothing.
        if not self.read_only:
            for sub in ("new", "cur", "tmp"):
                (self.path / sub).mkdir(parents=True, exist_ok=True)

    def _waiting(self) -> list[str]:
        """The waiting mails' file names, "new/NAME" or "cur/NAME", in arrival order (names,
        not Path objects: a folder of 100,000 mails is listed whole to be sorted)."""
        new, cur = self.path / "new", self.path / "cur"
        if self.read_only and not (new.is_dir() and cur.is_dir()):
            return []
        waiting = [f"new/{name}" for name in os.listdir(new) if not name.startswith(".")]
        for name in os.listdir(cur):
            flags = name.partition(":2,")[2]
            if DONE_FLAG not in flags and not name.startswith("."):
                waiting.append(f"cur/{name}")
        # Maildir names begin with the delivery time: name order is arrival order, and unlike
        # mtimes it survives copying the folder.
        return sorted(waiting, key=lambda each: each[4:])

    def fetch_new(self, max_size: int) -> Iterator[Fetched]:
        self._ensure_folders()
        for name in self._waiting():
            path = self.path / name
            size, mtime = 0, time.time()
            try:
                stat = path.stat()
                size, mtime = stat.st_size, stat.st_mtime
                raw = path.read_bytes() if size <= max_size else None
            except FileNotFoundError:
                continue  # taken by another worker or a mail client meanwhile
            except OSError as exc:
                # A directory, a file we may not read, a symlink loop: handed over empty, it is
                # escalated as unreadable and filed, instead of stopping every mail after it.
                log.warning(
                    "cannot read a Maildir entry", extra={"path": str(path), "error": str(exc)}
                )
                raw = b""
            received = delivered_at(path, mtime)
            if self.since is not None and received.date() < self.since:
                continue  # older than [mailbox] since: not ours to touch
            yield Fetched(
                key=f"maildir:{_unique(path.name)}",
                raw=raw,
                size=size,
                received_at=received,
                extra={"path": str(path)},
            )

    def mark_done(self, done: Sequence[tuple[Fetched, Outcome]]) -> None:
        if self.read_only:
            raise RuntimeError("this Maildir was opened read-only")
        for fetched, outcome in done:
            unique = fetched.key.removeprefix("maildir:")
            current = self._find(unique)
            if current is None:
                continue  # already moved (crash after the move, before our bookkeeping)
            flags = set(current.name.partition(":2,")[2]) | {DONE_FLAG}
            if outcome is Outcome.ESCALATED:
                flags.add(ATTENTION_FLAG)
            target = self.path / "cur" / f"{unique}:2,{''.join(sorted(flags))}"
            if current != target:
                os.replace(current, target)

    def _find(self, unique: str) -> Path | None:
        candidate = self.path / "new" / unique
        if candidate.exists():
            return candidate
        for p in (self.path / "cur").glob(f"{unique}*"):
            if _unique(p.name) == unique:
                return p
        return None

    def wait_for_mail(self, timeout: float) -> bool:
        time.sleep(timeout)
        return True

    @property
    def is_local(self) -> bool:
        return True

    def reader_elsewhere(self) -> Callable[[], MaildirMailbox]:
        return partial(MaildirMailbox, self.path, since=self.since, read_only=True)

    @property
    def keeps_sent_copies(self) -> bool:
        return False  # a Maildir inbox has no Sent folder of ours

    def file_sent(self, raw: bytes) -> bool:
        return False

    def escalated_folder(self) -> str:
        return ""  # escalated mail stays in cur/, flagged

    def checks(self) -> list[Check]:
        if self.path.is_dir():
            return [Check("mailbox", True, f"Maildir folder {self.path} exists")]
        return [
            Check(
                "mailbox",
                False,
                f"Maildir folder {self.path} does not exist: create it, or fix [mailbox] path",
            )
        ]

    def close(self) -> None:
        pass

    def deliver(self, raw: bytes) -> Path:
        """Drop a mail into new/ the way an MTA does (tmp/ then rename): for demos and tests."""
        self._ensure_folders()
        unique = f"{time.time_ns()}.{os.getpid()}_{os.urandom(4).hex()}.mailbot"
        tmp = self.path / "tmp" / unique
        tmp.write_bytes(raw)
        target = self.path / "new" / unique
        os.replace(tmp, target)
        return target
