"""What customers wrote is data on every page: escaped, and control characters shown."""

from __future__ import annotations

from pathlib import Path

from tests.staff_env import request
from tests.web.console import make_console


def test_a_hostile_subject_is_shown_as_text(tmp_path: Path) -> None:
    console = make_console(tmp_path)
    subject = '<script src="/x.js"></script><a href="https://evil.example">win</a> \u202eRTL'
    console.env.send(request("mallory@stranger.example", "AMC-0000", subject=subject))
    console.login("sam")
    page = console.client.get("/queue").text
    assert '/x.js"></script>' not in page and '<a href="https://evil.example"' not in page
    assert "&lt;script src=&#34;/x.js&#34;&gt;" in page
    assert "\u202e" not in page and "\\u202eRTL" in page
