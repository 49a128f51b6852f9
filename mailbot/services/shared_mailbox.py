"""One mailbox for the threads of a mail pass, and the thread that fetches ahead.

A pass overlaps its waits: while the worker decides one group of mails, a fetch thread reads
the next mails from the server and a delivery thread sends the replies already committed. The
mailbox adapters are written for one thread at a time (an IMAP connection is one conversation),
so every call goes through `SharedMailbox`, which holds one lock around each: the fetch
thread holds it while it advances the adapter's `fetch_new` by one mail, the worker while it
moves a committed group, the delivery thread while it files a copy of a reply.

The fetch thread runs at most `depth` mails ahead: memory stays the same for a backlog of a
thousand mails or of a million. What it fetched and the worker never took (a stop request, a
setup fault) is simply left on the server for the next pass.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from types import TracebackType
from typing import Any

from mailbot.core.model import Fetched, Outcome
from mailbot.services.ports import Check, Mailbox

PREFETCH_DEPTH = 100  # mails fetched ahead of the worker


class SharedMailbox:
    """The Mailbox protocol around another mailbox, safe to call from several threads."""

    def __init__(self, inner: Mailbox) -> None:
        self.inner = inner
        self._lock = threading.Lock()

    @property
    def is_local(self) -> bool:
        return self.inner.is_local

    def fetch_new(self, max_size: int) -> Generator[Fetched, None, None]:
        """The adapter's own iterator, each step under the lock (no thread of its own)."""
        with self._lock:
            mails = self.inner.fetch_new(max_size)
        try:
            while True:
                with self._lock:
                    fetched = next(mails, None)
                if fetched is None:
                    return
                yield fetched
        finally:
            with self._lock:
                _close(mails)

    def prefetch(self, max_size: int, depth: int | None = None) -> Prefetch:
        """Start fetching in a thread of its own; use the result as a context manager."""
        return Prefetch(self, max_size, PREFETCH_DEPTH if depth is None else depth)

    def mark_done(self, done: Sequence[tuple[Fetched, Outcome]]) -> None:
        with self._lock:
            self.inner.mark_done(done)

    def wait_for_mail(self, timeout: float) -> bool:
        with self._lock:
            return self.inner.wait_for_mail(timeout)

    def reader_elsewhere(self) -> Callable[[], Mailbox] | None:
        return self.inner.reader_elsewhere()

    @property
    def keeps_sent_copies(self) -> bool:
        return self.inner.keeps_sent_copies

    def file_sent(self, raw: bytes) -> bool:
        if not self.inner.keeps_sent_copies:
            return False  # without waiting for the lock the fetch thread may hold for long
        with self._lock:
            return self.inner.file_sent(raw)

    def escalated_folder(self) -> str:
        return self.inner.escalated_folder()

    def checks(self) -> list[Check]:
        with self._lock:
            return self.inner.checks()

    def close(self) -> None:
        with self._lock:
            self.inner.close()


def shared(mailbox: Mailbox) -> SharedMailbox:
    """`mailbox` made safe for several threads (itself when it already is)."""
    return mailbox if isinstance(mailbox, SharedMailbox) else SharedMailbox(mailbox)


class _End:
    """The fetch thread has nothing more (or failed: `error`)."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


class Prefetch:
    """Mails fetched by a thread of their own, handed over in order through a bounded queue.

    `next(block=...)` returns the next mail, or None when there is none ready (not blocking)
    or no more at all (`finished` is then True). An exception in the fetch thread is raised
    here, in the worker's thread, where it would have been raised without the prefetch."""

    def __init__(self, mailbox: SharedMailbox, max_size: int, depth: int) -> None:
        self._mailbox = mailbox
        self._max_size = max_size
        self._queue: queue.Queue[Fetched | _End] = queue.Queue(maxsize=max(1, depth))
        self._halt = threading.Event()
        self.finished = False
        self._thread = threading.Thread(target=self._run, name="mailbot-fetch", daemon=True)

    def __enter__(self) -> Prefetch:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def next(self, block: bool = True) -> Fetched | None:
        if self.finished:
            return None
        try:
            item = self._queue.get(block=block)
        except queue.Empty:
            return None
        if isinstance(item, _End):
            self.finished = True
            if item.error is not None:
                raise item.error
            return None
        return item

    def close(self) -> None:
        """Stop the fetch thread and wait for it; what it fetched ahead stays on the server."""
        self._halt.set()
        join_giver(self._thread, self._queue)

    def _run(self) -> None:
        end = _End()
        mails = self._mailbox.fetch_new(self._max_size)
        try:
            for fetched in mails:
                if not self._hand_over(fetched):
                    break
        except BaseException as exc:  # noqa: BLE001 - raised again in the worker's thread
            end = _End(exc)
        finally:
            mails.close()
        self._hand_over(end)

    def _hand_over(self, item: Fetched | _End) -> bool:
        return hand_over(self._queue, item, self._halt)


def hand_over(into: queue.Queue[Any], item: object, halt: threading.Event) -> bool:
    """Put ITEM into a bounded queue, waiting while it is full, unless HALT is set first (the
    taker is gone): whether it was put."""
    while not halt.is_set():
        try:
            into.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def join_giver(giver: threading.Thread, into: queue.Queue[Any]) -> None:
    """Wait for a thread that `hand_over`s into INTO (its halt already set), emptying the
    queue meanwhile so that it is not left waiting for room."""
    while giver.is_alive():
        try:
            while True:
                into.get_nowait()
        except queue.Empty:
            pass
        giver.join(timeout=0.05)


def _close(mails: Iterator[Fetched]) -> None:
    """End an adapter's listing early (its `finally` blocks run now, in this thread)."""
    if isinstance(mails, Generator):
        mails.close()
