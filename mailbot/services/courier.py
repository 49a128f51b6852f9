"""The delivery thread of a mail pass: replies go out while the worker decides the next mails.

The courier sends with a store connection of its own. SQLite shows a connection only what
other connections have committed, so a reply can never leave before the outcome it belongs to
is on disk: the guarantee that nothing leaves the process before its commit holds by
construction, not by bookkeeping. The worker `nudge`s it after each commit; at the end of the
pass `__exit__` waits for it to send what is left, and raises what went wrong inside it.

A database in memory has no second connection: the courier then delivers in the worker's
thread when the pass ends, as a pass without one would.
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType

from mailbot.services.context import Deps, ThreadDeps
from mailbot.services.delivery import DeliveryReport, deliver_outbox
from mailbot.services.shared_mailbox import SharedMailbox

log = logging.getLogger("mailbot.delivery")
IDLE_LOOK_SECONDS = 1.0  # with no nudge, look at the outbox this often (retries come due)


class Courier:
    """Use as a context manager around a pass; `report` holds what it sent."""

    def __init__(
        self, deps: Deps, mailbox: SharedMailbox, stop: threading.Event | None = None
    ) -> None:
        self._deps = deps
        self._mailbox = mailbox
        self._stop = stop
        self.report = DeliveryReport()
        self._wake = threading.Event()
        self._finishing = threading.Event()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Courier:
        store = self._deps.store.another_connection()
        if store is not None:
            view = ThreadDeps(base=self._deps, store=store, mailbox=self._mailbox)
            self._thread = threading.Thread(
                target=self._run, args=(view,), name="mailbot-delivery", daemon=True
            )
            self._thread.start()
        return self

    def nudge(self) -> None:
        """Something was committed: send what is due."""
        self._wake.set()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._thread is None:
            if kind is None:
                self.report.add(deliver_outbox(self._deps, self._stop))
            return
        self._finishing.set()
        self._wake.set()
        self._thread.join()
        if self._error is not None and kind is None:
            raise self._error

    def _run(self, deps: ThreadDeps) -> None:
        try:
            while True:
                self._wake.wait(IDLE_LOOK_SECONDS)
                self._wake.clear()
                last_round = self._finishing.is_set()
                if not self.report.blocked:
                    self.report.add(deliver_outbox(deps, self._stop))
                if last_round or (self._stop is not None and self._stop.is_set()):
                    return
        except BaseException as exc:  # noqa: BLE001 - raised again in the worker's thread
            log.error("delivery stopped", extra={"error": str(exc)})
            self._error = exc
        finally:
            deps.store.close()
