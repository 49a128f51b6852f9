"""`mailbot licenses`: writing the signed list where it cannot go is one sentence. (The
actions and the list itself: tests/services/test_licenses.py.)"""

from __future__ import annotations

from pathlib import Path

from tests.staff_env import Env, plain_failure


def test_signed_list_into_an_unwritable_place_is_one_sentence(env: Env, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    out = plain_failure(
        env.cli("licenses", "revoked", "--signed", "-o", str(blocker / "revoked.json"))
    )
    assert "cannot write" in out
