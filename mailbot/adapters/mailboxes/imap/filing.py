"""Filing mail after its outcome is committed, and filing copies of our replies.

`mark_done` sends one UID-set command per target folder: MOVE where the server has it, else
COPY + \\Deleted + UID EXPUNGE; or, with move = false, only the keyword $MailbotDone, which the
fetch pipeline then skips. Target folders are created (and subscribed) on first use, and again
if someone deletes one behind our back.

Keys of an older UIDVALIDITY are skipped: a UID is meaningless across validities, and the mail
comes back under its new key anyway. When the server is out, the work is kept and retried on
the next call; the mail stays in the inbox meanwhile, and if we are restarted first, fetching it
again finds its outcome and files it again. Filing twice is harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from mailbot.adapters.mailboxes.imap.codec import (
    DELETED,
    KEYWORD,
    SEEN,
    _said,
    parse_mail_key,
    target_folder,
    uid_sets,
)
from mailbot.adapters.mailboxes.imap.connection import (
    LOGGER_NAME,
    IMAPClient,
    IMAPClientAbortError,
    IMAPClientError,
    MailboxError,
    MailboxUnavailable,
    forget_unasked,
)
from mailbot.adapters.mailboxes.imap.session import ImapSession
from mailbot.config import MailboxSettings
from mailbot.core.model import Fetched, Outcome

log = logging.getLogger(LOGGER_NAME)


class Filer:
    """Moves or flags mail of the session's folder, and appends copies to sent_folder."""

    def __init__(self, session: ImapSession, settings: MailboxSettings) -> None:
        self._session = session
        self._settings = settings
        # Server names of folders we know exist, so filing does not ask the server each time.
        self._known_folders: set[str] = set()
        # Filing that could not be done while the server was out, for the next call.
        self.pending: list[tuple[Fetched, Outcome]] = []

    def mark_done(self, done: Sequence[tuple[Fetched, Outcome]]) -> None:
        """File committed mail (and whatever is pending): one UID-set command per folder."""
        items = self.pending + list(done)
        self.pending = []
        if not items:
            return
        try:
            self._session.call(lambda c: self._apply_done(c, items))
        except MailboxUnavailable:
            # Kept for the next call; the mail stays in the inbox meanwhile, and if we are
            # restarted first, fetching it again finds its outcome and calls mark_done again.
            self.pending = list(
                {fetched.key: (fetched, outcome) for fetched, outcome in items}.values()
            )

    def append_sent(self, raw: bytes) -> bool:
        """File a copy of one of our replies in sent_folder (\\Seen); False if not done."""
        folder = self._settings.sent_folder
        if not folder:
            return False

        def op(client: IMAPClient) -> None:
            name = self._ensure_folder(client, folder)
            client.append(name, raw, flags=(SEEN,))

        try:
            self._session.call(op)
        except MailboxUnavailable:
            log.warning("no copy filed in IMAP folder %s: server unavailable", folder)
            return False
        except IMAPClientAbortError:
            raise
        except IMAPClientError as exc:
            log.warning("no copy filed in IMAP folder %s: %s", folder, _said(exc))
            return False
        return True

    def _apply_done(self, client: IMAPClient, items: list[tuple[Fetched, Outcome]]) -> None:
        validity = self._session.uidvalidity
        flag_only: set[int] = set()
        by_folder: dict[str, set[int]] = {}
        for fetched, outcome in items:
            parsed = parse_mail_key(fetched.key)
            if parsed is None or parsed[0] != self._settings.folder:
                log.warning(
                    "mark_done: %r is not a mail of IMAP folder %s; skipped",
                    fetched.key,
                    self._settings.folder,
                )
                continue
            _, key_validity, uid = parsed
            if key_validity != validity:
                log.info(
                    "mark_done: %s predates the folder's UIDVALIDITY %s; skipped (the "
                    "mail is fetched again under a new key)",
                    fetched.key,
                    validity,
                )
                continue
            target = target_folder(self._settings, outcome) if self._settings.move else ""
            if not target or target == self._settings.folder:
                flag_only.add(uid)
            else:
                by_folder.setdefault(target, set()).add(uid)
        for part in uid_sets(flag_only):
            client.add_flags(part, [KEYWORD], silent=True)
        problems: list[str] = []
        for configured, uids in by_folder.items():
            try:
                self._file(client, configured, uids)
            except IMAPClientAbortError:
                raise
            except IMAPClientError as exc:
                problems.append(f"cannot file mail in IMAP folder {configured!r}: {_said(exc)}")
        if problems:
            raise MailboxError(
                "; ".join(problems) + ". Check the folder settings in [mailbox] and the "
                "account's rights; the mail stays in the inbox until this works."
            )

    def _file(self, client: IMAPClient, configured: str, uids: set[int]) -> None:
        name = self._ensure_folder(client, configured)
        try:
            self._move(client, uids, name)
        except IMAPClientAbortError:
            raise
        except IMAPClientError:
            # Someone may have deleted the folder since we last made sure of it.
            self._known_folders.discard(name)
            name = self._ensure_folder(client, configured)
            self._move(client, uids, name)

    def _move(self, client: IMAPClient, uids: set[int], folder: str) -> None:
        for part in uid_sets(uids):
            if client.has_capability("MOVE"):
                client.move(part, folder)
            else:
                client.copy(part, folder)
                client.add_flags(part, [DELETED], silent=True)
                if client.has_capability("UIDPLUS"):
                    client.uid_expunge(part)
                else:
                    # Without UID EXPUNGE this removes every \Deleted mail in the folder,
                    # which is what any client's "compact" would do to them as well.
                    client.expunge()
            forget_unasked(client)

    def _ensure_folder(self, client: IMAPClient, configured: str) -> str:
        name = self._session.server_name(configured)
        if name in self._known_folders:
            return name
        if not client.folder_exists(name):
            try:
                client.create_folder(name)
            except IMAPClientAbortError:
                raise
            except IMAPClientError:
                if not client.folder_exists(name):  # someone else may just have made it
                    raise
            else:
                log.info("created IMAP folder %s", name)
            try:
                client.subscribe_folder(name)
            except IMAPClientAbortError:
                raise
            except IMAPClientError:
                pass  # unsubscribed folders still work; some servers have no subscriptions
        self._known_folders.add(name)
        return name
