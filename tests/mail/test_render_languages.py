"""Templates per language: German for every customer-facing outcome, overrides per language,
English where a language has no template, and text and HTML always from one language."""

from __future__ import annotations

from pathlib import Path

from mailbot.mail.render import Renderer
from tests.mail.test_render import CONTEXT

CUSTOMER_FACING = (
    "issued",
    "resent",
    "transferred",
    "awaiting_payment",
    "clarify",
    "escalated",
    "staff_reply",
)


def test_every_customer_facing_template_is_shipped_in_german() -> None:
    r = Renderer()
    assert r.languages() == {"en", "de"}
    for name in CUSTOMER_FACING:
        assert r.language_of(name, "de") == "de", name
        subject, text, html = r.render(name, {**CONTEXT, "text": "Eine Antwort."}, "de")
        assert "Mit freundlichen Grüßen" in text and html is not None
        assert "Mit freundlichen Grüßen" in html and 'lang="de"' in html
        assert "Kind regards" not in text + html
        assert "AMC1-ABC" in text and "AMC1-ABC" in html
        assert "<Müller>" in text and "&lt;Müller&gt;" in html  # HTML is still autoescaped
        if name != "staff_reply":
            assert subject.startswith("Ihre")


def test_staff_facing_templates_stay_english() -> None:
    r = Renderer()
    for name in ("staff_notification", "staff_digest"):
        assert r.language_of(name, "de") == "en"


def test_a_language_without_templates_gets_english() -> None:
    r = Renderer()
    assert r.language_of("issued", "fr") == "en"
    subject, text, _ = r.render("issued", CONTEXT, "fr")
    assert subject == "Your Amphis Customer license" and "Kind regards" in text


def test_an_override_per_language_wins_and_leaves_the_other_language_alone(tmp_path: Path) -> None:
    (tmp_path / "de").mkdir()
    (tmp_path / "de" / "issued.txt").write_text(
        "Subject: Bitte sehr\nLizenz: {{ results[0].license_string }}\n"
    )
    (tmp_path / "resent.txt").write_text("Subject: Once more\nLicense again\n")
    r = Renderer(tmp_path)
    subject, text, html = r.render("issued", CONTEXT, "de")
    assert subject == "Bitte sehr" and text.strip() == "Lizenz: AMC1-ABC"
    assert html is not None and "Hallo" in html  # the shipped German HTML, not the English one
    assert r.render("issued", CONTEXT)[0] == "Your Amphis Customer license"
    # An English-only override does not hide the shipped German template from German customers.
    assert r.render("resent", CONTEXT, "de")[0].startswith("Ihre Lizenz")
    assert r.render("resent", CONTEXT)[0] == "Once more"
    assert r.is_overridden("de/issued.txt") and not r.is_overridden("de/resent.txt")


def test_a_new_language_folder_in_the_overrides_is_a_language(tmp_path: Path) -> None:
    (tmp_path / "fr").mkdir()
    (tmp_path / "fr" / "issued.txt").write_text("Subject: Votre licence\nBonjour\n")
    (tmp_path / "notes").mkdir()  # not a language tag: not a language
    (tmp_path / "notes" / "todo.txt").write_text("x")
    r = Renderer(tmp_path)
    assert r.languages() == {"en", "de", "fr"}
    subject, text, html = r.render("issued", CONTEXT, "fr")
    assert (subject, text.strip(), html) == ("Votre licence", "Bonjour", None)
    assert r.render("clarify", CONTEXT, "fr")[0].startswith("Your")  # no French clarify
    assert "de/issued" not in r.names() and "issued" in r.names()
