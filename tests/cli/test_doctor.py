"""Doctor must fail wherever `run --once` would fail: `test_doctor_fails_wherever_run_fails`
breaks one thing at a time and runs both commands on the same config, in this process
(tests/apps.run_command); the checks themselves are tests/services/test_doctor.py.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.apps import DEMO, run_command, write_config

# -- doctor fails wherever `run --once` fails ---------------------------------------------------


def _broken_template(base: Path) -> dict[str, Any]:
    (base / "tpl").mkdir()
    (base / "tpl" / "issued.txt").write_text("Subject: x\n{{ no_such_variable }}\n")
    return {"templates": {"path": "tpl"}}


def _unparsable_template(base: Path) -> dict[str, Any]:
    (base / "tpl").mkdir()
    (base / "tpl" / "clarify.html").write_text("<p>{% if %}</p>\n")
    return {"templates": {"path": "tpl"}}


def _missing_include(base: Path) -> dict[str, Any]:
    (base / "tpl").mkdir()
    (base / "tpl" / "resent.txt").write_text('Subject: x\n{% include "_gone.txt" %}\n')
    return {"templates": {"path": "tpl"}}


def _missing_orders(base: Path) -> dict[str, Any]:
    return {"orders": {"kind": "csv", "path": "orders.csv"}, "_delete": "orders.csv"}


def _orders_without_columns(base: Path) -> dict[str, Any]:
    (base / "bad-orders.csv").write_text("id,mail\n1,a@b.example\n")
    return {"orders": {"kind": "csv", "path": "bad-orders.csv"}}


def _key_not_a_key(base: Path) -> dict[str, Any]:
    return {"_key": b"-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n"}


def _key_readable_by_others(base: Path) -> dict[str, Any]:
    return {"_chmod_key": 0o644}


def _no_key(base: Path) -> dict[str, Any]:
    return {"_no_key": True}


def _bad_value(base: Path) -> dict[str, Any]:
    return {"policy": {"max_replies_per_hour": "ten"}}


def _store_not_a_database(base: Path) -> dict[str, Any]:
    (base / "mailbot.db").write_bytes(b"this is not an SQLite database" * 100)
    return {}


def _missing_maildir(base: Path) -> dict[str, Any]:
    return {"mailbox": {"kind": "maildir", "path": "mail/typo"}, "_delete": "mail"}


FAULTS: dict[str, tuple[Callable[[Path], dict[str, Any]], str]] = {
    "maildir that does not exist": (_missing_maildir, "mail/typo"),
    "template that does not render": (_broken_template, "issued.txt"),
    "template that does not parse": (_unparsable_template, "clarify.html"),
    "template including a missing file": (_missing_include, "_gone.txt"),
    "missing orders file": (_missing_orders, "orders.csv"),
    "orders file without its columns": (_orders_without_columns, "bad-orders.csv"),
    "key file that is no key": (_key_not_a_key, "signing.pem"),
    "key readable by others": (_key_readable_by_others, "chmod 600"),
    "no key": (_no_key, "mailbot keys init"),
    "bad config value": (_bad_value, "max_replies_per_hour"),
    "store that is no database": (_store_not_a_database, "mailbot.db"),
}


@pytest.mark.parametrize("fault", list(FAULTS), ids=list(FAULTS))
def test_doctor_fails_wherever_run_fails(fault: str, tmp_path: Path) -> None:
    make, named = FAULTS[fault]
    base = tmp_path / "site"
    base.mkdir()
    (base / "maildir" / "new").mkdir(parents=True, exist_ok=True)
    for name in ("cur", "tmp"):
        (base / "maildir" / name).mkdir()
    waiting = sorted(p for p in (DEMO / "maildir" / "new").iterdir() if p.is_file())[:3]
    for src in waiting:
        shutil.copy(src, base / "maildir" / "new" / src.name)
    extra = make(base)
    special = {k: extra.pop(k) for k in list(extra) if k.startswith("_")}
    if not special.get("_no_key"):  # the key is made while the config is still sound
        assert run_command(write_config(base), "keys", "init").returncode == 0
    config = write_config(base, **extra)
    if "_key" in special:
        (base / "keys" / "signing.pem").write_bytes(special["_key"])
    if "_chmod_key" in special:
        (base / "keys" / "signing.pem").chmod(special["_chmod_key"])
    if "_delete" in special:
        gone = base / special["_delete"]
        shutil.rmtree(gone) if gone.is_dir() else gone.unlink()
    before = sorted(p.name for p in (base / "maildir" / "new").iterdir())

    doctor = run_command(config, "doctor")
    assert doctor.returncode == 1, doctor.stdout + doctor.stderr
    failing = [line for line in doctor.stdout.splitlines() if line.startswith("FAIL")]
    assert failing and any(named in line for line in failing), doctor.stdout
    assert "Traceback" not in doctor.stdout + doctor.stderr

    as_json = run_command(config, "doctor", "--json")
    assert as_json.returncode == 1
    assert any(not c["ok"] and named in c["detail"] for c in json.loads(as_json.stdout))

    run = run_command(config, "run", "--once")
    assert run.returncode == 2, run.stdout + run.stderr
    assert named in run.stderr and "Traceback" not in run.stdout + run.stderr
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr  # one sentence
    # The mail waits: nothing left new/, nothing was decided.
    assert sorted(p.name for p in (base / "maildir" / "new").iterdir()) == before
    assert not list((base / "maildir" / "cur").iterdir())
    assert not (base / "outbox").exists() or not list((base / "outbox").iterdir())
