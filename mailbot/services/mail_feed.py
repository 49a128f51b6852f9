"""Where the worker takes a pass's mail from: fetched in this process, or by the fetch process.

A pass begins by fetching in a thread of this process (`Prefetch`), and the worker parses what
it gets: a short pass, the usual one of the service on IDLE, never waits for a process to
start. Once FETCH_PROCESS_AFTER mails were handed over the backlog is long, and when the
mailbox can be opened by another process (`Mailbox.reader_elsewhere`) the fetch moves there
(`fetch_process.py`): the local fetch stops, what it read ahead stays on the server, and the
fetch process lists the mailbox afresh, skipping the mails already handed over.

Should that process die, the feed fetches here again, skipping the last RECENT mails it handed
over: those may still be on their way into a commit. Anything handed over before them is
committed, so when it is listed again (its move not yet done) the worker knows it by its key
and only files it, as after a crash.
"""

from __future__ import annotations

import logging
from collections import deque

from mailbot.config import Settings
from mailbot.core.model import Fetched, Policy
from mailbot.services.fetch_process import FetchProcess, Read
from mailbot.services.shared_mailbox import Prefetch, SharedMailbox

log = logging.getLogger("mailbot.worker")
FETCH_PROCESS_AFTER = 100  # mails of a pass fetched here before the fetch process starts
# Far more than the worker holds undecided (a group and what it carries over).
RECENT = 1024


class MailFeed:
    """Use as a context manager around a pass; `next` as `Prefetch.next`, with each mail
    how the fetch process read it (None: the worker reads it)."""

    def __init__(
        self,
        mailbox: SharedMailbox,
        settings: Settings,
        policy: Policy,
        max_size: int,
        after: int | None = None,
    ) -> None:
        self._mailbox = mailbox
        self._settings = settings
        self._policy = policy
        self._max_size = max_size
        self._after = FETCH_PROCESS_AFTER if after is None else after
        self._handed = 0
        self._recent: deque[str] = deque(maxlen=RECENT)
        self._skip: frozenset[str] = frozenset()  # after a fetch process died
        self._local: Prefetch | None = None
        self._remote: FetchProcess | None = None
        self._tried_remote = False

    def __enter__(self) -> MailFeed:
        self._local = self._mailbox.prefetch(self._max_size).__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._close()

    @property
    def finished(self) -> bool:
        """Every waiting mail was handed over."""
        source = self._remote or self._local
        return source is not None and source.finished

    def next(self, block: bool = True) -> tuple[Fetched, Read | None] | None:
        while True:
            if self._remote is not None:
                item = self._remote.next(block)
                if item is not None:
                    self._recent.append(item[0].key)
                    return item
                if not self._remote.failed:
                    return None
                self._fetch_here_again()
                continue
            assert self._local is not None
            fetched = self._local.next(block)
            if fetched is None:
                return None
            if fetched.key in self._skip:
                continue
            self._handed += 1
            self._recent.append(fetched.key)
            if self._handed >= self._after and not self._tried_remote:
                self._move_fetching_elsewhere()
            return fetched, None

    def _move_fetching_elsewhere(self) -> None:
        self._tried_remote = True
        opener = self._mailbox.reader_elsewhere()
        if opener is None:
            return
        assert self._local is not None
        self._local.close()  # its read-ahead stays on the server, for the process to list
        self._remote = FetchProcess(
            opener, self._settings, self._max_size, self._policy, skip=frozenset(self._recent)
        )
        log.info("a long backlog: fetching in a process of its own", extra={"after": self._handed})

    def _fetch_here_again(self) -> None:
        assert self._remote is not None
        self._remote.close()
        self._remote = None
        self._skip = frozenset(self._recent)
        self._local = self._mailbox.prefetch(self._max_size).__enter__()

    def _close(self) -> None:
        if self._remote is not None:
            self._remote.close()
        if self._local is not None:
            self._local.close()
