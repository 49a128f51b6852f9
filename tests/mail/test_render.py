"""Reply templates: every outcome in text and HTML, and a folder of overrides."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from mailbot.mail import render
from mailbot.mail.render import Renderer

CONTEXT = {
    "product": {"name": "Amphis Customer", "code": "AMC"},
    "customer_name": "Zoë <Müller>",
    "results": [
        {
            "serial": "AMC-X",
            "as_found": "amc-x",
            "action": "issue",
            "reason": None,
            "reason_text": "",
            "old_serial": None,
            "license_string": "AMC1-ABC",
            "pay_url": "",
        }
    ],
    "licensed": True,
    "outcome": "issued",
    "original_subject": "hi",
    "support_name": "Amphis Support",
    "support_address": "support@amphis.example",
}


def test_every_outcome_has_text_and_html() -> None:
    r = Renderer()
    for name in ("issued", "resent", "transferred", "awaiting_payment", "clarify", "escalated"):
        subject, text, html = r.render(name, CONTEXT)
        assert subject and "Amphis Customer" in subject
        assert "AMC1-ABC" in text and html is not None and "AMC1-ABC" in html
        assert "<Müller>" in text and "&lt;Müller&gt;" in html  # HTML is autoescaped


def test_a_templates_folder_overrides_one_file(tmp_path: Path) -> None:
    (tmp_path / "issued.txt").write_text(
        "Subject: Here you go\nLicense: {{ results[0].license_string }}\n"
    )
    r = Renderer(tmp_path)
    subject, text, _ = r.render("issued", CONTEXT)
    assert subject == "Here you go" and text.strip() == "License: AMC1-ABC"
    assert "Hello" in r.render("clarify", CONTEXT)[1]  # the others still come from templates/


def test_an_edited_template_or_include_is_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Templates are not looked at on every render (that cost a file stat per template per
    mail), but a vendor editing one while the service runs sees it within RELOAD_SECONDS."""
    (tmp_path / "issued.txt").write_text("Subject: One\n{% include '_part.txt' %}\n")
    (tmp_path / "_part.txt").write_text("first part\n")
    r = Renderer(tmp_path)
    assert r.render("issued", CONTEXT)[:2] == ("One", "first part\n")
    (tmp_path / "_part.txt").write_text("second part\n")
    os.utime(tmp_path / "_part.txt", (time.time() + 5, time.time() + 5))  # a newer mtime
    assert r.render("issued", CONTEXT)[1] == "first part\n"  # not looked at yet
    monkeypatch.setattr(render, "RELOAD_SECONDS", 0.0)
    assert r.render("issued", CONTEXT)[1] == "second part\n"
    (tmp_path / "issued.txt").write_text("Subject: Two\nplain\n")
    os.utime(tmp_path / "issued.txt", (time.time() + 10, time.time() + 10))
    assert r.render("issued", CONTEXT)[:2] == ("Two", "plain\n")
