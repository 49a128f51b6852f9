"""Which language a reply is written in: pure functions, no I/O.

The order comes first (the customer chose a language when buying: Stripe's `preferred_locales`
or Checkout `locale`, a CSV `language` column), then the mail's own `Content-Language`, then
the words of the mail, then English (README, "Languages"). Only a language the templates exist
in can be chosen; a source naming another one ("fr" without French templates) is passed over.

The detector is a stopword count, not a model: it only has to tell the languages mailbot ships
templates for (English and German) apart in a support mail, costs microseconds, loads nothing,
and says "" when the text does not clearly lean one way, so a short or mixed mail stays English.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

DEFAULT_LANGUAGE = "en"
# A tag's primary subtag (RFC 5646): 2-3 letters. "de-DE", "de_AT", "DE" all give "de".
_PRIMARY = re.compile(r"[a-z]{2,3}")
_MAX_TAG_CHARS = 200  # a Content-Language longer than this is not a list of languages
_MAX_TAGS = 8

# Words a German support mail is made of and an English one is not (and the other way round):
# function words, greetings, the words of this trade. Words both languages write alike ("in",
# "am", "an", "so", "was", "will") are in neither list, so one hit is evidence for one side.
_GERMAN = frozenset(
    """
    aber alle allem also anbei auch auf aus bei beim bereits bin bis bitte bitten dank
    danke dankeschön das dass dem den denn der des dich die dies diese diesem diesen dieser doch
    dort durch ein eine einem einen einer eines er erhalten es euch für geehrte geehrter
    gekauft gerne grüße grüßen gruß guten habe haben hallo hat hatte heute hier ich ihm ihn
    ihnen ihr ihre ihren ihrer im ist jetzt kann keine kollegen könnten leider lizenz
    lizenzen lizenzschlüssel mein meine meinem meinen meiner mfg mich mir mit möchte muss
    nach neue neuen neuer nicht noch nun nur oder rechner schon sehr seriennummer sich sie
    sind sollte sowie uns unser unsere unseren und viele vielen vom von vor wann warum weil
    welche wenn wer werden wie wieder wir wird wo wurde zu zum zur zwei über
    """.split()
)
_ENGLISH = frozenset(
    """
    a about after all and any are as at be because been but by can could dear did do does
    for from get got had has have hello hi how i if is it its just kind know license licence
    licenses me my need new not now of on or our please purchased regards serial should some
    thank thanks that the their them there these they this to we what when where which who
    why with would you your yours
    """.split()
)
# Digits and underscores in a token never match a stopword; \w is the regex engine's fast path.
_WORD = re.compile(r"\w+")
_SAMPLE_CHARS = 1500  # the start of the new text says enough; a long mail costs no more
_MIN_HITS = 4  # fewer stopwords than this is too little text to judge
_MARGIN = 2  # the winning language needs this many times the other's hits


def language_tag(value: str) -> str:
    """The primary language of one tag, lower-cased ("de-DE" -> "de"); "" when it is no tag."""
    head = value.strip().replace("_", "-").split("-", 1)[0].strip().lower()
    return head if _PRIMARY.fullmatch(head) else ""


def language_tags(value: str) -> tuple[str, ...]:
    """The languages of a header or field that may list several ("de-DE, en"; Stripe's
    `preferred_locales` joined by commas), in order, without repeats and without junk.
    Bounded: a hostile value of megabytes is looked at for its first few hundred characters."""
    tags = (language_tag(part) for part in value[:_MAX_TAG_CHARS].split(",")[:_MAX_TAGS])
    return tuple(dict.fromkeys(t for t in tags if t))


def detect_language(text: str) -> str:
    """ "de" or "en" when the text clearly is German or English, else ""."""
    german = english = 0
    for word in _WORD.findall(text[:_SAMPLE_CHARS].lower()):
        if word in _GERMAN:
            german += 1
        elif word in _ENGLISH:
            english += 1
    if german + english < _MIN_HITS:
        return ""
    if german >= _MARGIN * max(english, 1):
        return "de"
    if english >= _MARGIN * max(german, 1):
        return "en"
    return ""


def choose_language(
    available: Iterable[str],
    *,
    order_language: str = "",
    content_language: str = "",
    text: str = "",
) -> str:
    """The reply's language: the first of the order's, the mail's Content-Language, the
    detected one that templates exist in; else DEFAULT_LANGUAGE.

    The detector runs only when the first two give nothing usable: most mail is settled by
    its order, and reading the text is the costliest step here.
    """
    usable = frozenset(available) | {DEFAULT_LANGUAGE}
    for tag in (*language_tags(order_language), *language_tags(content_language)):
        if tag in usable:
            return tag
    detected = detect_language(text) if text else ""
    return detected if detected in usable else DEFAULT_LANGUAGE
