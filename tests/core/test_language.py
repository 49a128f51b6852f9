"""The reply's language: tags read from orders and headers, the stopword detector on real mail,
and the order of the sources (order, Content-Language, text, English)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from mailbot.core.language import choose_language, detect_language, language_tag, language_tags
from mailbot.mail.parse import parse_message

DATA = Path(__file__).parents[1] / "data"
DEMO = Path(__file__).parents[2] / "data" / "demo" / "maildir"
BOTH = frozenset({"en", "de"})


def test_tags_are_normalised_to_their_primary_language() -> None:
    assert [language_tag(t) for t in ("de-DE", "de_AT", " DE ", "gsw-CH", "en")] == [
        "de",
        "de",
        "de",
        "gsw",
        "en",
    ]
    assert [language_tag(t) for t in ("", "*", "d", "deutsch", "1de", "de DE", "ü")] == [""] * 7
    assert language_tags("de-DE, en;q=0.5, de") == ("de",)  # "en;q=0.5" is no tag
    assert language_tags("fr-CA, de-CH") == ("fr", "de")


def test_a_hostile_content_language_is_looked_at_only_for_its_start() -> None:
    huge = "x-" * 1_000_000 + ", de"
    assert language_tags(huge) == ()
    assert language_tags(",".join(["zz"] * 10_000) + ",de") == ("zz",)
    assert choose_language(BOTH, content_language="../../de\r\nBcc: x@evil") == "en"
    assert choose_language(BOTH, content_language="\x00de\x1b[31m") == "en"


@given(st.text(max_size=300), st.text(max_size=300), st.text(max_size=2000))
def test_any_input_gives_a_language_there_are_templates_for(
    order: str, header: str, text: str
) -> None:
    assert choose_language(BOTH, order_language=order, content_language=header, text=text) in BOTH


def test_the_order_comes_first_then_the_header_then_the_text_then_english() -> None:
    german = (
        "Sehr geehrte Damen und Herren, ich habe eine Lizenz gekauft und bitte um den Schlüssel."
    )
    english = "Hello, I have bought a license and would like to get the key for my new PC please."
    assert choose_language(BOTH, order_language="de", content_language="en", text=english) == "de"
    assert choose_language(BOTH, order_language="en", content_language="de", text=german) == "en"
    assert choose_language(BOTH, content_language="de-AT", text=english) == "de"
    assert choose_language(BOTH, text=german) == "de"
    assert choose_language(BOTH, text=english) == "en"
    assert choose_language(BOTH) == "en"


def test_a_language_without_templates_is_passed_over() -> None:
    french = "Bonjour, j'ai acheté une licence, pouvez-vous m'envoyer la clé ? Merci"
    assert choose_language(BOTH, order_language="fr", content_language="fr-FR", text=french) == "en"
    # The next source that names a language there are templates for wins.
    assert choose_language(BOTH, order_language="fr", content_language="de") == "de"
    assert choose_language({"en"}, order_language="de") == "en"


def test_the_german_quoted_printable_mail_is_german_by_header_and_by_text() -> None:
    inbound = parse_message((DATA / "mail" / "german-qp.eml").read_bytes())
    assert inbound.content_language == "de-DE"
    assert detect_language(inbound.text) == "de"
    assert choose_language(BOTH, text=inbound.text) == "de"


# The real mails in tests/data and the demo that are German; the French one is neither.
GERMAN = {"german-qp.eml", "unknown-charset.eml", "1764400003.M3P1.demo.amphis"}


def test_real_mails_are_judged_right_and_english_is_never_taken_for_german() -> None:
    files = sorted((DATA / "mail").glob("*.eml")) + sorted(DEMO.glob("*/*.demo.amphis"))
    judged = {}
    for path in files:
        inbound = parse_message(path.read_bytes())
        judged[path.name] = detect_language(f"{inbound.text}\n{inbound.quoted_text}")
    assert {name for name, language in judged.items() if language == "de"} == GERMAN
    assert judged["latin1-labelled-utf8.eml"] == ""  # French: no reply in German
    english = [language for name, language in judged.items() if name not in GERMAN]
    assert english.count("en") >= len(english) - 3, judged


def test_too_little_or_mixed_text_is_not_judged() -> None:
    assert detect_language("AMC-A1B2-C3D4-E5F6-G7HA") == ""
    assert detect_language("Danke!") == ""
    assert detect_language("Hallo, thanks und the license bitte for mein PC") == ""
