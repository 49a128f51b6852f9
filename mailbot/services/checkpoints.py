"""The database's checkpoints in a thread of their own while a pass writes.

SQLite copies its write-ahead log into the database file (a checkpoint) in whichever connection
commits once the log has grown past 1,000 pages, and that commit then waits for the copy and
its sync to disk. In a long pass that is the worker's or the courier's commit every few groups:
the worker's commits are the pass's critical path. This thread checkpoints every
CHECKPOINT_SECONDS instead, on a connection of its own, so the log seldom reaches that size
and neither of them waits for the copy. A PASSIVE checkpoint takes no lock a writer needs, and
a failed one changes nothing: the committing connections then checkpoint as they always do.
"""

from __future__ import annotations

import logging
import threading

from mailbot.store import Store
from mailbot.store.errors import StoreError

log = logging.getLogger("mailbot.store")
CHECKPOINT_SECONDS = 0.25


class Checkpoints:
    """Use as a context manager around a pass; nothing happens for a database in memory."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Checkpoints:
        own = self._store.another_connection()
        if own is not None:
            self._thread = threading.Thread(
                target=self._run, args=(own,), name="mailbot-checkpoint", daemon=True
            )
            self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self, store: Store) -> None:
        try:
            while not self._stop.wait(CHECKPOINT_SECONDS):
                store.checkpoint()
        except StoreError as exc:
            log.warning("checkpoints are left to the commits", extra={"error": str(exc)})
        finally:
            store.close()
