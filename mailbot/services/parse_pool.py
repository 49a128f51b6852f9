"""A second process that parses mail while the worker decides, for a long backlog.

Parsing a mail (the MIME structure, charsets, HTML, quotes) is the largest share of the CPU a
mail costs, and a Python process runs Python on one core at a time. For a pass with more than
POOL_AFTER mails, the fetch thread hands each mail it fetched to a parse process (spawned:
nothing of this process's threads or connections is inherited), and the worker takes the parsed
mails in order. When the parse process is behind, the worker parses the next mail itself and
tells the process to skip it, so neither core waits for the other and no mail is parsed twice.

The protocol, all under one shared lock: the process claims a mail by setting `current` to its
ticket, unless the worker has marked that ticket as taken back; the worker takes a mail back by
marking it, which it may only do while `current` is below it. A mail the process is parsing
right now is left to it: the worker goes on with the next ones (parsing them itself) and picks
the result up before the group commits, so mails still commit in their order. The marks are a
ring of SKIP_RING flags: the worker is never that many mails ahead of the process's position.

The parse process runs the same `parse_message` with the same settings, so a mail reads the
same either way, and its CPU budget for hostile mail holds there as here. If the process dies
or stops answering, the rest of the pass parses in the worker, as a short pass always does.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import select
import threading
import time
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from multiprocessing.sharedctypes import Synchronized
from types import TracebackType
from typing import Any

from mailbot.config import Settings
from mailbot.core.model import Fetched, Inbound
from mailbot.mail.parse.message import parse_message

log = logging.getLogger("mailbot.worker")
POOL_AFTER = 100  # mails of a pass parsed in the worker before the parse process starts
# Longer than any one parse may take (the parser's CPU budget is well under a second): a
# process that has not answered by then is stuck, and the worker goes on alone.
ANSWER_SECONDS = 10.0
LOCK_LOOK_SECONDS = 0.5  # how often a waiting parse process looks whether its worker lives
SKIP_RING = 4096  # far more than the fetch thread reads ahead (PREFETCH_DEPTH)
_STOP = -1


class Waiting:
    """`claim`'s answer for a mail the parse process is parsing now: `wait` for it later."""


def _serve(
    jobs: Connection,
    results: Connection,
    lock: Any,
    current: Synchronized[int],
    skipped: Any,
    options: dict[str, Any],
) -> None:
    """The parse process: tickets and raw mails in, (ticket, Inbound) out, in order."""
    parent = os.getppid()
    while True:
        try:
            ticket, raw = jobs.recv()
        except (EOFError, OSError):  # the worker is gone
            return
        if ticket == _STOP:
            return
        # A worker killed while it held the lock never lets go of it: wait in slices, and
        # leave when the worker is no longer there (its children go to another parent).
        while not lock.acquire(timeout=LOCK_LOOK_SECONDS):
            if os.getppid() != parent:
                return
        try:
            if skipped[ticket % SKIP_RING]:
                skipped[ticket % SKIP_RING] = 0
                continue  # the worker took this one back
            current.value = ticket
        finally:
            lock.release()
        try:
            results.send((ticket, parse_message(raw, **options)))
        except OSError:  # the worker is gone (a broken pipe)
            return


class ParsePool:
    """Use as a context manager around a pass; `start` in the fetch thread, `take` in the
    worker, in the order of the tickets `start` gave."""

    def __init__(self, settings: Settings, after: int | None = None) -> None:
        self._options = {
            "product_code": settings.product.code,
            "authserv_id": settings.security.authserv_id,
            "max_serials": settings.policy.max_serials_per_mail,
        }
        self._after = POOL_AFTER if after is None else after
        self._seen = 0
        self._tickets = 0
        self._broken = False
        self._started = threading.Lock()
        self._process: BaseProcess | None = None
        self._jobs: Connection | None = None
        self._results: Connection | None = None
        self._ready: dict[int, Inbound] = {}
        # Mails on their way to the process. A pipe holds only a few mails, and the fetch
        # thread must never wait for the parse process: a thread of ours writes them out.
        self._outgoing: queue.SimpleQueue[tuple[int, bytes]] = queue.SimpleQueue()
        self._feeder: threading.Thread | None = None

    def __enter__(self) -> ParsePool:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        with self._started:
            process, self._process = self._process, None
            jobs, results = self._jobs, self._results
            self._broken = True  # a start after close parses in the worker
        if process is None:
            return
        self._outgoing.put((_STOP, b""))
        if self._feeder is not None:
            self._feeder.join(timeout=2)
        process.join(timeout=2)
        if process.is_alive():
            process.kill()
            process.join()
        for conn in (jobs, results):
            if conn is not None:
                conn.close()

    def _spawn(self) -> None:
        context = multiprocessing.get_context("spawn")
        job_out, job_in = context.Pipe(duplex=False)
        result_out, result_in = context.Pipe(duplex=False)
        self._lock = context.Lock()
        self._current: Synchronized[int] = context.Value("q", -1, lock=False)
        self._skipped = context.Array("b", SKIP_RING, lock=False)
        process = context.Process(
            target=_serve,
            args=(job_out, result_in, self._lock, self._current, self._skipped, self._options),
            name="mailbot-parse",
            daemon=True,
        )
        process.start()
        job_out.close()
        result_in.close()
        self._process, self._jobs, self._results = process, job_in, result_out
        # Asked before every mail whether results arrived: one poll object, not the
        # selector that Connection.poll builds (and tears down) on every call.
        self._arrivals = select.poll()
        self._arrivals.register(result_out.fileno(), select.POLLIN)
        self._feeder = threading.Thread(target=self._feed, name="mailbot-parse-feed", daemon=True)
        self._feeder.start()

    def _feed(self) -> None:
        """Write the mails out to the process, in order, until told to stop."""
        jobs = self._jobs
        assert jobs is not None
        while True:
            job = self._outgoing.get()
            try:
                jobs.send(job)
            except OSError:  # the process is gone; `take` notices and gives up
                return
            if job[0] == _STOP:
                return

    def start(self, fetched: Fetched) -> int | None:
        """Hand a fetched mail to the parse process: its ticket, or None when the worker
        parses it."""
        self._seen += 1
        if fetched.raw is None or self._broken or self._seen <= self._after:
            return None
        with self._started:
            if self._broken:
                return None
            try:
                if self._process is None:
                    self._spawn()
                ticket = self._tickets
                self._outgoing.put((ticket, fetched.raw))
                self._tickets += 1
                return ticket
            except Exception as exc:  # noqa: BLE001 - the worker parses instead
                self._give_up(exc)
                return None

    def take(self, ticket: int | None) -> Inbound | None:
        """The parsed mail, waiting for it if the process is parsing it now; None when the
        worker should parse it (see `claim`)."""
        claimed = self.claim(ticket)
        return self.wait(ticket) if isinstance(claimed, Waiting) else claimed

    def claim(self, ticket: int | None) -> Inbound | Waiting | None:
        """Without waiting: the parsed mail; None when the worker should parse it (not handed
        over, taken back now because the process had not begun it, or the process failed);
        Waiting when the process is parsing it at this moment."""
        if ticket is None or self._broken or self._results is None:
            return None
        try:
            self._drain(0)
        except (EOFError, OSError) as exc:
            self._give_up(exc)
            return None
        if ticket in self._ready:
            return self._ready.pop(ticket)
        with self._lock:
            claimed = self._current.value >= ticket
            if not claimed:
                self._skipped[ticket % SKIP_RING] = 1
        return Waiting() if claimed else None

    def wait(self, ticket: int | None) -> Inbound | None:
        """The result of a mail `claim` said the process was parsing; None when the process
        failed meanwhile (the worker parses it)."""
        if ticket is None or self._broken:
            return None
        deadline = time.monotonic() + ANSWER_SECONDS
        while ticket not in self._ready:
            left = deadline - time.monotonic()
            process = self._process
            if left <= 0 or process is None or not process.is_alive():
                self._give_up(RuntimeError("the parse process stopped answering"))
                return None
            try:
                self._drain(min(left, 0.5))
            except (EOFError, OSError) as exc:
                self._give_up(exc)
                return None
        return self._ready.pop(ticket)

    def _drain(self, wait: float) -> None:
        """Read every result that has arrived (waiting up to `wait` for the first)."""
        results = self._results
        if results is None:
            return
        while self._arrivals.poll(wait * 1000):
            ticket, inbound = results.recv()  # EOFError when the process is gone
            self._ready[ticket] = inbound
            wait = 0

    def _give_up(self, exc: BaseException) -> None:
        if not self._broken:
            self._broken = True
            log.warning(
                "the parse process failed; the rest of the pass is parsed in the worker",
                extra={"error": f"{type(exc).__name__}: {exc}"},
            )
        self._ready.clear()
