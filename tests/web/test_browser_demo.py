"""The issue's "done when": from the demo data, `mailbot web` plus one `mailbot staff add`
lets a person resolve every demo escalation in the browser. Runs the real commands (the demo's
config and mailbox copied to a temp folder), then clicks through each escalation."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.web.browser import free_port, log_in

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "demo password 1"


def _mailbot(site: Path, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "mailbot", "--config", str(site / "config.example.toml"), *args],
        cwd=site,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    site = tmp_path / "demo"
    (site / "data/run").mkdir(parents=True)
    shutil.copy(ROOT / "config.example.toml", site)
    shutil.copytree(ROOT / "data/demo", site / "data/demo")
    shutil.copytree(ROOT / "data/demo/maildir", site / "data/run/maildir")
    _mailbot(site, "keys", "init")
    _mailbot(site, "run", "--once")
    _mailbot(site, "staff", "add", "ana", "--role", "support", stdin=PASSWORD + "\n")
    port = free_port()
    web = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mailbot",
            "--config",
            "config.example.toml",
            "web",
            "--port",
            str(port),
        ],
        cwd=site,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if requests.get(f"{base}/healthz", timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            assert web.poll() is None and time.monotonic() < deadline, "mailbot web did not start"
            time.sleep(0.1)
        yield site, base
    finally:
        web.terminate()
        web.wait(10)


def _reply(page: Any, text: str, template: str = "") -> None:
    form = page.locator("form[action$='/reply']")
    if template:
        form.locator("select[name=template]").select_option(template)
    else:
        form.locator("textarea[name=text]").fill(text)
    form.locator("button").click()
    assert "preview" in page.locator("h1").inner_text()
    page.click("form.confirm button")


def test_every_demo_escalation_is_resolved_in_the_browser(
    demo: tuple[Path, str], page: Any
) -> None:
    site, base = demo
    log_in(page, base, "ana", PASSWORD)
    rows = page.locator("table.queue tbody tr")
    assert rows.count() == 3
    for _ in range(3):
        page.goto(f"{base}/queue")
        page.locator("table.queue tbody tr a").first.click()
        reason = page.locator("h1 .mono").inner_text()
        if reason == "refunded_order":
            form = page.locator("form[action$='/reject']")
            form.locator("input[name=reason]").fill("order refunded; no license due")
            page.once("dialog", lambda d: d.accept())
            form.locator("button").click()
        else:
            _reply(
                page, "Thanks for asking: yes, that works. A colleague from sales writes to you."
            )
        page.wait_for_url(re.compile(r".*/escalations/\d+$"))
        assert page.locator(".flash").count() == 1, page.content()
    page.goto(f"{base}/queue")
    assert "Nothing here" in page.content()
    listed = _mailbot(site, "queue", "list", "--all", "--json")
    assert listed.count('"state": "open"') == 0 and listed.count('"state": "resolved"') == 2
    assert listed.count('"state": "rejected"') == 1
