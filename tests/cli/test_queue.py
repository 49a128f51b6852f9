"""`mailbot queue` options that the services never see: ages and reply files. (The queue's
actions, each also through the command line: tests/services/test_escalations.py.)"""

from __future__ import annotations

from pathlib import Path

from tests.staff_env import Env, plain_failure


def test_an_age_older_than_the_calendar_lists_everything(env: Env) -> None:
    result = env.cli("queue", "list", "--newer-than", "999999w")
    assert result.exit_code == 0 and "The queue is empty." in result.output


def test_a_reply_file_that_is_not_utf8_is_one_sentence(env: Env, tmp_path: Path) -> None:
    answer = tmp_path / "answer.txt"
    answer.write_bytes(b"Gr\xfc\xdfe, das geht so nicht")  # Latin-1, as some editors save
    out = plain_failure(env.cli("queue", "reply", "1", "--text-file", str(answer)))
    assert "UTF-8" in out
