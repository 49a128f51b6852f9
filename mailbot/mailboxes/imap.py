"""The IMAP mailbox (imapclient): fetch waiting mail, file it after its outcome is committed.

Keys are ``imap:<folder>:<uidvalidity>:<uid>``. When the server changes the folder's
UIDVALIDITY (the folder was recreated, restored from backup, migrated), every mail in it gets a
new key; the worker recognises mail it has already decided by Message-ID (`Fetched.message_id`
comes from the ENVELOPE, the parsed mail carries it too) and only calls `mark_done` again.
`mark_done` skips keys of an older UIDVALIDITY: a UID is meaningless across validities, and the
mail comes back under its new key anyway.

Reading never changes a mail: bodies are fetched with BODY.PEEK[] (no \\Seen), and mail over
the size cap is not downloaded at all (raw=None; the worker escalates it as too_large).
Filing happens in `mark_done`, in one UID-set command per target folder: MOVE where the server
has it, else COPY + \\Deleted + UID EXPUNGE; or with move = false only the keyword
$MailbotDone, which `fetch_new` then skips.

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

import logging
import re
import ssl
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from typing import Any, TypeVar

from imapclient import IMAPClient, SocketTimeout
from imapclient.exceptions import (
    CapabilityError,
    IMAPClientAbortError,
    IMAPClientError,
    LoginError,
)

from ..config import ConfigError, MailboxSettings
from ..model import Fetched, Outcome
from ..tls import client_context, untrusted_certificate
from .imap_auth import TokenError, TokenSource, login_failure_advice, password

log = logging.getLogger(__name__)

KEYWORD = "$MailbotDone"
SEEN = b"\\Seen"
DELETED = b"\\Deleted"
IDLE_RENEW_SECONDS = 25 * 60  # RFC 2177: servers may drop an IDLE after 30 minutes
META_CHUNK = 200  # UIDs per metadata FETCH
BODY_CHUNK_COUNT = 25  # bodies per FETCH ...
BODY_CHUNK_BYTES = 16 * 1024 * 1024  # ... and at most this much of them held at once
MAX_BACKOFF_SECONDS = 60.0
FIRST_BACKOFF_SECONDS = 0.5
UID_SET_MAX_CHARS = 4000  # well below common command-line limits (Dovecot: 64 KiB)

# Outcomes filed in processed_folder; escalated and ignored mail have folders of their own.
PROCESSED_OUTCOMES = frozenset(
    {Outcome.ISSUED, Outcome.RESENT, Outcome.TRANSFERRED, Outcome.AWAITING_PAYMENT,
     Outcome.CLARIFY}
)

# What a broken connection looks like through imaplib: socket errors, timeouts, EOF/BYE aborts.
_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (OSError, IMAPClientAbortError, EOFError)

T = TypeVar("T")

# How a pass over a listing ended.
_DONE, _DOWN, _RELIST = "done", "down", "relist"


class MailboxError(Exception):
    """A mailbox problem a person has to fix; the message says what to do."""


class MailboxAuthError(MailboxError):
    """The server refused our credentials."""


class MailboxUnavailable(MailboxError):
    """The server cannot be reached right now."""


# -- pure helpers ------------------------------------------------------------------------------


def mail_key(folder: str, uidvalidity: int, uid: int) -> str:
    return f"imap:{folder}:{uidvalidity}:{uid}"


def parse_mail_key(key: str) -> tuple[str, int, int] | None:
    """(folder, uidvalidity, uid) from a key; None for keys that are not ours."""
    if not key.startswith("imap:"):
        return None
    parts = key[len("imap:"):].rsplit(":", 2)  # the folder itself may contain ":"
    if len(parts) != 3:
        return None
    folder, validity, uid = parts
    if not (validity.isdigit() and uid.isdigit()):
        return None
    return folder, int(validity), int(uid)


def uid_sets(uids: Sequence[int] | set[int], max_chars: int = UID_SET_MAX_CHARS) -> list[str]:
    """Compress UIDs into IMAP sets ("1:4,7,9:10"), split so no set exceeds max_chars."""
    ordered = sorted(set(uids))
    ranges: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        ranges.append(str(ordered[i]) if i == j else f"{ordered[i]}:{ordered[j]}")
        i = j + 1
    sets: list[str] = []
    current: list[str] = []
    length = 0
    for part in ranges:
        if current and length + len(part) + 1 > max_chars:
            sets.append(",".join(current))
            current, length = [], 0
        current.append(part)
        length += len(part) + 1
    if current:
        sets.append(",".join(current))
    return sets


def target_folder(settings: MailboxSettings, outcome: Outcome) -> str:
    """The configured folder (config spelling) a mail with this outcome is filed in."""
    if outcome is Outcome.ESCALATED:
        return settings.escalated_folder
    if outcome is Outcome.IGNORED:
        return settings.ignored_folder
    if outcome in PROCESSED_OUTCOMES:
        return settings.processed_folder
    raise ValueError(f"no folder for outcome {outcome!r}")


def server_folder_name(configured: str, delimiter: str | None) -> str:
    """Config writes hierarchy with "/"; the server may use another delimiter."""
    if delimiter and delimiter != "/":
        return configured.replace("/", delimiter)
    return configured


def _message_id(envelope: Any) -> str:
    raw = getattr(envelope, "message_id", None)
    if not raw:
        return ""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return text.strip().strip("<>").strip()


def _aware(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _said(exc: BaseException) -> str:
    """The server's words from an imaplib error, without Python's bytes repr around them."""
    text = str(exc)
    match = re.fullmatch(r"""b(['"])(.*)\1""", text, re.S)
    return match.group(2) if match else text


def _is_new_mail(response: Any) -> bool:
    return isinstance(response, tuple) and len(response) >= 2 and response[1] == b"EXISTS"


def _is_bye(response: Any) -> bool:
    return (isinstance(response, tuple) and bool(response)
            and isinstance(response[0], bytes) and response[0].upper() == b"BYE")


def _discard(client: IMAPClient) -> None:
    try:
        client.shutdown()
    except Exception:  # already closed: nothing left to release
        pass


# -- connecting ---------------------------------------------------------------------------------


def open_client(
    settings: MailboxSettings,
    *,
    tokens: TokenSource | None = None,
    client_class: type[IMAPClient] = IMAPClient,
) -> IMAPClient:
    """Connect (TLS, STARTTLS or, when configured, plain) and log in. The default seam."""
    if not settings.username:
        raise ConfigError("[mailbox] username is empty")
    timeout = SocketTimeout(connect=settings.timeout_seconds, read=settings.timeout_seconds)
    where = f"{settings.host}:{settings.port}"
    context = client_context()
    try:
        if settings.security == "tls":
            client = client_class(settings.host, settings.port, ssl=True, ssl_context=context,
                                  timeout=timeout)
        else:
            if settings.security == "none" and settings.host not in ("127.0.0.1", "::1",
                                                                     "localhost"):
                log.warning("IMAP to %s without TLS: the login crosses the network in clear",
                            where)
            client = client_class(settings.host, settings.port, ssl=False, timeout=timeout)
    except ssl.SSLCertVerificationError as exc:
        raise MailboxError(untrusted_certificate("IMAP", "mailbox", where, exc)) from None
    try:
        if settings.security == "starttls":
            try:
                client.starttls(context)
            except CapabilityError:
                raise MailboxError(
                    f"IMAP server {where} does not offer STARTTLS. Use security = \"tls\" "
                    f"(usually port 993), or check host and port."
                ) from None
            except ssl.SSLCertVerificationError as exc:
                raise MailboxError(untrusted_certificate("IMAP", "mailbox", where, exc)) from None
        _login(client, settings, tokens)
    except BaseException:
        _discard(client)
        raise
    return client


def _login(client: IMAPClient, settings: MailboxSettings, tokens: TokenSource | None) -> None:
    if settings.auth == "password":
        secret = password(settings)
        try:
            client.login(settings.username, secret)
        except LoginError as exc:
            raise MailboxAuthError(login_failure_advice(settings, _said(exc))) from None
        return
    if settings.auth != "xoauth2":
        raise ConfigError('[mailbox] auth must be "password" or "xoauth2"')
    source = tokens or TokenSource(settings)
    try:
        token = source.access_token()
    except TokenError as exc:
        raise MailboxAuthError(
            f"no XOAUTH2 access token for IMAP user {settings.username}: {exc}"
        ) from None
    try:
        client.oauth2_login(settings.username, token)
        return
    except LoginError as exc:
        refused = _said(exc)
    if not source.can_refresh:
        raise MailboxAuthError(login_failure_advice(settings, refused))
    # The token may have been revoked or expired early: one retry with a fresh one.
    try:
        token = source.access_token(force_refresh=True)
    except TokenError as exc:
        raise MailboxAuthError(f"{login_failure_advice(settings, refused)} ({exc})") from None
    try:
        client.oauth2_login(settings.username, token)
    except LoginError as exc:
        raise MailboxAuthError(login_failure_advice(settings, _said(exc))) from None


@dataclass(frozen=True)
class FolderInfo:
    """A folder the mailbox uses, as the doctor reports it."""

    role: str  # "inbox", "processed", "escalated", "ignored", "sent"
    name: str  # the server's name for it
    exists: bool


@dataclass(frozen=True)
class _Meta:
    size: int
    received_at: datetime | None
    message_id: str


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
        self._tokens = TokenSource(settings) if settings.auth == "xoauth2" else None
        # The one seam: returns a connected, logged-in client. Tests pass their own.
        self._connect: Callable[[], IMAPClient] = connect or (
            lambda: open_client(self._settings, tokens=self._tokens)
        )
        self._clock = clock
        self._sleep = sleep
        self._client: IMAPClient | None = None
        self._probe_client: IMAPClient | None = None
        self._uidvalidity: int | None = None
        # The highest UID fetch_new has listed (per UIDVALIDITY): anything above it is new.
        self._listed_up_to: tuple[int | None, int] = (None, 0)
        self._last_uidvalidity: int | None = None
        self._delimiter: str | None = None
        self._known_folders: set[str] = set()
        self._pending: list[tuple[Fetched, Outcome]] = []
        self._outage = False
        self._failures = 0
        self._retry_at = 0.0
        self._recoveries = 0
        self._where = f"{settings.host}:{settings.port}"

    # -- connection state ----------------------------------------------------------------------

    def _ensure(self) -> IMAPClient | None:
        """A live connection with the folder selected, or None while the server is out."""
        if self._client is not None:
            return self._client
        if self._clock() < self._retry_at:
            return None
        try:
            client = self._connect()
        except _CONNECTION_ERRORS as exc:
            self._trouble(exc)
            return None
        try:
            self._prepare(client)
        except _CONNECTION_ERRORS as exc:
            _discard(client)
            self._trouble(exc)
            return None
        except BaseException:
            _discard(client)
            raise
        self._client = client
        if self._outage:
            log.info("IMAP connection to %s restored", self._where)
            self._recoveries += 1
        self._outage = False
        self._failures = 0
        self._retry_at = 0.0
        return client

    def _prepare(self, client: IMAPClient) -> None:
        client.normalise_times = False  # aware datetimes, not local wall-clock time
        self._learn_delimiter(client)
        name = self._server_name(self._settings.folder)
        try:
            selected = client.select_folder(name, readonly=self._read_only)
        except IMAPClientAbortError:
            raise
        except IMAPClientError as exc:
            raise MailboxError(
                f"IMAP folder {name!r} cannot be opened on {self._where} ({_said(exc)}). "
                f"Check [mailbox] folder; `mailbot doctor` lists the server's folders."
            ) from None
        validity = int(selected.get(b"UIDVALIDITY", 0))
        if self._last_uidvalidity is not None and validity != self._last_uidvalidity:
            log.warning(
                "UIDVALIDITY of IMAP folder %s changed (%s -> %s): its mail gets new keys; "
                "mail already decided is recognised by Message-ID",
                name, self._last_uidvalidity, validity,
            )
        self._uidvalidity = self._last_uidvalidity = validity
        if not self._settings.move and not self._read_only:
            permanent = selected.get(b"PERMANENTFLAGS", (b"\\*",))
            if b"\\*" not in permanent and KEYWORD.encode() not in permanent:
                raise MailboxError(
                    f"IMAP folder {name!r} on {self._where} does not accept keywords, so "
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
        self._retry_at = self._clock() + delay
        if not self._outage:
            self._outage = True
            log.warning("IMAP server %s unavailable (%s); retrying with backoff, mail waits "
                        "on the server", self._where, exc)
        else:
            log.debug("IMAP server %s still unavailable (%s)", self._where, exc)

    def _lost(self, exc: BaseException) -> None:
        client, self._client = self._client, None
        if client is not None:
            _discard(client)
        if not self._outage:
            self._outage = True
            log.warning("IMAP connection to %s lost (%s); reconnecting", self._where, exc)
        # No backoff before the first reconnect: the usual cause is a server that closed an
        # idle connection or restarted, and it answers again at once.

    def _call(self, op: Callable[[IMAPClient], T]) -> T:
        """Run op on a live connection, reconnecting once if the connection turns out dead."""
        for _ in range(2):
            client = self._ensure()
            if client is None:
                break
            try:
                return op(client)
            except _CONNECTION_ERRORS as exc:
                self._lost(exc)
        raise MailboxUnavailable(f"IMAP server {self._where} is unavailable")

    def _server_name(self, configured: str) -> str:
        return server_folder_name(configured, self._delimiter)

    # -- Mailbox protocol ---------------------------------------------------------------------

    def fetch_new(self, max_size: int) -> Iterator[Fetched]:
        """Yield waiting mail, oldest UID first; bodies over max_size bytes as raw=None."""
        self._flush_pending()
        # A second listing only when UIDVALIDITY changes under us: the same mail then comes
        # again under new keys, which the worker recognises by Message-ID.
        for _ in range(2):
            try:
                validity, uids = self._call(self._list_waiting)
            except MailboxUnavailable:
                return
            status = yield from self._fetch_listed(validity, uids, max_size)
            if status != _RELIST:
                return

    def _fetch_listed(
        self, validity: int, uids: list[int], max_size: int
    ) -> Generator[Fetched, None, str]:
        for start in range(0, len(uids), META_CHUNK):
            chunk = uids[start:start + META_CHUNK]
            try:
                meta = self._call(partial(self._fetch_meta, validity=validity, chunk=chunk))
            except MailboxUnavailable:
                return _DOWN
            if meta is None:
                return _RELIST
            status = yield from self._with_bodies(validity, chunk, meta, max_size)
            if status != _DONE:
                return status
        return _DONE

    def _list_waiting(self, client: IMAPClient) -> tuple[int, list[int]]:
        # Dovecot (and others) answer SEARCH from the session's last synced view; NOOP
        # syncs it, so mail that arrived since our last command is included.
        client.noop()
        criteria: list[Any] = ["UNDELETED", *self._since()]
        if not self._settings.move:
            criteria += ["UNKEYWORD", KEYWORD]
        uids = sorted(int(uid) for uid in client.search(criteria))
        assert self._uidvalidity is not None
        if uids:
            self._listed_up_to = (self._uidvalidity, uids[-1])
        return self._uidvalidity, uids

    def _unlisted_mail(self, client: IMAPClient) -> bool:
        """Is there mail above the highest UID we listed? A new-mail notice can arrive inside
        another command's response (which the client library drops), or, with Dovecot, only
        when an IDLE ends; asking directly before each IDLE misses neither."""
        client.noop()
        validity, last = self._listed_up_to
        if validity != self._uidvalidity:
            last = 0
        criteria: list[Any] = ["UNDELETED", *self._since(), "UID", f"{last + 1}:*"]
        if not self._settings.move:
            criteria += ["UNKEYWORD", KEYWORD]
        # "n:*" always matches the highest UID, even below n: compare, don't count.
        return any(int(uid) > last for uid in client.search(criteria))

    def _since(self) -> list[Any]:
        """SEARCH SINCE for `[mailbox] since`: the server compares its own arrival date
        (INTERNALDATE) by day, so older mail is never fetched, moved or flagged."""
        return ["SINCE", self._settings.since] if self._settings.since else []

    def _fetch_meta(
        self, client: IMAPClient, validity: int, chunk: list[int]
    ) -> dict[int, _Meta] | None:
        if self._uidvalidity != validity:
            return None
        try:
            data = client.fetch(chunk, ["RFC822.SIZE", "INTERNALDATE", "ENVELOPE"])
        except IMAPClientAbortError:
            raise
        except (IMAPClientError, ValueError) as exc:
            # A malformed header can break ENVELOPE parsing; the body still gets parsed.
            log.warning("IMAP ENVELOPE unreadable for some of UIDs %s (%s); fetching without it",
                        uid_sets(chunk)[0][:80], exc)
            data = client.fetch(chunk, ["RFC822.SIZE", "INTERNALDATE"])
        meta: dict[int, _Meta] = {}
        for uid, item in data.items():
            meta[int(uid)] = _Meta(
                size=int(item.get(b"RFC822.SIZE", 0) or 0),
                received_at=_aware(item.get(b"INTERNALDATE")),
                message_id=_message_id(item.get(b"ENVELOPE")),
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
                bodies = self._call(partial(self._fetch_bodies, validity=validity, uids=small))
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
                    extra={"uid": str(member), "uidvalidity": str(validity),
                           "folder": self._settings.folder},
                )
            group, group_bytes = [], 0
        return _DONE

    def _fetch_bodies(
        self, client: IMAPClient, validity: int, uids: list[int]
    ) -> dict[int, bytes] | None:
        if self._uidvalidity != validity:
            return None
        if not uids:
            return {}
        try:
            data = client.fetch(uids, ["BODY.PEEK[]"])
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

    def mark_done(self, done: Sequence[tuple[Fetched, Outcome]]) -> None:
        """File committed mail: one UID-set command per target folder. Idempotent."""
        if self._read_only:
            raise RuntimeError("this IMAP mailbox was opened read-only")
        items = self._pending + list(done)
        self._pending = []
        if not items:
            return
        try:
            self._call(lambda c: self._apply_done(c, items))
        except MailboxUnavailable:
            # Kept for the next call; the mail stays in the inbox meanwhile, and if we are
            # restarted first, fetching it again finds its outcome and calls mark_done again.
            self._pending = list({fetched.key: (fetched, outcome)
                                  for fetched, outcome in items}.values())

    def _flush_pending(self) -> None:
        if self._pending:
            self.mark_done([])

    def _apply_done(self, client: IMAPClient, items: list[tuple[Fetched, Outcome]]) -> None:
        validity = self._uidvalidity
        flag_only: set[int] = set()
        by_folder: dict[str, set[int]] = {}
        for fetched, outcome in items:
            parsed = parse_mail_key(fetched.key)
            if parsed is None or parsed[0] != self._settings.folder:
                log.warning("mark_done: %r is not a mail of IMAP folder %s; skipped",
                            fetched.key, self._settings.folder)
                continue
            _, key_validity, uid = parsed
            if key_validity != validity:
                log.info("mark_done: %s predates the folder's UIDVALIDITY %s; skipped (the "
                         "mail is fetched again under a new key)", fetched.key, validity)
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
                continue
            client.copy(part, folder)
            client.add_flags(part, [DELETED], silent=True)
            if client.has_capability("UIDPLUS"):
                client.uid_expunge(part)
            else:
                # Without UID EXPUNGE this removes every \Deleted mail in the folder, which
                # is what any client's "compact" would do to them as well.
                client.expunge()

    def _ensure_folder(self, client: IMAPClient, configured: str) -> str:
        name = self._server_name(configured)
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

    def wait_for_mail(self, timeout: float) -> bool:
        """Block until new mail may be there: IDLE, or NOOP polling where IDLE is missing.

        True also after a reconnect, since mail may have come in while we were away.
        """
        deadline = self._clock() + max(0.0, timeout)
        recoveries = self._recoveries
        while True:
            client = self._ensure()
            now = self._clock()
            if client is None:
                if now >= deadline:
                    return False
                self._sleep(min(deadline - now, max(0.05, self._retry_at - now)))
                continue
            if self._recoveries != recoveries:
                return True
            if now >= deadline:
                return False
            try:
                if self._settings.idle and client.has_capability("IDLE"):
                    if self._unlisted_mail(client):
                        return True
                    return self._idle(client, deadline)
                return self._poll(client, deadline)
            except _CONNECTION_ERRORS as exc:
                self._lost(exc)
            except BaseException:
                # Interrupted mid-IDLE: the connection's state is unknown, start afresh.
                self._client = None
                _discard(client)
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

    def append_sent(self, raw: bytes) -> bool:
        """File a copy of one of our replies in sent_folder (\\Seen); False if not done."""
        folder = self._settings.sent_folder
        if not folder:
            return False

        def op(client: IMAPClient) -> None:
            name = self._ensure_folder(client, folder)
            client.append(name, raw, flags=(SEEN,))

        try:
            self._call(op)
        except MailboxUnavailable:
            log.warning("no copy filed in IMAP folder %s: server unavailable", folder)
            return False
        except IMAPClientAbortError:
            raise
        except IMAPClientError as exc:
            log.warning("no copy filed in IMAP folder %s: %s", folder, _said(exc))
            return False
        return True

    def close(self) -> None:
        for client in (self._client, self._probe_client):
            if client is None:
                continue
            try:
                client.logout()
            except Exception:
                _discard(client)
        self._client = self._probe_client = None

    # -- for `mailbot doctor` -----------------------------------------------------------------

    def _probe(self) -> IMAPClient:
        """A connection for inspection only (no folder selected, so a missing inbox folder
        can be reported rather than fail the connection). Raises with plain words."""
        if self._probe_client is not None:
            return self._probe_client
        try:
            client = self._connect()
        except _CONNECTION_ERRORS as exc:
            raise MailboxUnavailable(
                f"cannot connect to IMAP server {self._where} ({exc}). Check [mailbox] host, "
                f"port and security (\"tls\" is usually port 993, \"starttls\" 143), and that "
                f"the server is running."
            ) from None
        try:
            self._learn_delimiter(client)
        except _CONNECTION_ERRORS as exc:
            _discard(client)
            raise MailboxUnavailable(f"IMAP server {self._where} dropped us ({exc})") from None
        except BaseException:
            _discard(client)
            raise
        self._probe_client = client
        return client

    def folders(self) -> list[str]:
        """Every folder on the server (server spelling)."""
        client = self._probe()
        return [str(name) for _, _, name in client.list_folders()]

    def capabilities(self) -> frozenset[str]:
        client = self._probe()
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
            name = self._server_name(configured)
            exists = name in existing or (role == "inbox" and name.upper() == "INBOX")
            report.append(FolderInfo(role=role, name=name, exists=exists))
        return report
