"""A second process that parses mail while the worker decides, for a long backlog.

Parsing a mail (the MIME structure, charsets, HTML, quotes) is the largest share of the CPU a
mail costs, and a Python process runs Python on one core at a time. For a pass with more than
POOL_AFTER mails, the fetch thread hands each mail it fetched to a parse process (spawned:
nothing of this process's threads or connections is inherited), and the worker takes the parsed
mail in order. When the parse process is behind, the worker parses the next mail itself instead
(a mail not yet started can be taken back), so neither core waits for the other.

The parse process runs the same `parse_message` with the same settings, so a mail reads the
same either way, and its CPU budget for hostile mail holds there as here. If the process dies,
the rest of the pass parses in the worker, as a short pass always does.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from types import TracebackType

from mailbot.config import Settings
from mailbot.core.model import Fetched, Inbound
from mailbot.mail.parse.message import parse_message

log = logging.getLogger("mailbot.worker")
POOL_AFTER = 100  # mails of a pass parsed in the worker before the parse process starts


class ParsePool:
    """Use as a context manager around a pass; `start` in the fetch thread, `take` in the
    worker."""

    def __init__(self, settings: Settings, after: int | None = None) -> None:
        self._code = settings.product.code
        self._authserv_id = settings.security.authserv_id
        self._max_serials = settings.policy.max_serials_per_mail
        self._after = POOL_AFTER if after is None else after
        self._seen = 0
        self._executor: ProcessPoolExecutor | None = None
        self._broken = False
        self._lock = threading.Lock()

    def __enter__(self) -> ParsePool:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    def start(self, fetched: Fetched) -> Future[Inbound] | None:
        """Hand a fetched mail to the parse process; None when the worker parses it."""
        self._seen += 1
        if fetched.raw is None or self._broken or self._seen <= self._after:
            return None
        with self._lock:
            try:
                if self._executor is None:
                    self._executor = ProcessPoolExecutor(
                        max_workers=1, mp_context=multiprocessing.get_context("spawn")
                    )
                return self._executor.submit(
                    parse_message,
                    fetched.raw,
                    product_code=self._code,
                    authserv_id=self._authserv_id,
                    max_serials=self._max_serials,
                )
            except Exception as exc:  # noqa: BLE001 - the worker parses instead
                self._give_up(exc)
                return None

    def take(self, started: Future[Inbound] | None) -> Inbound | None:
        """The parsed mail, or None when the worker should parse it: not handed over, taken
        back because the parse process has not begun it yet, or the process failed."""
        if started is None:
            return None
        if not started.done() and started.cancel():
            return None  # the parse process is behind: this core does this one
        try:
            return started.result()
        except Exception as exc:  # noqa: BLE001 - the worker parses instead
            self._give_up(exc)
            return None

    def _give_up(self, exc: BaseException) -> None:
        if not self._broken:
            self._broken = True
            log.warning(
                "the parse process failed; the rest of the pass is parsed in the worker",
                extra={"error": f"{type(exc).__name__}: {exc}"},
            )
