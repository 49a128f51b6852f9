"""ImapMailbox against a real Dovecot (tests/servers/dovecot.py): fetching, filing, waiting,
outages, and connecting and logging in (TLS, passwords, XOAUTH2).

The pure parts are tested in test_imap_codec.py and test_imap_oauth.py.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from imapclient import IMAPClient

from mailbot.adapters.mailboxes.imap import fetching, mailbox
from mailbot.adapters.mailboxes.imap.codec import KEYWORD, parse_mail_key
from mailbot.adapters.mailboxes.imap.connection import MailboxAuthError, MailboxError, open_client
from mailbot.adapters.mailboxes.imap.mailbox import ImapMailbox
from mailbot.config import MailboxSettings
from mailbot.core.model import Outcome
from tests.servers.dovecot import DovecotServer

BIG = 10 * 1024 * 1024


def mail(n: int, *, size: int = 0, sender: str = "customer@example.org") -> bytes:
    body = "Please send my license. Serial AMC-0000-0000-0000-0000\r\n"
    if size:
        line = "x" * 76 + "\r\n"
        body += line * (size // len(line) + 1)
    return (
        f"From: {sender}\r\n"
        f"To: support@amphis.example\r\n"
        f"Subject: License request {n}\r\n"
        f"Message-ID: <request-{n}@example.org>\r\n"
        f"Date: Mon, 06 Jan 2025 10:00:00 +0000\r\n"
        f"\r\n{body}"
    ).encode()


def uids_in(dovecot: DovecotServer, login: str, folder: str) -> list[int]:
    client = dovecot.client(login)
    try:
        if not client.folder_exists(folder):
            return []
        client.select_folder(folder, readonly=True)
        return sorted(client.search(["ALL"]))
    finally:
        client.logout()


def flags_of(dovecot: DovecotServer, login: str, folder: str) -> dict[int, tuple[bytes, ...]]:
    client = dovecot.client(login)
    try:
        client.select_folder(folder, readonly=True)
        return dict(client.get_flags(client.search(["ALL"])))
    finally:
        client.logout()


@pytest.fixture
def box_for(dovecot: DovecotServer) -> Iterator[Any]:
    """box_for(login, **overrides) -> ImapMailbox, closed after the test."""
    made: list[ImapMailbox] = []

    def make(login: str, **overrides: Any) -> ImapMailbox:
        box = ImapMailbox(dovecot.mailbox_settings(login, **overrides))
        made.append(box)
        return box

    yield make
    for box in made:
        box.close()


class FetchSpy:
    """Records every FETCH and MOVE the adapter sends, without changing them."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.fetches: list[tuple[list[int], list[str]]] = []
        self.moves: list[tuple[str, str]] = []
        self.copies: list[tuple[str, str]] = []
        original_fetch, original_move, original_copy = (
            IMAPClient.fetch,
            IMAPClient.move,
            IMAPClient.copy,
        )

        def fetch(client: IMAPClient, messages: Any, data: Any, modifiers: Any = None) -> Any:
            self.fetches.append((list(messages), [str(d) for d in data]))
            return original_fetch(client, messages, data, modifiers)

        def move(client: IMAPClient, messages: Any, folder: str) -> Any:
            self.moves.append((str(messages), folder))
            return original_move(client, messages, folder)

        def copy(client: IMAPClient, messages: Any, folder: str) -> Any:
            self.copies.append((str(messages), folder))
            return original_copy(client, messages, folder)

        monkeypatch.setattr(IMAPClient, "fetch", fetch)
        monkeypatch.setattr(IMAPClient, "move", move)
        monkeypatch.setattr(IMAPClient, "copy", copy)


# -- fetching ----------------------------------------------------------------------------------


def test_fetch_peeks_and_leaves_seen_unset(dovecot: DovecotServer, box_for: Any) -> None:
    login, _ = dovecot.user("peek")
    raws = [mail(1), mail(2)]
    uids = [dovecot.append(login, "INBOX", raw) for raw in raws]
    box = box_for(login)

    fetched = list(box.fetch_new(BIG))

    validity = int(fetched[0].key.split(":")[2])
    assert [f.key for f in fetched] == [f"imap:INBOX:{validity}:{uid}" for uid in uids]
    assert [f.raw for f in fetched] == raws
    assert [f.size for f in fetched] == [len(r) for r in raws]
    assert [f.message_id for f in fetched] == ["request-1@example.org", "request-2@example.org"]
    assert all(f.received_at is not None and f.received_at.tzinfo is not None for f in fetched)
    assert abs((fetched[0].received_at - datetime.now(UTC)).total_seconds()) < 120
    assert all(b"\\Seen" not in flags for flags in flags_of(dovecot, login, "INBOX").values())
    # Nothing was marked done: the same mail is waiting again.
    assert [f.key for f in box.fetch_new(BIG)] == [f.key for f in fetched]


def test_mail_over_the_cap_comes_without_body_and_is_not_downloaded(
    dovecot: DovecotServer, box_for: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    login, _ = dovecot.user("huge")
    huge = mail(1, size=4 * 1024 * 1024)
    big_uid = dovecot.append(login, "INBOX", huge)
    small_uid = dovecot.append(login, "INBOX", mail(2))
    spy = FetchSpy(monkeypatch)
    box = box_for(login)

    fetched = {f.extra["uid"]: f for f in box.fetch_new(1024 * 1024)}
    box.close()

    assert fetched[str(big_uid)].raw is None
    assert fetched[str(big_uid)].size == len(huge)
    assert fetched[str(big_uid)].message_id == "request-1@example.org"
    assert fetched[str(small_uid)].raw == mail(2)
    body_fetches = [uids for uids, items in spy.fetches if "BODY.PEEK[]" in items]
    assert body_fetches == [[small_uid]]
    # The server's own account of the session: far fewer bytes sent than the huge mail.
    out = _session_bytes_out(dovecot, login)
    assert out < 100_000, out


def _session_bytes_out(dovecot: DovecotServer, login: str) -> int:
    pattern = re.compile(rf"imap\({re.escape(login)}\).*Disconnected: Logged out in=\d+ out=(\d+)")
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:  # the log process writes asynchronously
        found = [int(m.group(1)) for m in pattern.finditer(dovecot.log())]
        if found:
            return max(found)
        time.sleep(0.05)
    raise AssertionError(f"no logout line for {login} in the Dovecot log")


def test_fetch_in_chunks_keeps_uid_order(
    dovecot: DovecotServer, box_for: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fetching, "META_CHUNK", 3)
    monkeypatch.setattr(fetching, "BODY_CHUNK_COUNT", 2)
    login, _ = dovecot.user("chunks")
    uids = [dovecot.append(login, "INBOX", mail(n, size=3000 if n == 4 else 0)) for n in range(7)]

    fetched = list(box_for(login).fetch_new(2000))

    assert [int(f.extra["uid"]) for f in fetched] == uids
    assert [f.raw is None for f in fetched] == [n == 4 for n in range(7)]


def test_a_listing_is_read_a_stretch_of_uids_at_a_time(
    dovecot: DovecotServer, box_for: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No SEARCH lists more than a stretch of UIDs, a stretch of mail long moved away is
    crossed in wider steps, and every waiting mail still comes once, in UID order."""
    monkeypatch.setattr(fetching, "LIST_WINDOW", 4)
    searches: list[tuple[str, int]] = []
    original = IMAPClient.search

    def search(client: IMAPClient, criteria: Any = "ALL", charset: Any = None) -> Any:
        found = original(client, criteria, charset)
        if len(criteria) > 2 and criteria[-2] == "UID":
            searches.append((str(criteria[-1]), len(found)))
        return found

    monkeypatch.setattr(IMAPClient, "search", search)
    login, _ = dovecot.user("stretches")
    uids = [dovecot.append(login, "INBOX", mail(n)) for n in range(30)]
    client = dovecot.client(login)  # the first 20 were filed long ago: UIDs 1-20 are empty
    try:
        client.create_folder("Archive")
        client.select_folder("INBOX")
        client.move(uids[:20], "Archive")
    finally:
        client.logout()

    fetched = list(box_for(login).fetch_new(BIG))

    assert [int(f.extra["uid"]) for f in fetched] == uids[20:]
    stretches = [(s.split(":"), n) for s, n in searches if ":" in s]
    spans = [int(high) - int(low) + 1 for (low, high), _ in stretches]
    assert spans[0] == 4 and max(spans) > 4  # wider steps over the empty stretch
    assert max(n for _, n in stretches) <= 2 * 4  # no answer lists more than that


# -- filing ------------------------------------------------------------------------------------


def test_mark_done_moves_to_created_folders_one_command_per_folder(
    dovecot: DovecotServer, box_for: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    login, _ = dovecot.user("move")
    for n in range(6):
        dovecot.append(login, "INBOX", mail(n))
    box = box_for(login)
    fetched = list(box.fetch_new(BIG))
    outcomes = [
        Outcome.ISSUED,
        Outcome.RESENT,
        Outcome.ESCALATED,
        Outcome.IGNORED,
        Outcome.CLARIFY,
        Outcome.AWAITING_PAYMENT,
    ]
    spy = FetchSpy(monkeypatch)

    box.mark_done(list(zip(fetched, outcomes, strict=True)))

    # Dovecot's Maildir++ uses "." as hierarchy delimiter; config's "/" is translated.
    assert sorted(folder for _, folder in spy.moves) == [
        "mailbot.escalated",
        "mailbot.ignored",
        "mailbot.processed",
    ]
    assert uids_in(dovecot, login, "INBOX") == []
    assert len(uids_in(dovecot, login, "mailbot.processed")) == 4
    assert len(uids_in(dovecot, login, "mailbot.escalated")) == 1
    assert len(uids_in(dovecot, login, "mailbot.ignored")) == 1
    assert list(box.fetch_new(BIG)) == []

    # Idempotent: the crash may come between the move and the worker's bookkeeping.
    box.mark_done(list(zip(fetched, outcomes, strict=True)))
    assert len(uids_in(dovecot, login, "mailbot.processed")) == 4

    # A folder deleted behind our back is created again.
    admin = dovecot.client(login)
    admin.delete_folder("mailbot.ignored")
    admin.logout()
    dovecot.append(login, "INBOX", mail(7))
    (late,) = box.fetch_new(BIG)
    box.mark_done([(late, Outcome.IGNORED)])
    assert len(uids_in(dovecot, login, "mailbot.ignored")) == 1


def test_without_move_capability_copy_delete_expunge(
    dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    class NoMoveNoIdle(IMAPClient):
        def capabilities(self) -> tuple[bytes, ...]:
            return tuple(c for c in super().capabilities() if c not in (b"MOVE", b"IDLE"))

    login, _ = dovecot.user("nomove")
    for n in range(3):
        dovecot.append(login, "INBOX", mail(n))
    settings = dovecot.mailbox_settings(login, poll_seconds=1)
    box = ImapMailbox(settings, connect=lambda: open_client(settings, client_class=NoMoveNoIdle))
    spy = FetchSpy(monkeypatch)
    try:
        fetched = list(box.fetch_new(BIG))
        box.mark_done(
            [
                (fetched[0], Outcome.ISSUED),
                (fetched[1], Outcome.ISSUED),
                (fetched[2], Outcome.ESCALATED),
            ]
        )
        assert spy.moves == []
        assert sorted(folder for _, folder in spy.copies) == [
            "mailbot.escalated",
            "mailbot.processed",
        ]
        assert uids_in(dovecot, login, "INBOX") == []
        assert len(uids_in(dovecot, login, "mailbot.processed")) == 2

        # No IDLE either: wait_for_mail polls with NOOP.
        threading.Timer(0.3, dovecot.append, (login, "INBOX", mail(9))).start()
        started = time.monotonic()
        assert box.wait_for_mail(5) is True
        assert time.monotonic() - started < 2.5
    finally:
        box.close()


def test_keyword_mode_marks_and_skips(dovecot: DovecotServer, box_for: Any) -> None:
    login, _ = dovecot.user("keyword")
    for n in range(3):
        dovecot.append(login, "INBOX", mail(n))
    box = box_for(login, move=False)
    first, second, third = box.fetch_new(BIG)

    box.mark_done([(first, Outcome.ISSUED), (third, Outcome.ESCALATED)])

    assert [f.key for f in box.fetch_new(BIG)] == [second.key]
    assert len(uids_in(dovecot, login, "INBOX")) == 3  # nothing moved
    flags = flags_of(dovecot, login, "INBOX")
    marked = {uid for uid, f in flags.items() if KEYWORD.encode() in f}
    assert marked == {int(first.extra["uid"]), int(third.extra["uid"])}
    assert all(b"\\Seen" not in f for f in flags.values())


def test_file_sent_files_a_seen_copy(dovecot: DovecotServer, box_for: Any) -> None:
    login, _ = dovecot.user("sent")
    box = box_for(login, sent_folder="Sent")
    assert box.file_sent(b"Subject: our reply\r\nMessage-ID: <r1@amphis.example>\r\n\r\nhi\r\n")
    (flags,) = flags_of(dovecot, login, "Sent").values()
    assert b"\\Seen" in flags
    assert box_for(login).file_sent(b"x") is False  # no sent_folder configured


# -- UIDVALIDITY and outages -------------------------------------------------------------------


def test_uidvalidity_change_gives_new_keys_and_old_keys_are_skipped(
    dovecot: DovecotServer, box_for: Any
) -> None:
    login, _ = dovecot.user("validity")
    raws = [mail(1), mail(2)]
    for raw in raws:
        dovecot.append(login, "support", raw)
    box = box_for(login, folder="support")
    before = list(box.fetch_new(BIG))

    # The folder is recreated (a restore, a migration): same mail, new UIDVALIDITY.
    admin = dovecot.client(login)
    admin.delete_folder("support")
    admin.logout()
    for raw in raws:
        dovecot.append(login, "support", raw)

    after = list(box.fetch_new(BIG))

    old_keys = [parse_mail_key(f.key) for f in before]
    new_keys = [parse_mail_key(f.key) for f in after]
    assert all(k is not None for k in old_keys + new_keys)
    assert {k[1] for k in new_keys} != {k[1] for k in old_keys}  # type: ignore[index]
    # The worker dedupes by Message-ID, which survives the change.
    assert [f.message_id for f in after] == [f.message_id for f in before]

    box.mark_done([(f, Outcome.ISSUED) for f in before])  # stale: skipped, not misapplied
    assert len(uids_in(dovecot, login, "support")) == 2
    box.mark_done([(f, Outcome.ISSUED) for f in after])
    assert uids_in(dovecot, login, "support") == []


def test_server_restart_between_fetch_and_mark_done(
    dovecot: DovecotServer, box_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    login, _ = dovecot.user("restart")
    for n in range(2):
        dovecot.append(login, "INBOX", mail(n))
    box = box_for(login)
    fetched = list(box.fetch_new(BIG))

    dovecot.restart()
    with caplog.at_level(logging.INFO, logger="mailbot.adapters.mailboxes.imap"):
        box.mark_done([(f, Outcome.ISSUED) for f in fetched])

    assert uids_in(dovecot, login, "INBOX") == []
    assert len(uids_in(dovecot, login, "mailbot.processed")) == 2
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "lost" in warnings[0].getMessage()


def test_outage_carries_on_and_idle_resumes(
    dovecot: DovecotServer, box_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    login, _ = dovecot.user("outage")
    dovecot.append(login, "INBOX", mail(1))
    box = box_for(login)
    fetched = list(box.fetch_new(BIG))
    assert box.wait_for_mail(0.2) is False  # connected and idle, nothing new

    with caplog.at_level(logging.INFO, logger="mailbot.adapters.mailboxes.imap"):
        dovecot.stop()
        started = time.monotonic()
        assert list(box.fetch_new(BIG)) == []  # no exception: yields nothing while down
        box.mark_done([(fetched[0], Outcome.ESCALATED)])  # kept for later
        assert list(box.fetch_new(BIG)) == []
        assert time.monotonic() - started < 2
        threading.Timer(0.5, dovecot.start).start()
        assert box.wait_for_mail(10) is True  # back: mail may have come meanwhile
        assert list(box.fetch_new(BIG)) == []  # the kept mark_done ran first
    assert len(uids_in(dovecot, login, "mailbot.escalated")) == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings  # logged once per outage
    assert any("restored" in r.getMessage() for r in caplog.records)


def test_idle_wakes_within_a_fraction_of_a_second(dovecot: DovecotServer, box_for: Any) -> None:
    login, _ = dovecot.user("idle")
    box = box_for(login)
    assert list(box.fetch_new(BIG)) == []
    appended_at: list[float] = []

    def deliver() -> None:
        dovecot.append(login, "INBOX", mail(1))
        appended_at.append(time.monotonic())

    threading.Timer(0.3, deliver).start()
    assert box.wait_for_mail(10) is True
    woke_at = time.monotonic()
    # Dovecot itself waits 0.5 s after a change before telling IDLE sessions (it batches
    # notifications); the adapter adds next to nothing on top.
    assert appended_at and woke_at - appended_at[0] < 0.9
    assert [f.message_id for f in box.fetch_new(BIG)] == ["request-1@example.org"]

    started = time.monotonic()
    assert box.wait_for_mail(0.3) is False
    assert 0.25 < time.monotonic() - started < 1.5


def test_mail_whose_notice_was_swallowed_is_still_seen_at_once(
    dovecot: DovecotServer, box_for: Any
) -> None:
    """A new-mail notice can come inside another command's response, where the client library
    drops it; the next wait must still return at once instead of idling until the sweep."""
    login, _ = dovecot.user("swallowed")
    box = box_for(login)
    assert list(box.fetch_new(BIG)) == []
    dovecot.append(login, "INBOX", mail(1))
    box._session.client.noop()  # takes (and, for our purposes, loses) the EXISTS notice
    started = time.monotonic()
    assert box.wait_for_mail(10) is True
    assert time.monotonic() - started < 0.3
    assert [f.message_id for f in box.fetch_new(BIG)] == ["request-1@example.org"]


def test_idle_is_renewed_before_servers_drop_it(
    dovecot: DovecotServer, box_for: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mailbox, "IDLE_RENEW_SECONDS", 0.2)  # 25 minutes in production
    idles: list[float] = []
    original = IMAPClient.idle

    def counting_idle(client: IMAPClient) -> Any:
        idles.append(time.monotonic())
        return original(client)

    monkeypatch.setattr(IMAPClient, "idle", counting_idle)
    login, _ = dovecot.user("renew")
    box = box_for(login)
    assert list(box.fetch_new(BIG)) == []

    assert box.wait_for_mail(0.7) is False
    assert len(idles) >= 3  # re-issued every 0.2 s
    threading.Timer(0.3, dovecot.append, (login, "INBOX", mail(1))).start()
    assert box.wait_for_mail(5) is True  # mail arriving across renewals still wakes it


def test_idle_survives_a_server_restart(dovecot: DovecotServer, box_for: Any) -> None:
    login, _ = dovecot.user("idlerestart")
    box = box_for(login)
    assert list(box.fetch_new(BIG)) == []
    threading.Timer(0.2, dovecot.restart).start()
    started = time.monotonic()
    assert box.wait_for_mail(15) is True
    assert time.monotonic() - started < 6
    dovecot.append(login, "INBOX", mail(1))
    assert len(list(box.fetch_new(BIG))) == 1


def test_unreachable_server_backs_off(caplog: pytest.LogCaptureFixture) -> None:
    attempts: list[float] = []

    def refuse() -> IMAPClient:
        attempts.append(time.monotonic())
        raise ConnectionRefusedError(111, "Connection refused")

    box = ImapMailbox(MailboxSettings(kind="imap", username="u", password_env="X"), connect=refuse)
    with caplog.at_level(logging.WARNING, logger="mailbot.adapters.mailboxes.imap"):
        for _ in range(5):
            assert list(box.fetch_new(BIG)) == []
    assert len(attempts) == 1  # the rest fall inside the backoff
    assert len(caplog.records) == 1
    assert box.wait_for_mail(0.8) is False
    assert 2 <= len(attempts) <= 3  # 0.5 s, then 1 s backoff


# -- connecting and logging in -----------------------------------------------------------------


def test_tls_and_starttls(
    dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch, box_for: Any
) -> None:
    login, _ = dovecot.user("tls")
    dovecot.append(login, "INBOX", mail(1))
    monkeypatch.setenv("SSL_CERT_FILE", str(dovecot.certificate.ca_file))

    implicit = box_for(login, security="tls", port=dovecot.tls_port)
    assert len(list(implicit.fetch_new(BIG))) == 1
    starttls = box_for(login, security="starttls")
    assert len(list(starttls.fetch_new(BIG))) == 1

    monkeypatch.setenv("SSL_CERT_FILE", "/nonexistent/ca.pem")
    untrusted = box_for(login, security="tls", port=dovecot.tls_port)
    with pytest.raises(MailboxError, match="not trusted"):
        list(untrusted.fetch_new(BIG))


def test_wrong_password_says_what_to_do(
    dovecot: DovecotServer, box_for: Any, tmp_path: Path
) -> None:
    login, _ = dovecot.user("wrongpw")
    wrong = tmp_path / "pw"
    wrong.write_text("not-it\n")
    wrong.chmod(0o600)
    box = box_for(login, password_file=wrong)
    with pytest.raises(MailboxAuthError) as caught:
        list(box.fetch_new(BIG))
    message = str(caught.value)
    assert "refused" in message and str(wrong) in message and "not-it" not in message


def test_missing_inbox_folder_is_an_error(dovecot: DovecotServer, box_for: Any) -> None:
    login, _ = dovecot.user("nofolder")
    with pytest.raises(MailboxError, match="cannot be opened"):
        list(box_for(login, folder="does-not-exist").fetch_new(BIG))


class _TokenEndpoint(BaseHTTPRequestHandler):
    answer: dict[str, Any] = {}
    requests: list[dict[str, list[str]]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        length = int(self.headers["Content-Length"])
        type(self).requests.append(parse_qs(self.rfile.read(length).decode()))
        body = json.dumps(type(self).answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_xoauth2_with_an_expired_token_file_refreshes_and_saves(
    dovecot: DovecotServer, box_for: Any, tmp_path: Path
) -> None:
    # Dovecot checks an XOAUTH2 token like a password, so the user's password is a valid token.
    login, password = dovecot.user("oauth")
    dovecot.append(login, "INBOX", mail(1))
    server = HTTPServer(("127.0.0.1", 0), _TokenEndpoint)
    _TokenEndpoint.answer = {
        "access_token": password,
        "expires_in": 3600,
        "refresh_token": "rotated-refresh",
        "token_type": "Bearer",
    }
    _TokenEndpoint.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    token_file = tmp_path / "token.json"
    token_file.write_text(
        json.dumps(
            {
                "access_token": "expired-token",
                "expires_at": int(time.time()) - 10,
                "refresh_token": "old-refresh",
                "client_id": "cid",
                "client_secret": "csecret",
                "token_uri": f"http://127.0.0.1:{server.server_port}/token",
                "account": "kept",
            }
        )
    )
    try:
        box = box_for(login, auth="xoauth2", password_file=None, oauth_token_file=token_file)
        assert len(list(box.fetch_new(BIG))) == 1
    finally:
        server.shutdown()
        server.server_close()
        thread.join()

    assert _TokenEndpoint.requests == [
        {
            "grant_type": ["refresh_token"],
            "refresh_token": ["old-refresh"],
            "client_id": ["cid"],
            "client_secret": ["csecret"],
        }
    ]
    saved = json.loads(token_file.read_text())
    assert saved["access_token"] == password
    assert saved["refresh_token"] == "rotated-refresh"
    assert saved["account"] == "kept"
    assert saved["expires_at"] > time.time() + 3000
    assert token_file.stat().st_mode & 0o777 == 0o600


def test_xoauth2_token_command(dovecot: DovecotServer, box_for: Any) -> None:
    login, password = dovecot.user("oauthcmd")
    command = f"{sys.executable} -c 'print(\"{password}\")'"
    box = box_for(login, auth="xoauth2", password_file=None, oauth_token_command=command)
    assert list(box.fetch_new(BIG)) == []

    refused = box_for(
        login,
        auth="xoauth2",
        password_file=None,
        oauth_token_command=f"{sys.executable} -c 'print(\"tok-123-gone\")'",
    )
    with pytest.raises(MailboxAuthError) as caught:
        list(refused.fetch_new(BIG))
    assert "Sign in again" in str(caught.value) and "tok-123" not in str(caught.value)


def test_moves_leave_no_server_replies_behind(
    dovecot: DovecotServer, box_for: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """imaplib keeps every untagged response nobody asks for: the EXPUNGE line of each moved
    mail would pile up over a long backlog (memory that grows with the mailbox)."""
    login, _ = dovecot.user("forget")
    for n in range(30):
        dovecot.append(login, "INBOX", mail(n))
    box = box_for(login)
    clients: list[IMAPClient] = []
    original = IMAPClient.move

    def move(client: IMAPClient, messages: Any, folder: str) -> Any:
        clients.append(client)
        return original(client, messages, folder)

    monkeypatch.setattr(IMAPClient, "move", move)
    fetched = list(box.fetch_new(10_000_000))
    box.mark_done([(f, Outcome.ISSUED) for f in fetched])
    assert clients and len(fetched) == 30
    kept = clients[0]._imap.untagged_responses
    assert "EXPUNGE" not in kept and "OK" not in kept, sorted(kept)
