"""One IMAP session that survives outages: connect, select the folder, reconnect with backoff.

This is what keeps connection trouble (a restarted server, a dropped idle connection, timeouts)
from reaching the mailbox's callers. `ensure` hands out a live client with the inbox folder
selected, or None while the server is out; `call` runs one operation and reconnects once when
the connection turns out dead, then raises `MailboxUnavailable`. The first reconnect is
immediate, later ones back off up to a minute; the outage is logged once and its end once.

It also remembers what the server told us about the folder: its UIDVALIDITY (the validity of
every UID we hand out) and the hierarchy delimiter (for translating configured folder names).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from mailbot.adapters.mailboxes.imap.codec import KEYWORD, _said, server_folder_name
from mailbot.adapters.mailboxes.imap.connection import (
    CONNECTION_ERRORS,
    LOGGER_NAME,
    IMAPClient,
    IMAPClientAbortError,
    IMAPClientError,
    MailboxError,
    MailboxUnavailable,
    _discard,
)
from mailbot.config import MailboxSettings

log = logging.getLogger(LOGGER_NAME)

MAX_BACKOFF_SECONDS = 60.0
FIRST_BACKOFF_SECONDS = 0.5

T = TypeVar("T")


class ImapSession:
    """The connection state of one `ImapMailbox`; one thread at a time."""

    def __init__(
        self,
        settings: MailboxSettings,
        *,
        connect: Callable[[], IMAPClient],
        clock: Callable[[], float],
        read_only: bool,
    ) -> None:
        """`connect` returns a connected, logged-in client; `read_only` EXAMINEs the folder."""
        self._settings = settings
        self._connect = connect
        self._clock = clock
        self._read_only = read_only
        self.where = f"{settings.host}:{settings.port}"
        self.client: IMAPClient | None = None
        self._probe_client: IMAPClient | None = None
        # The folder's UIDVALIDITY on the current connection; None before the first one.
        self.uidvalidity: int | None = None
        self._last_uidvalidity: int | None = None
        self._delimiter: str | None = None
        self._outage = False
        self._failures = 0
        # While the server is out, no reconnect is tried before this (clock) time.
        self.retry_at = 0.0
        # How many outages have ended: a waiter that sees this change knows mail may be there.
        self.recoveries = 0

    def ensure(self) -> IMAPClient | None:
        """A live connection with the folder selected, or None while the server is out."""
        if self.client is not None:
            return self.client
        if self._clock() < self.retry_at:
            return None
        try:
            client = self._connect()
        except CONNECTION_ERRORS as exc:
            self._trouble(exc)
            return None
        try:
            self._prepare(client)
        except CONNECTION_ERRORS as exc:
            _discard(client)
            self._trouble(exc)
            return None
        except BaseException:
            _discard(client)
            raise
        self.client = client
        if self._outage:
            log.info("IMAP connection to %s restored", self.where)
            self.recoveries += 1
        self._outage = False
        self._failures = 0
        self.retry_at = 0.0
        return client

    def _prepare(self, client: IMAPClient) -> None:
        client.normalise_times = False  # aware datetimes, not local wall-clock time
        self._learn_delimiter(client)
        name = self.server_name(self._settings.folder)
        try:
            selected = client.select_folder(name, readonly=self._read_only)
        except IMAPClientAbortError:
            raise
        except IMAPClientError as exc:
            raise MailboxError(
                f"IMAP folder {name!r} cannot be opened on {self.where} ({_said(exc)}). "
                f"Check [mailbox] folder; `mailbot doctor` lists the server's folders."
            ) from None
        validity = int(selected.get(b"UIDVALIDITY", 0))
        if self._last_uidvalidity is not None and validity != self._last_uidvalidity:
            log.warning(
                "UIDVALIDITY of IMAP folder %s changed (%s -> %s): its mail gets new keys; "
                "mail already decided is recognised by Message-ID",
                name,
                self._last_uidvalidity,
                validity,
            )
        self.uidvalidity = self._last_uidvalidity = validity
        if not self._settings.move and not self._read_only:
            permanent = selected.get(b"PERMANENTFLAGS", (b"\\*",))
            if b"\\*" not in permanent and KEYWORD.encode() not in permanent:
                raise MailboxError(
                    f"IMAP folder {name!r} on {self.where} does not accept keywords, so "
                    f"move = false cannot mark mail as done. Set move = true."
                )

    def _learn_delimiter(self, client: IMAPClient) -> None:
        listing = client.list_folders("", "")
        delimiter = listing[0][1] if listing else None
        if isinstance(delimiter, bytes):
            delimiter = delimiter.decode("ascii", "replace")
        self._delimiter = delimiter or None

    def _trouble(self, exc: BaseException) -> None:
        self._failures += 1
        delay = min(MAX_BACKOFF_SECONDS, FIRST_BACKOFF_SECONDS * 2 ** (self._failures - 1))
        self.retry_at = self._clock() + delay
        if not self._outage:
            self._outage = True
            log.warning(
                "IMAP server %s unavailable (%s); retrying with backoff, mail waits on the server",
                self.where,
                exc,
            )
        else:
            log.debug("IMAP server %s still unavailable (%s)", self.where, exc)

    def lost(self, exc: BaseException) -> None:
        """The connection died under an operation: drop it, so `ensure` reconnects."""
        client, self.client = self.client, None
        if client is not None:
            _discard(client)
        if not self._outage:
            self._outage = True
            log.warning("IMAP connection to %s lost (%s); reconnecting", self.where, exc)
        # No backoff before the first reconnect: the usual cause is a server that closed an
        # idle connection or restarted, and it answers again at once.

    def abandon(self) -> None:
        """Drop the connection without calling it an outage (its state is unknown)."""
        client, self.client = self.client, None
        if client is not None:
            _discard(client)

    def call(self, op: Callable[[IMAPClient], T]) -> T:
        """Run op on a live connection, reconnecting once if the connection turns out dead."""
        for _ in range(2):
            client = self.ensure()
            if client is None:
                break
            try:
                return op(client)
            except CONNECTION_ERRORS as exc:
                self.lost(exc)
        raise MailboxUnavailable(f"IMAP server {self.where} is unavailable")

    def server_name(self, configured: str) -> str:
        """The server's name for a configured folder (its delimiter, learnt at connect)."""
        return server_folder_name(configured, self._delimiter)

    def probe(self) -> IMAPClient:
        """A connection for inspection only (no folder selected, so a missing inbox folder
        can be reported rather than fail the connection). Raises with plain words."""
        if self._probe_client is not None:
            return self._probe_client
        try:
            client = self._connect()
        except CONNECTION_ERRORS as exc:
            raise MailboxUnavailable(
                f"cannot connect to IMAP server {self.where} ({exc}). Check [mailbox] host, "
                f'port and security ("tls" is usually port 993, "starttls" 143), and that '
                f"the server is running."
            ) from None
        try:
            self._learn_delimiter(client)
        except CONNECTION_ERRORS as exc:
            _discard(client)
            raise MailboxUnavailable(f"IMAP server {self.where} dropped us ({exc})") from None
        except BaseException:
            _discard(client)
            raise
        self._probe_client = client
        return client

    def close(self) -> None:
        """Log out of both connections (the working one and the doctor's)."""
        for client in (self.client, self._probe_client):
            if client is None:
                continue
            try:
                client.logout()
            except Exception:
                _discard(client)
        self.client = self._probe_client = None
