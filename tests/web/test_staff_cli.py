"""`mailbot staff`: accounts made from the command line, passwords from standard input."""

from __future__ import annotations

from pathlib import Path

from mailbot.services import staff_accounts
from tests.staff_env import make_env, plain_failure


def test_add_list_password_remove(tmp_path: Path) -> None:
    env = make_env(tmp_path, [])
    added = env.cli(
        "staff",
        "add",
        "ana",
        "--role",
        "support",
        "--email",
        "ana@amphis.example",
        input="a long enough password\n",
    )
    assert added.exit_code == 0, added.output
    assert env.cli_json("staff", "list") == [
        {
            "name": "ana",
            "email": "ana@amphis.example",
            "role": "support",
            "created_at": env.cli_json("staff", "list")[0]["created_at"],
        }
    ]
    assert "a long enough password" not in env.cli("staff", "list").output
    store = env.store
    assert staff_accounts.authenticate(store, "ana", "a long enough password", env.clock.now())
    assert env.cli("staff", "password", "ana", input="the next password\n").exit_code == 0
    assert staff_accounts.authenticate(store, "ana", "the next password", env.clock.now())
    assert not staff_accounts.authenticate(store, "ana", "a long enough password", env.clock.now())
    assert env.cli("staff", "remove", "ana").exit_code == 0
    assert env.cli_json("staff", "list") == []


def test_refusals_are_one_sentence(tmp_path: Path) -> None:
    env = make_env(tmp_path, [])
    short = env.cli("staff", "add", "ana", "--role", "admin", input="short\n")
    assert short.exit_code == 2 and "at least 10 characters" in plain_failure(short)
    bad_name = env.cli("staff", "add", "Ana Smith", "--role", "admin", input="long password 1\n")
    assert bad_name.exit_code == 2 and "not a usable name" in plain_failure(bad_name)
    assert (
        env.cli("staff", "add", "ana", "--role", "admin", input="long password 1\n").exit_code == 0
    )
    again = env.cli("staff", "add", "ana", "--role", "finance", input="long password 2\n")
    assert again.exit_code == 2 and "exists already" in plain_failure(again)
    empty = env.cli("staff", "password", "ana", input="")
    assert empty.exit_code == 2 and "no password on standard input" in plain_failure(empty)
    missing = env.cli("staff", "remove", "bob")
    assert missing.exit_code == 2 and "no account 'bob'" in plain_failure(missing)
