"""The fetch process of a long pass: what it fetches, parses and classifies reads exactly as
what the worker would have made of it itself, a pass through it decides every mail once and
as it would without it, a dead process costs nothing but speed, a fault of its mailbox is
the worker's to raise, and a process whose worker died does not outlive it."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import pytest

from mailbot.adapters.mailboxes.maildir import MaildirMailbox
from mailbot.core.classify import classify
from mailbot.core.model import Fetched
from mailbot.mail.parse.message import parse_message
from mailbot.services import mail_feed
from mailbot.services.fetch_process import FetchProcess, Read, parse_options
from mailbot.services.pass_results import Processed
from mailbot.services.ports import Mailbox
from tests.staff_env import Env, mail, make_env, new_serial, request


def _deliver(env: Env, n: int) -> None:
    for i in range(n):
        if i % 7 == 3:
            env.deliver(mail(f"user{i % 20}@northwind.example", "What does a second seat cost?"))
        else:
            env.deliver(request(f"user{i % 20}@northwind.example", new_serial()))


def _taken(process: FetchProcess) -> list[tuple[Fetched, Read | None]]:
    taken = []
    while (item := process.next()) is not None:
        taken.append(item)
    return taken


def test_what_the_process_fetches_and_parses_reads_as_here(tmp_path: Path) -> None:
    env = make_env(tmp_path, [])
    _deliver(env, 12)
    settings = env.app.settings
    here = list(env.mailbox.fetch_new(10_000_000))
    reader = env.mailbox.reader_elsewhere()
    with FetchProcess(reader, settings, 10_000_000, env.app.policy) as process:
        there = _taken(process)
        assert process.finished and not process.failed
    assert [f for f, _ in there] == here
    for fetched, read in there:
        assert fetched.raw is not None and read is not None
        inbound = parse_message(fetched.raw, **parse_options(settings))
        assert read.inbound == inbound
        assert read.cls == classify(inbound, env.app.policy)


def test_the_process_skips_the_mail_handed_over_before_it_began(tmp_path: Path) -> None:
    env = make_env(tmp_path, [])
    _deliver(env, 6)
    here = list(env.mailbox.fetch_new(10_000_000))
    skip = {here[0].key, here[2].key}
    reader = env.mailbox.reader_elsewhere()
    with FetchProcess(reader, env.app.settings, 10_000_000, env.app.policy, skip=skip) as process:
        there = [f.key for f, _ in _taken(process)]
    assert there == [f.key for f in here if f.key not in skip]


def test_a_mail_over_the_size_cap_comes_without_body_or_parse(tmp_path: Path) -> None:
    env = make_env(tmp_path, [])
    _deliver(env, 2)
    reader = env.mailbox.reader_elsewhere()
    with FetchProcess(reader, env.app.settings, 10, env.app.policy) as process:
        there = _taken(process)
    assert [(f.raw, read) for f, read in there] == [(None, None), (None, None)]


def _failing_mailbox(sentence: str) -> Mailbox:
    raise RuntimeError(sentence)


def test_a_fault_of_its_mailbox_is_raised_in_the_worker(tmp_path: Path) -> None:
    env = make_env(tmp_path, [])
    opener = partial(_failing_mailbox, "the mail server said no")
    with FetchProcess(opener, env.app.settings, 10_000_000, env.app.policy) as process:
        with pytest.raises(RuntimeError, match="the mail server said no"):
            process.next()
        assert process.finished and not process.failed


def _pass(env: Env) -> list[Processed]:
    done = env.poll()
    assert len({p.key for p in done}) == len(done)  # no mail handed over twice
    return done


def _outcomes(done: list[Processed]) -> list[tuple[str, str | None]]:
    return sorted((p.outcome.value, p.reason.value if p.reason else None) for p in done)


def test_a_pass_through_the_fetch_process_decides_as_one_without(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[FetchProcess] = []
    real = mail_feed.FetchProcess

    def counted(*args: object, **kwargs: object) -> FetchProcess:
        process = real(*args, **kwargs)  # type: ignore[arg-type]
        started.append(process)
        return process

    monkeypatch.setattr(mail_feed, "FetchProcess", counted)

    def run(site: Path, after: int) -> list[tuple[str, str | None]]:
        monkeypatch.setattr(mail_feed, "FETCH_PROCESS_AFTER", after)
        env = make_env(site, [])
        _deliver(env, 60)
        done = _pass(env)
        assert len(done) == 60
        assert not list(env.mailbox._waiting())  # every mail filed
        return _outcomes(done)

    alone = run(tmp_path / "a", 1000)
    assert started == []
    assert run(tmp_path / "b", 5) == alone
    assert len(started) == 1 and started[0].finished


def test_a_dead_fetch_process_leaves_the_rest_of_the_pass_to_the_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    class Dying(FetchProcess):
        handed = 0

        def next(self, block: bool = True) -> tuple[Fetched, Read | None] | None:
            item = super().next(block)
            Dying.handed += item is not None
            if Dying.handed == 4 and self.pid is not None:
                os.kill(self.pid, signal.SIGKILL)  # with mail of its still in the pipe
            return item

    monkeypatch.setattr(mail_feed, "FETCH_PROCESS_AFTER", 3)
    monkeypatch.setattr(mail_feed, "FetchProcess", Dying)
    env = make_env(tmp_path, [])
    _deliver(env, 50)
    with caplog.at_level(logging.WARNING, logger="mailbot.worker"):
        done = _pass(env)
    assert "the fetch process stopped" in caplog.text
    assert len(done) == 50 and not any(p.already_done for p in done)
    assert not list(env.mailbox._waiting())
    assert len(env.cli_json("messages", "list", "--limit", "1000")) == 50


_HOLDER = """
import sys, time
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from mailbot.config import load
from mailbot.services.fetch_process import FetchProcess
settings = load(Path(sys.argv[2]))
from mailbot.adapters.mailboxes.maildir import MaildirMailbox
reader = MaildirMailbox(Path(sys.argv[3])).reader_elsewhere()
process = FetchProcess(reader, settings, 10_000_000, settings.decision_policy())
process.next()
print(process.pid, flush=True)
time.sleep(600)
"""


def test_the_fetch_process_ends_when_its_worker_is_killed(tmp_path: Path) -> None:
    """A worker SIGKILLed mid-pass leaves its fetch process writing into a full pipe: that
    process must end, not wait there for ever."""
    from tests.apps import REPO

    env = make_env(tmp_path, [])
    _deliver(env, 300)  # far more than the worker's side holds: the process waits to send
    maildir = MaildirMailbox(env.app.settings.mailbox.path or tmp_path).path
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(REPO), str(env.config), str(maildir)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        child = int(holder.stdout.readline())
        time.sleep(0.5)  # it has filled the pipe by now
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
        deadline = time.monotonic() + 30
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        alive = _alive(child)
        if alive:
            os.kill(child, signal.SIGKILL)
        assert not alive, "the fetch process outlived its worker"
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.communicate()


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting for a parent to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"
