"""The pure IMAP codecs (mailbot.adapters.mailboxes.imap.codec), on plain values only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from mailbot.adapters.mailboxes.imap.codec import (
    PROCESSED_OUTCOMES,
    _aware,
    _is_bye,
    _is_new_mail,
    _message_id,
    _said,
    mail_key,
    parse_mail_key,
    server_folder_name,
    target_folder,
    uid_sets,
)
from mailbot.config import MailboxSettings
from mailbot.core.model import Fetched, Outcome


def test_uid_sets_compress_and_split() -> None:
    assert uid_sets([5, 1, 2, 3, 9, 10, 7]) == ["1:3,5,7,9:10"]
    assert uid_sets([]) == []
    parts = uid_sets(list(range(1, 2000, 2)), max_chars=100)
    assert all(len(p) <= 100 for p in parts)
    assert sorted(int(x) for p in parts for x in p.split(",")) == list(range(1, 2000, 2))


def test_keys_folders_and_targets() -> None:
    assert parse_mail_key("imap:Support:Team:42:7") == ("Support:Team", 42, 7)
    assert parse_mail_key("maildir:abc") is None
    assert parse_mail_key("imap:INBOX:x:7") is None
    assert server_folder_name("mailbot/processed", ".") == "mailbot.processed"
    assert server_folder_name("mailbot/processed", "/") == "mailbot/processed"
    assert server_folder_name("mailbot/processed", None) == "mailbot/processed"
    settings = MailboxSettings()
    assert {
        target_folder(settings, o)
        for o in (
            Outcome.ISSUED,
            Outcome.RESENT,
            Outcome.TRANSFERRED,
            Outcome.AWAITING_PAYMENT,
            Outcome.CLARIFY,
        )
    } == {"mailbot/processed"}
    assert target_folder(settings, Outcome.ESCALATED) == "mailbot/escalated"
    assert target_folder(settings, Outcome.IGNORED) == "mailbot/ignored"


def test_fetched_keys_are_strings_the_worker_can_store() -> None:
    fetched = Fetched(key="imap:INBOX:1:2", raw=b"", size=0)
    assert parse_mail_key(fetched.key) == ("INBOX", 1, 2)


def test_mail_keys_round_trip() -> None:
    for folder in ("INBOX", "Support:Team", "mailbot/processed", "a:1:2"):
        key = mail_key(folder, 1700000000, 42)
        assert key.startswith("imap:")
        assert parse_mail_key(key) == (folder, 1700000000, 42)
    for foreign in ("", "imap:", "imap:INBOX", "imap:INBOX:1", "imap:INBOX:1:-2", "IMAP:INBOX:1:2"):
        assert parse_mail_key(foreign) is None


def test_uid_sets_edges() -> None:
    assert uid_sets({7}) == ["7"]
    assert uid_sets([3, 3, 2, 1]) == ["1:3"]  # duplicates and order do not matter
    assert uid_sets(range(1, 100_001)) == ["1:100000"]  # a run costs one range, however long
    # A single range longer than the limit is still sent, alone, rather than dropped.
    assert uid_sets([1, 2, 3], max_chars=2) == ["1:3"]
    assert uid_sets([1, 3, 5], max_chars=3) == ["1", "3", "5"]


def test_every_outcome_has_a_folder() -> None:
    settings = MailboxSettings()
    filed = {o for o in Outcome if target_folder(settings, o)}
    assert filed == set(Outcome)
    assert PROCESSED_OUTCOMES | {Outcome.ESCALATED, Outcome.IGNORED} == set(Outcome)
    with pytest.raises(ValueError, match="no folder"):
        target_folder(settings, "bounced")  # type: ignore[arg-type]


def test_folder_names_keep_names_without_hierarchy() -> None:
    assert server_folder_name("INBOX", ".") == "INBOX"
    assert server_folder_name("a/b/c", ".") == "a.b.c"
    assert server_folder_name("a/b", "") == "a/b"


def test_message_id_from_the_header_field_answer() -> None:
    assert _message_id(b"Message-ID: <abc@example.org>\r\n\r\n") == "abc@example.org"
    assert _message_id(b"message-id :\r\n <abc@example.org>\r\n\r\n") == "abc@example.org"
    assert _message_id(b"Message-Id: abc@example.org\r\n\r\n") == "abc@example.org"
    assert _message_id(b"Message-ID: <\xff@x>\r\n") == "\ufffd@x"
    assert _message_id(b"\r\n") == ""  # the mail has none
    assert _message_id(b"") == ""
    assert _message_id(None) == ""  # fetched without it


def test_internal_dates_become_aware_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    assert _aware(datetime(2025, 1, 6, 12, 0, tzinfo=plus_two)) == datetime(
        2025, 1, 6, 10, 0, tzinfo=UTC
    )
    assert _aware(datetime(2025, 1, 6, 12, 0)) == datetime(2025, 1, 6, 12, 0, tzinfo=UTC)
    assert _aware(datetime(2025, 1, 6, 12, 0, tzinfo=plus_two)).tzinfo is UTC  # type: ignore[union-attr]
    assert _aware(None) is None
    assert _aware(b"06-Jan-2025 10:00:00 +0000") is None


def test_said_strips_the_bytes_repr() -> None:
    assert _said(Exception("b'[AUTHENTICATIONFAILED] Authentication failed.'")) == (
        "[AUTHENTICATIONFAILED] Authentication failed."
    )
    assert _said(Exception('b"it\'s refused"')) == "it's refused"
    assert _said(Exception("plain words")) == "plain words"
    assert _said(Exception("b'mismatched\"")) == "b'mismatched\""


def test_response_predicates() -> None:
    assert _is_new_mail((3, b"EXISTS"))
    assert not _is_new_mail((3, b"RECENT"))
    assert not _is_new_mail((3, b"EXPUNGE"))
    assert not _is_new_mail((b"EXISTS",))
    assert not _is_new_mail(b"3 EXISTS")
    assert _is_bye((b"BYE", b"Server shutting down."))
    assert _is_bye((b"bye",))
    assert not _is_bye((b"OK", b"Still here"))
    assert not _is_bye(())
    assert not _is_bye(("BYE",))  # imapclient hands over bytes; anything else is not a BYE
    assert not _is_bye(b"BYE")
