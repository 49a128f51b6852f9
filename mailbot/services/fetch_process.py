"""A second process that fetches and parses the mail of a long pass while the worker decides.

A Python process runs Python on one core at a time, and reading mail costs a share of it that
the worker would rather spend deciding: the IMAP client library parses every response in
Python, and parsing a mail (its MIME structure, charsets, HTML, quotes) is the largest share
of all. For a long pass the worker therefore hands both to a process of its own (spawned:
nothing of this process's threads or connections is inherited). It opens the same mailbox
*read-only* (`Mailbox.reader_elsewhere`: an IMAP folder is EXAMINEd on a connection of its
own, bodies are read with BODY.PEEK), lists the waiting mail as the worker would, and sends
each mail with its parse and classification down a pipe, in the listing's order. It never
moves, flags or answers anything: filing stays with the worker, after its commits, as always.

What it finds the worker decides as if it had fetched it itself: a mail known from an earlier
run is recognised by its key before anything is decided. A mail whose parse or classification
fails there comes without either, and the worker reads it again, so the failure is kept with
its traceback as any other. A fault of the mailbox there (the server gone, a login refused) is
raised in the worker's thread, where a fetch of its own would have raised it. If the process
dies, the pass goes on fetching in the worker (see `mail_feed.py`). A process whose worker
died ends when its next mail finds nobody reading the pipe.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from mailbot.config import Settings
from mailbot.core.classify import Classification, classify
from mailbot.core.model import Fetched, Inbound, Policy
from mailbot.logs import configure, configured
from mailbot.mail.parse.message import parse_message
from mailbot.services.ports import Mailbox
from mailbot.services.shared_mailbox import hand_over, join_giver

log = logging.getLogger("mailbot.worker")


@dataclass(frozen=True)
class Read:
    """A mail as the fetch process read it: parsed and classified (both pure: the same
    there as here)."""

    inbound: Inbound
    cls: Classification


AHEAD = 100  # mails fetched and parsed ahead of the worker: memory stays flat in the backlog
_MAIL, _END, _ERROR = "mail", "end", "error"


def parse_options(settings: Settings) -> dict[str, Any]:
    """What `parse_message` is given here and there, so a mail reads the same either way."""
    return {
        "product_code": settings.product.code,
        "authserv_id": settings.security.authserv_id,
        "max_serials": settings.policy.max_serials_per_mail,
    }


def _serve(
    open_mailbox: Callable[[], Mailbox],
    max_size: int,
    skip: frozenset[str],
    options: dict[str, Any],
    policy: Policy,
    logging_as: tuple[str, bool] | None,
    results: Connection,
) -> None:
    """The fetch process: every waiting mail with its parse and classification, then the end
    (or the error)."""
    if logging_as is not None:
        configure(*logging_as)
    mailbox: Mailbox | None = None
    try:
        mailbox = open_mailbox()
        for fetched in mailbox.fetch_new(max_size):
            if fetched.key in skip:
                continue  # handed to the worker before this process began
            results.send((_MAIL, fetched, _read(fetched, options, policy)))
        results.send((_END, None, None))
    except (BrokenPipeError, EOFError):
        return  # the worker is gone: nobody to fetch for
    except Exception as exc:  # noqa: BLE001 - raised again in the worker's thread
        try:
            results.send((_ERROR, _portable(exc), None))
        except OSError:
            return
    finally:
        if mailbox is not None:
            mailbox.close()


def _read(fetched: Fetched, options: dict[str, Any], policy: Policy) -> Read | None:
    if fetched.raw is None:
        return None
    try:
        inbound = parse_message(fetched.raw, **options)
        return Read(inbound, classify(inbound, policy))
    except Exception:  # noqa: BLE001 - the worker reads it again and keeps the traceback
        return None


def _portable(exc: Exception) -> Exception:
    """The exception itself when it survives pickling, else its sentence."""
    try:
        multiprocessing.reduction.ForkingPickler.dumps(exc)
    except Exception:  # noqa: BLE001 - any failure to pickle
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


class FetchProcess:
    """The fetch process of one pass, and a thread here that reads what it sends into a queue
    of AHEAD mails (the queue, then the pipe, holds the process back when the worker is
    slower). Use as a context manager."""

    def __init__(
        self,
        open_mailbox: Callable[[], Mailbox],
        settings: Settings,
        max_size: int,
        policy: Policy,
        skip: Collection[str] = (),
    ) -> None:
        self._arrived: queue.Queue[tuple[str, Any, Any]] = queue.Queue(maxsize=AHEAD)
        self.finished = False  # the end (or an error) was taken
        self.failed = False  # the process stopped without saying it was done
        context = multiprocessing.get_context("spawn")
        reading, writing = context.Pipe(duplex=False)
        self._process: BaseProcess = context.Process(
            target=_serve,
            args=(
                open_mailbox,
                max_size,
                frozenset(skip),
                parse_options(settings),
                policy,
                configured(),
                writing,
            ),
            name="mailbot-fetch",
            daemon=True,
        )
        self._process.start()
        writing.close()
        self._reading = reading
        self._halt = threading.Event()
        self._receiver = threading.Thread(
            target=self._receive, name="mailbot-fetch-results", daemon=True
        )
        self._receiver.start()

    def __enter__(self) -> FetchProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def next(self, block: bool = True) -> tuple[Fetched, Read | None] | None:
        """The next mail as read there; None when none is ready (not blocking) or there is
        none any more (`finished`, or `failed` when the process died). A mailbox fault of the
        process is raised here."""
        if self.finished or self.failed:
            return None
        try:
            kind, first, second = self._arrived.get(block=block)
        except queue.Empty:
            return None
        if kind == _MAIL:
            return first, second
        if kind == _END:
            self.finished = True
            return None
        if kind == _ERROR:
            self.finished = True
            raise first
        self.failed = True  # the pipe ended without a word: the process died
        self._process.join(timeout=1)
        log.warning(
            "the fetch process stopped; the rest of the pass is fetched in the worker",
            extra={"exit_code": self._process.exitcode},
        )
        return None

    def close(self) -> None:
        """End the process (what it fetched and nobody took stays on the server)."""
        self._halt.set()
        if self._process.is_alive():
            self._process.kill()  # it only reads: there is nothing to finish cleanly
        self._process.join()
        join_giver(self._receiver, self._arrived)
        self._reading.close()

    def _receive(self) -> None:
        while not self._halt.is_set():
            try:
                item = self._reading.recv()
            except (EOFError, OSError):
                item = ("died", None, None)  # the pipe ended without a word
            if not hand_over(self._arrived, item, self._halt) or item[0] != _MAIL:
                return
