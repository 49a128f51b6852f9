"""The IMAP mailbox (imapclient): fetch waiting mail, file it after its outcome is committed.

`ImapMailbox` is the Mailbox protocol over IMAP, put together from the parts of this package:
`session.ImapSession` (connection and reconnects), `fetching.Fetcher` (listing and reading
mail), `filing.Filer` (moving or flagging it, copies of replies) and `codec` (keys, UID sets,
folder names). Waiting for new mail (IDLE, or NOOP polling) and the helpers `mailbot doctor`
uses live here.

Keys are ``imap:<folder>:<uidvalidity>:<uid>``. When the server changes the folder's
UIDVALIDITY (the folder was recreated, restored from backup, migrated), every mail in it gets a
new key; the worker recognises mail it has already decided by Message-ID (`Fetched.message_id`
is read with the metadata, the parsed mail carries it too) and only calls `mark_done` again.

Connection trouble (a restarted server, a dropped idle connection, timeouts) never reaches the
caller: the adapter reconnects (immediately once, then with backoff up to a minute), logs the
outage once and its end once. Meanwhile `fetch_new` yields nothing, `mark_done` keeps its work
and retries it on the next call, and `wait_for_mail` waits out the backoff. What does reach the
caller is what needs a person: a refused login (`MailboxAuthError`), a missing inbox folder, an
untrusted certificate, a folder the server will not create (`MailboxError`); their messages
say what to change.

Folder names in config use "/" for hierarchy; on servers with another delimiter (Dovecot's
Maildir++ uses ".") it is translated. One ImapMailbox is for one thread at a time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from functools import partial

from mailbot.adapters.mailboxes.imap.codec import FolderInfo, _is_bye, _is_new_mail
from mailbot.adapters.mailboxes.imap.connection import CONNECTION_ERRORS, IMAPClient, open_client
from mailbot.adapters.mailboxes.imap.fetching import Fetcher
from mailbot.adapters.mailboxes.imap.filing import Filer
from mailbot.adapters.mailboxes.imap.health import imap_checks
from mailbot.adapters.mailboxes.imap.oauth import TokenSource
from mailbot.adapters.mailboxes.imap.session import ImapSession
from mailbot.config import MailboxSettings
from mailbot.core.model import Fetched, Outcome
from mailbot.services.ports import Check

IDLE_RENEW_SECONDS = 25 * 60  # RFC 2177: servers may drop an IDLE after 30 minutes


class ImapMailbox:
    """The Mailbox protocol over IMAP. See the module docstring for the guarantees."""

    def __init__(
        self,
        settings: MailboxSettings,
        *,
        connect: Callable[[], IMAPClient] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        read_only: bool = False,
    ) -> None:
        """`read_only` (for `explain --mailbox`): the folder is EXAMINEd, bodies are read with
        BODY.PEEK, and nothing is moved, flagged or appended."""
        self._settings = settings
        self._read_only = read_only
        self._own_connect = connect is not None
        self._tokens = TokenSource(settings) if settings.auth == "xoauth2" else None
        self._clock = clock
        self._sleep = sleep
        # The one seam: returns a connected, logged-in client. Tests pass their own.
        self._session = ImapSession(
            settings,
            connect=connect or (lambda: open_client(self._settings, tokens=self._tokens)),
            clock=clock,
            read_only=read_only,
        )
        self._fetcher = Fetcher(self._session, settings)
        self._filer = Filer(self._session, settings)

    # -- Mailbox protocol ---------------------------------------------------------------------

    def fetch_new(self, max_size: int) -> Iterator[Fetched]:
        """Yield waiting mail, oldest UID first; bodies over max_size bytes as raw=None."""
        self._flush_pending()
        yield from self._fetcher.fetch(max_size)

    def mark_done(self, done: Sequence[tuple[Fetched, Outcome]]) -> None:
        """File committed mail: one UID-set command per target folder. Idempotent."""
        if self._read_only:
            raise RuntimeError("this IMAP mailbox was opened read-only")
        self._filer.mark_done(done)

    def _flush_pending(self) -> None:
        if self._filer.pending:
            self.mark_done([])

    def wait_for_mail(self, timeout: float) -> bool:
        """Block until new mail may be there: IDLE, or NOOP polling where IDLE is missing.

        True also after a reconnect, since mail may have come in while we were away.
        """
        session = self._session
        deadline = self._clock() + max(0.0, timeout)
        recoveries = session.recoveries
        while True:
            client = session.ensure()
            now = self._clock()
            if client is None:
                if now >= deadline:
                    return False
                self._sleep(min(deadline - now, max(0.05, session.retry_at - now)))
                continue
            if session.recoveries != recoveries:
                return True
            if now >= deadline:
                return False
            try:
                if self._settings.idle and client.has_capability("IDLE"):
                    if self._fetcher.unlisted_mail(client):
                        return True
                    return self._idle(client, deadline)
                return self._poll(client, deadline)
            except CONNECTION_ERRORS as exc:
                session.lost(exc)
            except BaseException:
                # Interrupted mid-IDLE: the connection's state is unknown, start afresh.
                session.abandon()
                raise

    def _idle(self, client: IMAPClient, deadline: float) -> bool:
        client.idle()
        started = self._clock()
        woke = False
        while not woke:
            now = self._clock()
            if now >= deadline:
                break
            renew_at = started + IDLE_RENEW_SECONDS
            if now >= renew_at:
                # Re-issue IDLE before the server's inactivity timer ends it.
                _, responses = client.idle_done()
                if any(_is_new_mail(r) for r in responses):
                    return True
                client.idle()
                started = self._clock()
                continue
            wait = min(deadline, renew_at) - now
            responses = client.idle_check(timeout=wait)
            if any(_is_bye(r) for r in responses):
                raise ConnectionResetError("the server ended the IDLE session (BYE)")
            woke = any(_is_new_mail(r) for r in responses)
            if not responses and self._clock() - now < wait * 0.5:
                # idle_check returns early and empty at EOF: DONE fails loudly on a dead
                # connection, and on a live one we simply go back to IDLE.
                _, responses = client.idle_done()
                if any(_is_new_mail(r) for r in responses):
                    return True
                client.idle()
        _, responses = client.idle_done()
        return woke or any(_is_new_mail(r) for r in responses)

    def _poll(self, client: IMAPClient, deadline: float) -> bool:
        interval = max(1.0, float(self._settings.poll_seconds))
        while True:
            _, responses = client.noop()
            if any(_is_new_mail(r) for r in responses):
                return True
            now = self._clock()
            if now >= deadline:
                return False
            self._sleep(min(interval, deadline - now))

    @property
    def settings(self) -> MailboxSettings:
        return self._settings

    @property
    def is_local(self) -> bool:
        return False

    def reader_elsewhere(self) -> Callable[[], ImapMailbox] | None:
        if self._own_connect:
            return None  # a test's connection seam cannot be had in another process
        return partial(ImapMailbox, self._settings, read_only=True)

    @property
    def keeps_sent_copies(self) -> bool:
        return bool(self._settings.sent_folder) and not self._read_only

    def file_sent(self, raw: bytes) -> bool:
        """File a copy of one of our replies in sent_folder (\\Seen); False if not done."""
        if self._read_only:
            return False
        return self._filer.append_sent(raw)

    def escalated_folder(self) -> str:
        """Where staff find escalated mail: the folder it is moved to."""
        return self._settings.escalated_folder if self._settings.move else ""

    def checks(self) -> list[Check]:
        """Log in, look at capabilities and folders; changes nothing."""
        return imap_checks(self)

    def close(self) -> None:
        """Log out of the server; a later call connects again."""
        self._session.close()

    # -- for `mailbot doctor` -----------------------------------------------------------------

    def folders(self) -> list[str]:
        """Every folder on the server (server spelling)."""
        client = self._session.probe()
        return [str(name) for _, _, name in client.list_folders()]

    def capabilities(self) -> frozenset[str]:
        """What the server says it can do (IDLE, MOVE, UIDPLUS, ...), for the doctor."""
        client = self._session.probe()
        return frozenset(c.decode("ascii", "replace") for c in client.capabilities())

    def folder_report(self) -> list[FolderInfo]:
        """The folders this configuration uses, and whether each exists yet."""
        existing = set(self.folders())
        roles = [("inbox", self._settings.folder)]
        if self._settings.move:
            roles += [
                ("processed", self._settings.processed_folder),
                ("escalated", self._settings.escalated_folder),
                ("ignored", self._settings.ignored_folder),
            ]
        if self._settings.sent_folder:
            roles.append(("sent", self._settings.sent_folder))
        report = []
        for role, configured in roles:
            if not configured:
                continue
            name = self._session.server_name(configured)
            exists = name in existing or (role == "inbox" and name.upper() == "INBOX")
            report.append(FolderInfo(role=role, name=name, exists=exists))
        return report
