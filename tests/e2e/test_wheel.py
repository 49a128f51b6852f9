"""What users install: the wheel built from this checkout, in a fresh venv outside it.

The suite otherwise runs against the editable install; this test is the one that would have
caught an installed mailbot that cannot find its own templates. It builds the wheel (and fails on
any packaging warning), installs it with its dependencies into a new venv in a temp folder,
copies the demo config and data beside it, and runs the demo and `license verify` with the
installed `mailbot` command, from a working directory that is not the checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.apps import REPO
from tests.e2e.test_pipeline_maildir import DEMO_OUTCOMES, licenses_in

pytestmark = pytest.mark.slow


def _run(*args: str | Path, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["COLUMNS"] = "200"
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin/ folder of a fresh venv with the built wheel installed."""
    root = tmp_path_factory.mktemp("wheel")
    dist = root / "dist"
    built = _run(
        sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "-w", dist, REPO, cwd=root
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    log = built.stdout + built.stderr
    for warning in (
        "SetuptoolsDeprecationWarning",
        "BuildBackendWarning",
        "UserWarning",
        "warning: no files found",
    ):
        assert warning not in log, f"building the wheel warns: {warning}"
    wheel = next(dist.glob("mailbot-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    folder = REPO / "mailbot" / "templates"
    shipped = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert all(f"mailbot/templates/{n}" in names for n in shipped), "templates not in the wheel"
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    venv = root / "venv"
    assert _run(sys.executable, "-m", "venv", venv, cwd=root).returncode == 0
    pip = _run(venv / "bin" / "python", "-m", "pip", "install", "--quiet", wheel, cwd=root)
    assert pip.returncode == 0, pip.stdout[-3000:] + pip.stderr[-3000:]
    return venv / "bin"


def test_the_installed_wheel_runs_the_demo(installed: Path, tmp_path: Path) -> None:
    where = _run(
        installed / "python", "-c", "import mailbot, sys; print(mailbot.__file__)", cwd=tmp_path
    )
    assert where.returncode == 0 and str(REPO) not in where.stdout, where.stdout
    site = tmp_path / "site"
    shutil.copytree(REPO / "data" / "demo", site / "data" / "demo")
    shutil.copy(REPO / "config.example.toml", site / "mailbot.toml")
    shutil.copytree(site / "data" / "demo" / "maildir", site / "data" / "run" / "maildir")
    mailbot = installed / "mailbot"

    assert _run(mailbot, "keys", "init", cwd=site).returncode == 0
    run = _run(mailbot, "run", "--once", "--json", cwd=site)
    assert run.returncode == 0, run.stderr
    processed = json.loads(run.stdout)["processed"]
    assert [(p["sender"], p["outcome"], p["reason"]) for p in processed] == DEMO_OUTCOMES
    assert json.loads(run.stdout)["sent"] > 0

    licensed = licenses_in(site / "data" / "run" / "outbox")
    assert len(licensed) >= 8
    for _, serial, string in licensed:
        ok = _run(mailbot, "license", "verify", "--serial", serial, string, cwd=site)
        assert ok.returncode == 0 and ok.stdout.startswith("valid"), ok.stdout + ok.stderr
    queue = _run(mailbot, "queue", "list", cwd=site)
    assert queue.returncode == 0 and "tom@tailspin.example" in queue.stdout
    doctor = _run(mailbot, "doctor", cwd=site)
    assert doctor.returncode == 0 and "template issued: renders (shipped)" in doctor.stdout


def test_the_installed_wheel_fetches_a_long_backlog_in_a_process_of_its_own(
    installed: Path, tmp_path: Path
) -> None:
    """More mail than a pass fetches alone: the installed package spawns its fetch process
    (which imports the installed mailbot, not the checkout) and every mail is decided once."""
    site = tmp_path / "site"
    shutil.copytree(REPO / "data" / "demo", site / "data" / "demo")
    shutil.copy(REPO / "config.example.toml", site / "mailbot.toml")
    new = site / "data" / "run" / "maildir" / "new"
    for folder in ("new", "cur", "tmp"):
        (new.parent / folder).mkdir(parents=True)
    demo = sorted((REPO / "data" / "demo" / "maildir" / "new").glob("1*"))
    for copy in range(8):  # 120 mails, each copy with a Message-ID and a file name of its own
        for n, path in enumerate(demo):
            raw = path.read_bytes().replace(b"Message-ID: <", b"Message-ID: <%d." % copy, 1)
            (new / f"{1700000000 + copy * 100 + n}.M{copy}_{n}P1.wheel").write_bytes(raw)
    mailbot = installed / "mailbot"
    assert _run(mailbot, "keys", "init", cwd=site).returncode == 0
    run = _run(mailbot, "--log-level", "info", "run", "--once", "--json", cwd=site)
    assert run.returncode == 0, run.stderr[-3000:]
    processed = json.loads(run.stdout)["processed"]
    assert len(processed) == 120 and len({p["key"] for p in processed}) == 120
    assert "fetching in a process of its own" in run.stderr
    assert "the fetch process stopped" not in run.stderr
    assert list(new.iterdir()) == []


def test_the_installed_wheel_says_when_it_falls_back_to_the_demo_config(
    installed: Path, tmp_path: Path
) -> None:
    shutil.copy(REPO / "config.example.toml", tmp_path / "config.example.toml")
    shutil.copytree(REPO / "data" / "demo", tmp_path / "data" / "demo")
    out = _run(installed / "mailbot", "serial", "new", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "config.example.toml" in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_the_installed_wheel_serves_the_console(installed: Path, tmp_path: Path) -> None:
    """`mailbot web` from the wheel: its pages, templates and static files come from the
    installed package; an account made with `mailbot staff add` logs in and sees the queue."""
    import http.cookiejar
    import re
    import socket
    import time
    import urllib.parse
    import urllib.request

    site = tmp_path / "site"
    shutil.copytree(REPO / "data" / "demo", site / "data" / "demo")
    shutil.copy(REPO / "config.example.toml", site / "mailbot.toml")
    shutil.copytree(site / "data" / "demo" / "maildir", site / "data" / "run" / "maildir")
    mailbot = installed / "mailbot"
    assert _run(mailbot, "keys", "init", cwd=site).returncode == 0
    assert _run(mailbot, "run", "--once", cwd=site).returncode == 0
    added = subprocess.run(
        [str(mailbot), "staff", "add", "ana", "--role", "support"],
        cwd=site,
        input="a long enough password\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert added.returncode == 0, added.stderr
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [str(mailbot), "web", "--port", str(port)],
        cwd=site,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    jar = http.cookiejar.CookieJar()
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with browser.open(f"{base}/healthz", timeout=5) as answer:
                    assert json.load(answer)["status"] == "ok"
                break
            except OSError:
                assert server.poll() is None, server.communicate()[1]
                assert time.monotonic() < deadline, "mailbot web did not answer"
                time.sleep(0.2)
        with browser.open(f"{base}/static/console.css", timeout=5) as answer:
            assert b"mailbot console" in answer.read()
        with browser.open(f"{base}/login", timeout=5) as answer:
            form = answer.read().decode()
        token = re.search(r'name="login_token" value="([^"]+)"', form)
        assert token is not None
        login = urllib.parse.urlencode(
            {
                "name": "ana",
                "password": "a long enough password",
                "login_token": token.group(1),
                "next": "/queue",
            }
        ).encode()
        with browser.open(f"{base}/login", data=login, timeout=10) as answer:
            queue = answer.read().decode()
        assert answer.url.endswith("/queue") and "tom@tailspin.example" in queue
    finally:
        server.terminate()
        server.communicate(timeout=20)
