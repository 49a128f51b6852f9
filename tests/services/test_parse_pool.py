"""The parse process of a long pass: a mail parsed there reads exactly as one parsed in the
worker, a mail the process has not begun is taken back (and skipped there), and a dead
process costs nothing but speed (the rest of the pass parses in the worker, every mail still
gets its outcome)."""

from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path

import pytest

from mailbot.config import Settings
from mailbot.core.model import Fetched, Inbound
from mailbot.mail.parse.message import parse_message
from mailbot.services import parse_pool, worker
from mailbot.services.parse_pool import ParsePool, Waiting
from tests.staff_env import make_env, new_serial, request


def _fetched(n: int, first: int = 0) -> list[Fetched]:
    mails = [
        request(f"user{i}@northwind.example", new_serial(), subject=f"licence {i} é")
        for i in range(first, first + n)
    ]
    return [Fetched(key=str(i), raw=raw, size=len(raw)) for i, raw in enumerate(mails)]


def _local(settings: Settings, raw: bytes | None) -> Inbound:
    return parse_message(
        raw or b"",
        product_code=settings.product.code,
        authserv_id=settings.security.authserv_id,
        max_serials=settings.policy.max_serials_per_mail,
    )


def _settle(pool: ParsePool, ticket: int) -> Inbound:
    """Wait until the process has parsed `ticket` (it is slow to start), then take it."""
    deadline = time.monotonic() + 60
    while pool._current.value < ticket:
        assert time.monotonic() < deadline, "the parse process never began"
        time.sleep(0.01)
    taken = pool.take(ticket)
    assert taken is not None
    return taken


def test_a_mail_parsed_in_the_process_reads_as_one_parsed_here(tmp_path: Path) -> None:
    settings = make_env(tmp_path, []).app.settings
    mails = _fetched(5)
    with ParsePool(settings, after=0) as pool:
        tickets = [pool.start(m) for m in mails]
        assert tickets == [0, 1, 2, 3, 4]
        for mail, ticket in zip(mails, tickets, strict=True):
            assert ticket is not None
            assert _settle(pool, ticket) == _local(settings, mail.raw)


def test_the_first_mails_of_a_pass_are_parsed_in_the_worker(tmp_path: Path) -> None:
    settings = make_env(tmp_path, []).app.settings
    with ParsePool(settings, after=3) as pool:
        assert [pool.start(m) is None for m in _fetched(5)] == [True, True, True, False, False]


def test_a_mail_the_process_has_not_begun_is_taken_back_and_skipped_there(
    tmp_path: Path,
) -> None:
    settings = make_env(tmp_path, []).app.settings
    with ParsePool(settings, after=0) as pool:
        tickets = [pool.start(m) for m in _fetched(50)]
        # The process is still starting: every mail is taken back, and the process skips
        # them all rather than parse them for nobody.
        assert [pool.take(t) for t in tickets] == [None] * 50
        later = [pool.start(m) for m in _fetched(3, first=50)]
        assert later == [50, 51, 52]
        assert _settle(pool, 52) is not None
        assert pool._current.value == 52
        assert set(pool._ready) <= {50, 51}  # nothing of the first 50 was parsed there


def test_a_dead_parse_process_leaves_the_worker_to_parse(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_env(tmp_path, []).app.settings
    with ParsePool(settings, after=0) as pool:
        first = pool.start(_fetched(1)[0])
        assert first is not None
        _settle(pool, first)
        assert pool._process is not None and pool._process.pid is not None
        os.kill(pool._process.pid, signal.SIGKILL)
        pool._process.join()
        with caplog.at_level(logging.WARNING, logger="mailbot.worker"):
            for mail in _fetched(3):
                ticket = pool.start(mail)
                if ticket is not None:
                    with pool._lock:
                        pool._current.value = ticket  # as if it had begun before it died
                assert pool.take(ticket) is None
        assert "the parse process failed" in caplog.text
        assert pool.start(_fetched(1)[0]) is None  # and it is not tried again this pass


def test_a_pass_through_the_parse_process_decides_as_one_without(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same mails, once parsed in the worker and once all in the parse process (a pool
    that never takes a mail back): the same outcomes."""

    class Patient(ParsePool):
        taken = 0

        def claim(self, ticket: int | None) -> Inbound | Waiting | None:
            if ticket is None:
                return None
            deadline = time.monotonic() + 60
            while self._current.value < ticket:
                assert time.monotonic() < deadline, "the parse process never began"
                time.sleep(0.001)
            parsed = super().claim(ticket)
            if isinstance(parsed, Waiting):
                parsed = self.wait(ticket)
            Patient.taken += parsed is not None
            return parsed

    def run(site: Path, after: int) -> list[tuple[str, str | None]]:
        monkeypatch.setattr(parse_pool, "POOL_AFTER", after)
        monkeypatch.setattr(worker, "ParsePool", Patient)
        env = make_env(site, [])
        for i in range(60):
            env.deliver(request(f"user{i % 20}@northwind.example", new_serial()))
        done = env.poll()
        assert len(done) == 60
        return sorted((p.outcome.value, p.reason.value if p.reason else None) for p in done)

    assert run(tmp_path / "a", 1000) == run(tmp_path / "b", 0)
    assert Patient.taken == 60


def _slow_mail() -> Fetched:
    """4 MB of quoted text: a parse of several tenths of a second (its result must not
    be there yet when the worker asks the first time)."""
    text = "> quoted line with some words AMC-ABCD-1234\r\n" * 100_000
    raw = (
        "From: a@northwind.example\r\nTo: support@amphis.example\r\nSubject: long\r\n"
        "Message-ID: <slow@northwind.example>\r\n\r\n" + text
    ).encode()
    return Fetched(key="slow", raw=raw, size=len(raw))


def test_the_worker_goes_on_while_the_process_parses_a_mail(tmp_path: Path) -> None:
    settings = make_env(tmp_path, []).app.settings
    with ParsePool(settings, after=0) as pool:
        slow = _slow_mail()
        ticket = pool.start(slow)
        assert ticket == 0
        deadline = time.monotonic() + 60
        while pool._current.value < 0:
            assert time.monotonic() < deadline
            time.sleep(0.001)
        assert isinstance(pool.claim(0), Waiting)  # being parsed right now
        [next_mail] = _fetched(1)
        assert pool.start(next_mail) == 1
        assert pool.claim(1) is None  # the worker parses this one itself meanwhile
        assert pool.wait(0) == _local(settings, slow.raw)
        [third] = _fetched(1, first=7)
        assert pool.start(third) == 2
        assert _settle(pool, 2) == _local(settings, third.raw)
        assert 1 not in pool._ready  # mail 1 was skipped there, not parsed twice


_HOLDER = """
import sys, time
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from mailbot.config import load
from mailbot.services.parse_pool import ParsePool
from tests.services.test_parse_pool import _fetched

pool = ParsePool(load(Path(sys.argv[2])), after=0)
first, second = _fetched(2)
ticket = pool.start(first)
while pool._current.value < ticket:
    time.sleep(0.01)
pool._lock.acquire()  # killed while it holds the lock the parse process needs next
pool.start(second)
print(pool._process.pid, flush=True)
time.sleep(600)
"""


def test_the_parse_process_ends_when_its_worker_is_killed_holding_the_lock(
    tmp_path: Path,
) -> None:
    """A worker SIGKILLed inside `claim` never releases the shared lock: its parse process
    must notice the worker is gone and end, not wait for the lock forever."""
    import subprocess
    import sys

    from tests.apps import REPO

    env = make_env(tmp_path, [])
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(REPO), str(env.config)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        child = int(holder.stdout.readline())
        time.sleep(0.3)  # the parse process is now waiting for the lock
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
        deadline = time.monotonic() + 30
        while Path(f"/proc/{child}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        alive = Path(f"/proc/{child}").exists()
        if alive:
            os.kill(child, signal.SIGKILL)
        assert not alive, "the parse process outlived its worker"
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.communicate()
