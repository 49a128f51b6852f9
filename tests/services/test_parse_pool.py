"""The parse process of a long pass: a mail parsed there reads exactly as one parsed in the
worker, a mail the process has not begun is taken back, and a dead process costs nothing but
speed (the rest of the pass parses in the worker, every mail still gets its outcome)."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

import pytest

from mailbot.core.model import Fetched
from mailbot.mail.parse.message import parse_message
from mailbot.services import parse_pool
from mailbot.services.parse_pool import ParsePool
from tests.staff_env import make_env, new_serial, order_row, request


def _fetched(n: int) -> list[Fetched]:
    mails = [
        request(f"user{i}@northwind.example", new_serial(), subject=f"licence {i} é")
        for i in range(n)
    ]
    return [Fetched(key=str(i), raw=raw, size=len(raw)) for i, raw in enumerate(mails)]


def _local(settings: object, raw: bytes) -> object:
    return parse_message(
        raw,
        product_code=settings.product.code,  # type: ignore[attr-defined]
        authserv_id=settings.security.authserv_id,  # type: ignore[attr-defined]
        max_serials=settings.policy.max_serials_per_mail,  # type: ignore[attr-defined]
    )


def test_a_mail_parsed_in_the_process_reads_as_one_parsed_here(tmp_path: Path) -> None:
    settings = make_env(tmp_path, []).app.settings
    mails = _fetched(5)
    with ParsePool(settings, after=0) as pool:
        started = [pool.start(m) for m in mails]
        assert all(s is not None for s in started)
        for m, s in zip(mails, started, strict=True):
            assert s is not None
            assert s.result(timeout=60) == _local(settings, m.raw or b"")
            assert pool.take(s) == _local(settings, m.raw or b"")


def test_the_first_mails_of_a_pass_are_parsed_in_the_worker(tmp_path: Path) -> None:
    settings = make_env(tmp_path, []).app.settings
    with ParsePool(settings, after=3) as pool:
        assert [pool.start(m) is None for m in _fetched(5)] == [True, True, True, False, False]


def test_a_mail_the_process_has_not_begun_is_taken_back(tmp_path: Path) -> None:
    settings = make_env(tmp_path, []).app.settings
    with ParsePool(settings, after=0) as pool:
        started = [pool.start(m) for m in _fetched(200)]
        last = started[-1]
        assert last is not None
        # Hundreds behind a process that is still starting: the last is not begun yet.
        assert pool.take(last) is None
        assert last.cancelled()


def test_a_dead_parse_process_leaves_the_worker_to_parse(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_env(tmp_path, []).app.settings
    with ParsePool(settings, after=0) as pool:
        first = pool.start(_fetched(1)[0])
        assert first is not None
        first.result(timeout=60)
        for pid in list(pool._executor._processes):  # type: ignore[union-attr]
            os.kill(pid, signal.SIGKILL)
        with caplog.at_level(logging.WARNING, logger="mailbot.worker"):
            waits = [pool.start(m) for m in _fetched(3)]
            assert [pool.take(w) for w in waits] == [None, None, None]
        assert "the parse process failed" in caplog.text
        assert pool.start(_fetched(1)[0]) is None  # and it is not tried again this pass


def test_a_pass_through_the_parse_process_decides_as_one_without(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same mails, once parsed in the worker and once almost all in the parse process:
    the same outcomes and replies."""

    def run(site: Path, after: int) -> list[tuple[str, str | None]]:
        monkeypatch.setattr(parse_pool, "POOL_AFTER", after)
        rows = [order_row(f"ORD-{i}", f"user{i}@northwind.example", 2) for i in range(20)]
        env = make_env(site, rows)
        for i in range(30):  # 20 known customers, 10 strangers
            env.deliver(request(f"user{i}@northwind.example", f"{i:04d}-SERIAL"))
            env.deliver(request(f"user{i % 20}@northwind.example", new_serial()))
        done = env.poll()
        assert len(done) == 60
        return sorted((p.outcome.value, p.reason.value if p.reason else None) for p in done)

    assert run(tmp_path / "a", 1000) == run(tmp_path / "b", 1)
