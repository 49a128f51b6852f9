"""What every command shares (mailbot/cli/root.py): a number no row can have is one sentence."""

from __future__ import annotations

import pytest

from tests.staff_env import Env, plain_failure


@pytest.mark.parametrize(
    "args",
    [
        ("queue", "show", "99999999999999999999999"),
        ("queue", "claim", "99999999999999999999999"),
        ("queue", "issue", "99999999999999999999999", "--grant", "x"),
        ("licenses", "show", "99999999999999999999999"),
        ("licenses", "revoke", "99999999999999999999999", "--reason", "x"),
        ("queue", "list", "--older-than", "9999999999999w"),
        ("serial", "new", "--count", "100000000"),  # refused at once, never run until killed
        ("licenses", "show", ""),
        ("orders", "add", "--email", "a@b.example", "--seats", "99999999999"),
    ],
)
def test_out_of_range_numbers_are_one_sentence(env: Env, args: tuple[str, ...]) -> None:
    plain_failure(env.cli(*args))
