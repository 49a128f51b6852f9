"""MaildirMailbox: an entry in new/ that cannot be read never blocks the mail after it."""

from __future__ import annotations

from pathlib import Path

from mailbot.core.model import Outcome
from tests.staff_env import make_env, new_serial, order_row, request


def test_a_directory_in_maildir_new_does_not_block_the_mail_after_it(tmp_path: Path) -> None:
    env = make_env(tmp_path, [order_row("ORD-A", "alice@northwind.example", 1)])
    (env.mailbox.path / "new" / "0000000001.1_dir.host").mkdir()
    env.deliver(request("alice@northwind.example", new_serial()))
    done = [p for p in env.poll() if not p.already_done]
    assert [p.outcome for p in done] == [Outcome.ESCALATED, Outcome.ISSUED]
