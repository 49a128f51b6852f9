"""The filing thread of a pass: committed groups are moved in the background, groups that
piled up during a slow move go in one call, and a failed move is raised in the worker."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from mailbot.adapters.mailboxes.maildir import MaildirMailbox
from mailbot.core.model import Fetched, Outcome
from mailbot.services.filing import Filing
from tests.staff_env import new_serial, request


class SlowMaildir(MaildirMailbox):
    """A real Maildir whose first move waits until the test lets it go."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.calls: list[int] = []
        self.entered = threading.Event()
        self.release = threading.Event()

    def mark_done(self, done: Sequence[tuple[Fetched, Outcome]]) -> None:
        if not self.calls:
            self.entered.set()
            self.release.wait(10)
        self.calls.append(len(done))
        super().mark_done(done)


def _waiting(mailbox: MaildirMailbox, n: int) -> list[Fetched]:
    for _ in range(n):
        mailbox.deliver(request("a@northwind.example", new_serial()))
    return list(mailbox.fetch_new(10_000_000))


def test_groups_that_piled_up_are_moved_in_one_call(tmp_path: Path) -> None:
    mailbox = SlowMaildir(tmp_path / "maildir")
    mails = _waiting(mailbox, 12)
    groups = [[(m, Outcome.ISSUED) for m in mails[i : i + 3]] for i in range(0, 12, 3)]
    with Filing(mailbox) as filing:
        filing.file(groups[0])
        assert mailbox.entered.wait(10)  # the first move is on the server
        for group in groups[1:]:
            filing.file(group)
        mailbox.release.set()
    assert mailbox.calls == [3, 9]  # the first group, then the three that waited for it
    assert sorted(filing.take_filed()) == sorted(m.key for m in mails)
    assert not list((tmp_path / "maildir" / "new").iterdir())


class BrokenMaildir(MaildirMailbox):
    """A real Maildir whose folder went away: every move fails."""

    def mark_done(self, done: Sequence[tuple[Fetched, Outcome]]) -> None:
        raise OSError("No such file or directory: 'cur'")


def test_a_failed_move_is_raised_in_the_worker_and_stops_the_filing(tmp_path: Path) -> None:
    mailbox = BrokenMaildir(tmp_path / "maildir")
    mails = _waiting(mailbox, 4)
    filing = Filing(mailbox)
    with pytest.raises(OSError), filing:
        filing.file([(m, Outcome.ISSUED) for m in mails[:2]])
    assert filing.take_filed() == []  # nothing noted as filed: the next pass moves them
    later = Filing(mailbox)
    with pytest.raises(OSError), later:
        later.file([(m, Outcome.ISSUED) for m in mails[:2]])
        for _ in range(1000):  # until the filing thread has met the failure
            if later._error is not None:
                break
            time.sleep(0.01)
        later.file([(m, Outcome.ISSUED) for m in mails[2:]])  # raised here, in the worker


class CountingMaildir(MaildirMailbox):
    """A real Maildir that notes the size of every move."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.calls: list[int] = []

    def mark_done(self, done: Sequence[tuple[Fetched, Outcome]]) -> None:
        self.calls.append(len(done))
        super().mark_done(done)


def test_a_lone_mail_is_moved_at_once_and_a_backlog_in_fewer_moves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mailbot.services import filing as filing_module

    monkeypatch.setattr(filing_module, "MOVE_EVERY_SECONDS", 60.0)
    mailbox = CountingMaildir(tmp_path / "maildir")
    mails = _waiting(mailbox, 11)
    with Filing(mailbox) as filing:
        filing.file([(mails[0], Outcome.ISSUED)])
        deadline = time.monotonic() + 10
        while not mailbox.calls and time.monotonic() < deadline:
            time.sleep(0.001)
        assert mailbox.calls == [1]  # after a quiet while: at once
        for mail in mails[1:]:  # ten groups committed right after it
            filing.file([(mail, Outcome.ISSUED)])
        time.sleep(0.05)
        assert mailbox.calls == [1]  # they wait for the next move ...
    assert mailbox.calls == [1, 10]  # ... which the end of the pass makes at once, together
    assert sorted(filing.take_filed()) == sorted(m.key for m in mails)
