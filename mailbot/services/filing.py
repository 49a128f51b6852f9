"""Filing committed mail in the mailbox from a thread of its own.

Moving a group of decided mails to its folders is a round trip to the mail server that has to
wait its turn behind the fetch thread's reads on the same connection. The worker hands each
committed group to this thread and goes on deciding; the keys that were moved come back to it
(`take_filed`) to be noted in the store. Nothing is moved before its group's commit (the
worker hands it over only then), and a mail whose move never happened (a crash, a dropped
connection) is fetched again by the next pass, found decided, and only moved.

A failure stops the filing for the rest of the pass (later groups stay where they are, noted
as not filed) and is raised in the worker's thread, where it would have been raised before.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Sequence
from types import TracebackType

from mailbot.core.model import Fetched, Outcome
from mailbot.services.ports import Mailbox

Group = Sequence[tuple[Fetched, Outcome]]
MOVE_AT_MOST = 1000  # mails filed by one call to the mailbox when groups have piled up
# A move at most this often: what is committed meanwhile goes with the next one. A server's
# cost per MOVE grows with the folder (Dovecot rewrites a Maildir's list of UIDs each time),
# so a backlog filed once a second costs it a fraction of one move per group; a lone mail
# after a quiet while is moved at once.
MOVE_EVERY_SECONDS = 1.0


class Filing:
    """Use as a context manager around a pass; `file` in the worker after each commit."""

    def __init__(self, mailbox: Mailbox) -> None:
        self._mailbox = mailbox
        self._groups: queue.SimpleQueue[Group | None] = queue.SimpleQueue()
        self._filed: list[str] = []
        self._lock = threading.Lock()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="mailbot-filing", daemon=True)

    def __enter__(self) -> Filing:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Waits for the groups handed over (they are committed: filing them is right even
        when the pass is stopping); a failure is raised unless another is on its way."""
        self._groups.put(None)
        self._thread.join()
        if self._error is not None and kind is None:
            raise self._error

    def file(self, done: Group) -> None:
        """Move this committed group (in the background)."""
        if self._error is not None:
            raise self._error
        if done:
            self._groups.put(done)

    def take_filed(self) -> list[str]:
        """The keys moved since the last call."""
        with self._lock:
            filed, self._filed = self._filed, []
        return filed

    def _run(self) -> None:
        last_move = -MOVE_EVERY_SECONDS
        while True:
            done = self._groups.get()
            if done is None:
                return
            finished = False
            # The groups committed until MOVE_EVERY_SECONDS after the last move go in one
            # call (and what piled up while that move was on the server).
            batch = list(done)
            due = last_move + MOVE_EVERY_SECONDS
            while len(batch) < MOVE_AT_MOST:
                wait = due - time.monotonic()
                try:
                    more = self._groups.get(timeout=wait) if wait > 0 else self._groups.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    finished = True  # the pass ends: this is the last move
                    break
                batch.extend(more)
            last_move = time.monotonic()
            self._move(batch)
            if finished:
                return

    def _move(self, batch: Group) -> None:
        if self._error is not None:
            return  # stays in the mailbox; the next pass moves it
        try:
            self._mailbox.mark_done(batch)
        except BaseException as exc:  # noqa: BLE001 - raised again in the worker's thread
            self._error = exc
            return
        with self._lock:
            self._filed.extend(f.key for f, _ in batch)
