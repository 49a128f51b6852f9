"""Reply templates: every outcome in text and HTML, and a folder of overrides."""

from __future__ import annotations

from pathlib import Path

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
