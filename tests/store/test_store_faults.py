"""The database when things go wrong: it is created private, an empty or foreign file is refused
rather than written over, and a full disk, a damaged file or a lock stop the run with one
sentence (exit 2) while the mail waits."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import sqlite3
import stat
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from mailbot.cli import cli
from mailbot.core.errors import SetupError
from mailbot.services.worker import Worker
from mailbot.store import Store, engine
from tests.apps import DEMO, make_app, write_config


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def site(tmp_path: Path, mails: int = 3) -> Path:
    config = write_config(tmp_path)
    for src in sorted((DEMO / "maildir" / "new").glob("1*"))[:mails]:
        shutil.copy(src, tmp_path / "maildir" / "new" / src.name)
    assert CliRunner().invoke(cli, ["--config", str(config), "keys", "init"]).exit_code == 0
    return config


def waiting(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "maildir" / "new").iterdir())


def run_once(config: Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--config", str(config), "run", "--once"])
    return result.exit_code, result.output


def test_a_new_database_and_its_wal_are_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        config = site(tmp_path)
        assert run_once(config)[0] == 0
    finally:
        os.umask(old)
    db = tmp_path / "mailbot.db"
    assert mode(db) == 0o600
    for suffix in ("-wal", "-shm"):
        extra = db.with_name(db.name + suffix)
        if extra.exists():
            assert mode(extra) & 0o077 == 0, suffix
    replies = list((tmp_path / "outbox").glob("*.eml"))
    assert replies and all(mode(p) == 0o600 for p in replies)
    assert mode(tmp_path / "outbox") & 0o077 == 0


def test_an_older_database_readable_by_others_is_made_private(tmp_path: Path) -> None:
    Store.open(tmp_path / "db.sqlite").close()
    (tmp_path / "db.sqlite").chmod(0o644)
    Store.open(tmp_path / "db.sqlite").close()
    assert mode(tmp_path / "db.sqlite") == 0o600


@pytest.mark.parametrize(
    ("content", "said"),
    [(b"", "is empty (0 bytes)"), (b"PK\x03\x04 a zip file, not a database" * 50, "not a")],
    ids=["empty file", "foreign file"],
)
def test_an_empty_or_foreign_file_is_refused_not_written_over(
    tmp_path: Path, content: bytes, said: str
) -> None:
    config = site(tmp_path)
    (tmp_path / "mailbot.db").write_bytes(content)
    before = waiting(tmp_path)
    code, output = run_once(config)
    assert code == 2 and "Traceback" not in output
    assert "mailbot.db" in output and said in output
    assert (tmp_path / "mailbot.db").read_bytes() == content  # history never overwritten
    assert waiting(tmp_path) == before


def test_another_programs_database_is_refused(tmp_path: Path) -> None:
    config = site(tmp_path)
    conn = sqlite3.connect(tmp_path / "mailbot.db")
    conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total INTEGER)")
    conn.commit()
    conn.close()
    code, output = run_once(config)
    assert code == 2 and "another program" in output


def test_a_damaged_database_stops_the_run_and_db_check_says_so(tmp_path: Path) -> None:
    config = site(tmp_path)
    assert run_once(config)[0] == 0
    for src in sorted((DEMO / "maildir" / "new").glob("1*"))[3:6]:
        shutil.copy(src, tmp_path / "maildir" / "new" / src.name)
    db = tmp_path / "mailbot.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = bytearray(db.read_bytes())
    page = 4096
    for offset in range(page, len(data) - page, page):  # every page but the header's
        data[offset : offset + 200] = os.urandom(200)
    db.write_bytes(bytes(data))
    before = waiting(tmp_path)
    code, output = run_once(config)
    assert code == 2 and "Traceback" not in output, output
    assert "mailbot.db" in output and "the mail waits" in output
    assert waiting(tmp_path) == before
    check = CliRunner().invoke(cli, ["--config", str(config), "db", "check"])
    assert check.exit_code in (1, 2) and "Traceback" not in check.output


def test_a_full_disk_stops_the_run_with_a_sentence_and_the_mail_waits(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    shutil.copytree(DEMO / "maildir" / "new", tmp_path / "maildir" / "new", dirs_exist_ok=True)
    # SQLite's own page limit gives the real "database or disk is full" error a full disk does.
    pages = app.store.conn.execute("PRAGMA page_count").fetchone()[0]
    app.store.conn.execute(f"PRAGMA max_page_count = {pages + 1}")
    before = waiting(tmp_path)
    with pytest.raises(SetupError, match="is full: free some space"):
        Worker(app).poll_once()
    # Only mail whose outcome was committed before the disk filled up may have been moved
    # (depending on timing, the first group can be one small mail that still fits).
    committed = {m.mailbox_key.removeprefix("maildir:") for m in app.store.messages()}
    moved = set(before) - set(waiting(tmp_path))
    assert moved <= committed
    assert len(moved) < len(before) - 1  # the run stopped: the mail waits
    app.close()


def test_a_locked_store_is_one_sentence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = site(tmp_path)
    assert run_once(config)[0] == 0
    monkeypatch.setattr(engine, "LOCK_RETRY_SECONDS", 0.5)
    holder = sqlite3.connect(tmp_path / "mailbot.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        for src in sorted((DEMO / "maildir" / "new").glob("1*"))[3:5]:
            shutil.copy(src, tmp_path / "maildir" / "new" / src.name)
        before = waiting(tmp_path)
        code, output = run_once(config)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert code == 2 and "locked" in output and "Traceback" not in output, output
    assert waiting(tmp_path) == before


def test_a_store_folder_that_cannot_be_made_is_one_sentence(tmp_path: Path) -> None:
    config = site(tmp_path)
    (tmp_path / "state").write_text("a file where the folder should be")
    config.write_text(
        config.read_text().replace('path = "mailbot.db"', 'path = "state/mailbot.db"')
    )
    code, output = run_once(config)
    assert code == 2 and "cannot create the folder" in output and "Traceback" not in output


def _open(job: tuple[str, float]) -> str:
    path, start = job
    while time.time() < start:  # all processes open the new file at the same moment
        pass
    try:
        Store.open(path).close()
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        return f"{type(exc).__name__}: {exc}"
    return "ok"


def test_many_processes_creating_one_new_database_at_once(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")  # separate processes, no re-import
    with context.Pool(12) as pool:
        for attempt in range(6):
            path = str(tmp_path / f"new-{attempt}.db")
            results = pool.map(_open, [(path, time.time() + 0.3)] * 12, chunksize=1)
            assert results == ["ok"] * 12, results
        assert Store.open(path).schema_version() > 0


def test_with_a_staff_group_the_state_is_0640_of_that_group(tmp_path: Path) -> None:
    """`[store] group`: staff who run `mailbot queue ...` as themselves read the database and
    the reply files through that group; nobody else does."""
    import grp

    group = grp.getgrgid(os.getegid()).gr_name  # a group this user is surely in
    config = site(tmp_path)
    config.write_text(
        config.read_text() + f'\n[store]\npath = "mailbot.db"\ngroup = "{group}"\n'
        if "[store]" not in config.read_text()
        else config.read_text().replace("[store]\n", f'[store]\ngroup = "{group}"\n')
    )
    assert run_once(config)[0] == 0
    db = tmp_path / "mailbot.db"
    assert mode(db) == 0o640 and db.stat().st_gid == os.getegid()
    replies = list((tmp_path / "outbox").glob("*.eml"))
    assert replies and all(mode(p) == 0o640 for p in replies)
    nope = config.read_text().replace(f'group = "{group}"', 'group = "no-such-group-here"')
    config.write_text(nope)
    code, output = run_once(config)
    assert code == 2 and "no such group" in output
