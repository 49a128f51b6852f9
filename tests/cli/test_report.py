"""`mailbot report`: output files and periods at the edges. (The figures:
tests/services/test_report.py.)"""

from __future__ import annotations

import json
from pathlib import Path

from tests.staff_env import Env, plain_failure


def test_report_into_a_missing_folder_is_one_sentence(env: Env, tmp_path: Path) -> None:
    for fmt in ("csv", "table"):
        out = plain_failure(
            env.cli(
                "report", "--format", fmt, "-o", str(tmp_path / "no" / "such" / "dir" / "r.csv")
            )
        )
        assert "cannot write" in out


def test_report_up_to_the_last_representable_day(env: Env) -> None:
    result = env.cli("report", "--from", "2026-11-01", "--to", "9999-12-31", "--format", "json")
    assert result.exit_code == 0, result.output
    assert [o["order_id"] for o in json.loads(result.output)["orders"]] == ["ORD-1"]
