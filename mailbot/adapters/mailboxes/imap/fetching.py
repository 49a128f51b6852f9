"""The fetch pipeline: list the waiting mail, read its metadata, then its bodies in small batches.

Reading never changes a mail: bodies are fetched with BODY.PEEK[] (no \\Seen), and mail over
the size cap is not downloaded at all (raw=None; the worker escalates it as too_large).
Metadata comes in chunks of `META_CHUNK` UIDs and bodies a few at a time (`BODY_CHUNK_COUNT`,
at most `BODY_CHUNK_BYTES` held at once), so a full inbox neither floods memory nor waits for
one huge FETCH before the first mail is decided.

Every step checks the folder's UIDVALIDITY against the listing's: when it changes under us
(the folder was recreated), the pass ends and the folder is listed again, so the same mail comes
under its new keys and the worker recognises it by Message-ID.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from mailbot.adapters.mailboxes.imap.codec import (
    KEYWORD,
    MESSAGE_ID_ANSWER,
    MESSAGE_ID_FIELD,
    _aware,
    _message_id,
    _said,
    mail_key,
    uid_sets,
)
from mailbot.adapters.mailboxes.imap.connection import (
    LOGGER_NAME,
    IMAPClient,
    IMAPClientAbortError,
    IMAPClientError,
    MailboxUnavailable,
    forget_unasked,
)
from mailbot.adapters.mailboxes.imap.session import ImapSession
from mailbot.config import MailboxSettings
from mailbot.core.model import Fetched

log = logging.getLogger(LOGGER_NAME)

# UIDs one SEARCH covers to begin with: a listing is read a stretch at a time, so a backlog of
# a million mails is never held (or parsed from one huge SEARCH answer) at once. A stretch
# with few waiting mails in it (UIDs of mail long moved away) makes the next one wider, up to
# LIST_WIDEST times as wide.
LIST_WINDOW = 5000
LIST_WIDEST = 16
META_CHUNK = 200  # UIDs per metadata FETCH
BODY_CHUNK_COUNT = 100  # bodies per FETCH ...
BODY_CHUNK_BYTES = 16 * 1024 * 1024  # ... and at most this much of them held at once

# How a pass over a listing ended.
_DONE, _DOWN, _RELIST = "done", "down", "relist"


@dataclass(frozen=True)
class _Meta:
    size: int
    received_at: datetime | None
    message_id: str


class Fetcher:
    """Lists and fetches the waiting mail of the session's folder."""

    def __init__(self, session: ImapSession, settings: MailboxSettings) -> None:
        self._session = session
        self._settings = settings
        # The highest UID `fetch` has listed (per UIDVALIDITY): anything above it is new.
        self._listed_up_to: tuple[int | None, int] = (None, 0)

    def fetch(self, max_size: int) -> Iterator[Fetched]:
        """Yield waiting mail, oldest UID first; bodies over max_size bytes as raw=None.

        While the server is out this yields nothing (the mail waits on the server)."""
        # A second listing only when UIDVALIDITY changes under us: the same mail then comes
        # again under new keys, which the worker recognises by Message-ID.
        for _ in range(2):
            try:
                validity, top = self._session.call(self._highest_uid)
            except MailboxUnavailable:
                return
            status = yield from self._fetch_stretches(validity, top, max_size)
            if status != _RELIST:
                return

    def _fetch_stretches(
        self, validity: int, top: int, max_size: int
    ) -> Generator[Fetched, None, str]:
        """The waiting mail with UIDs up to TOP (the folder's highest when the pass began),
        listed a stretch of UIDs at a time."""
        low, span = 1, LIST_WINDOW
        while low <= top:
            high = min(top, low + span - 1)
            try:
                uids = self._session.call(
                    partial(self._list_waiting, validity=validity, low=low, high=high)
                )
            except MailboxUnavailable:
                return _DOWN
            if uids is None:
                return _RELIST
            status = yield from self._fetch_listed(validity, uids, max_size)
            if status != _DONE:
                return status
            low = high + 1
            sparse = len(uids) < LIST_WINDOW // 2
            span = min(span * 2, LIST_WINDOW * LIST_WIDEST) if sparse else LIST_WINDOW
        return _DONE

    def unlisted_mail(self, client: IMAPClient) -> bool:
        """Is there mail above the highest UID we listed? A new-mail notice can arrive inside
        another command's response (which the client library drops), or, with Dovecot, only
        when an IDLE ends; asking directly before each IDLE misses neither."""
        client.noop()
        validity, last = self._listed_up_to
        if validity != self._session.uidvalidity:
            last = 0
        criteria: list[Any] = ["UNDELETED", *self._since(), "UID", f"{last + 1}:*"]
        if not self._settings.move:
            criteria += ["UNKEYWORD", KEYWORD]
        # "n:*" always matches the highest UID, even below n: compare, don't count.
        return any(int(uid) > last for uid in client.search(criteria))

    def _fetch_listed(
        self, validity: int, uids: list[int], max_size: int
    ) -> Generator[Fetched, None, str]:
        for start in range(0, len(uids), META_CHUNK):
            chunk = uids[start : start + META_CHUNK]
            try:
                meta = self._session.call(partial(self._fetch_meta, validity=validity, chunk=chunk))
            except MailboxUnavailable:
                return _DOWN
            if meta is None:
                return _RELIST
            status = yield from self._with_bodies(validity, chunk, meta, max_size)
            if status != _DONE:
                return status
        return _DONE

    def _highest_uid(self, client: IMAPClient) -> tuple[int, int]:
        """The folder's UIDVALIDITY and highest UID (0 when it is empty)."""
        # Dovecot (and others) answer SEARCH from the session's last synced view; NOOP
        # syncs it, so mail that arrived since our last command is included.
        client.noop()
        validity = self._session.uidvalidity
        assert validity is not None  # set by the select that made this connection usable
        # "UID *" is the highest UID in use (an empty folder answers with none).
        top = max((int(uid) for uid in client.search(["UID", "*"])), default=0)
        self._listed_up_to = (validity, top)
        return validity, top

    def _list_waiting(
        self, client: IMAPClient, validity: int, low: int, high: int
    ) -> list[int] | None:
        """The waiting mail's UIDs from LOW to HIGH; None when UIDVALIDITY changed."""
        if self._session.uidvalidity != validity:
            return None
        criteria: list[Any] = ["UNDELETED", *self._since(), "UID", f"{low}:{high}"]
        if not self._settings.move:
            criteria += ["UNKEYWORD", KEYWORD]
        return sorted(int(uid) for uid in client.search(criteria))

    def _since(self) -> list[Any]:
        """SEARCH SINCE for `[mailbox] since`: the server compares its own arrival date
        (INTERNALDATE) by day, so older mail is never fetched, moved or flagged."""
        return ["SINCE", self._settings.since] if self._settings.since else []

    def _fetch_meta(
        self, client: IMAPClient, validity: int, chunk: list[int]
    ) -> dict[int, _Meta] | None:
        if self._session.uidvalidity != validity:
            return None
        try:
            data = client.fetch(chunk, ["RFC822.SIZE", "INTERNALDATE", MESSAGE_ID_FIELD])
        except IMAPClientAbortError:
            raise
        except (IMAPClientError, ValueError) as exc:
            # A server that cannot produce the field; the body's own parse still reads it.
            log.warning(
                "IMAP Message-ID unreadable for some of UIDs %s (%s); fetching without it",
                uid_sets(chunk)[0][:80],
                exc,
            )
            data = client.fetch(chunk, ["RFC822.SIZE", "INTERNALDATE"])
        meta: dict[int, _Meta] = {}
        for uid, item in data.items():
            meta[int(uid)] = _Meta(
                size=int(item.get(b"RFC822.SIZE", 0) or 0),
                received_at=_aware(item.get(b"INTERNALDATE")),
                message_id=_message_id(item.get(MESSAGE_ID_ANSWER)),
            )
        return meta

    def _with_bodies(
        self, validity: int, chunk: list[int], meta: dict[int, _Meta], max_size: int
    ) -> Generator[Fetched, None, str]:
        """Yield the chunk in UID order, fetching small bodies a few at a time."""
        group: list[int] = []
        group_bytes = 0
        wanted = [uid for uid in chunk if uid in meta]  # others were expunged meanwhile
        for index, uid in enumerate(wanted):
            group.append(uid)
            if meta[uid].size <= max_size:
                group_bytes += meta[uid].size
            last = index == len(wanted) - 1
            small = [u for u in group if meta[u].size <= max_size]
            if not (last or len(small) >= BODY_CHUNK_COUNT or group_bytes >= BODY_CHUNK_BYTES):
                continue
            try:
                bodies = self._session.call(
                    partial(self._fetch_bodies, validity=validity, uids=small)
                )
            except MailboxUnavailable:
                return _DOWN
            if bodies is None:
                return _RELIST
            for member in group:
                info = meta[member]
                if info.size > max_size:
                    raw: bytes | None = None
                elif member in bodies:
                    raw = bodies[member]
                else:
                    continue  # expunged between the two fetches
                yield Fetched(
                    key=mail_key(self._settings.folder, validity, member),
                    raw=raw,
                    size=info.size,
                    received_at=info.received_at,
                    message_id=info.message_id,
                    extra={
                        "uid": str(member),
                        "uidvalidity": str(validity),
                        "folder": self._settings.folder,
                    },
                )
            group, group_bytes = [], 0
        return _DONE

    def _fetch_bodies(
        self, client: IMAPClient, validity: int, uids: list[int]
    ) -> dict[int, bytes] | None:
        if self._session.uidvalidity != validity:
            return None
        if not uids:
            return {}
        try:
            data = client.fetch(uids, ["BODY.PEEK[]"])
            forget_unasked(client)  # the moves of the mail before these, told to us here
        except IMAPClientAbortError:
            raise
        except IMAPClientError as exc:
            if len(uids) == 1:
                # The server cannot produce this one mail: hand it over empty, so it gets an
                # outcome (unreadable) instead of blocking the queue.
                log.warning("IMAP UID %s cannot be fetched (%s)", uids[0], _said(exc))
                return {uids[0]: b""}
            bodies: dict[int, bytes] = {}
            for uid in uids:
                single = self._fetch_bodies(client, validity, [uid])
                bodies.update(single or {})
            return bodies
        return {int(uid): bytes(item.get(b"BODY[]") or b"") for uid, item in data.items()}
