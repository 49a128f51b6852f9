"""What a mail's text mentions: the text as the serial finder reads it, and order references.

Serials themselves are found by `mailbot.serials`; this module prepares the text for it (word
processors' look-alike hyphens and invisible spaces undone) and finds the order references a
customer may quote (Stripe ids, receipt numbers, our own order numbers), which the pipeline uses
to match a mail to an order when the sender's address does not.
"""

from __future__ import annotations

import re
import unicodedata

MAX_ORDER_REFS = 20

# Crockford symbols and serial separators people or word processors put in: the look-alikes
# (fullwidth letters, non-breaking hyphens, zero-width spaces) become what the finder expects.
_SEARCH_FIX = str.maketrans(
    {
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
        "\u00ad": None,
        "\u200b": None,
        "\u200c": None,
        "\u200d": None,
        "\u2060": None,
        "\ufeff": None,
    }
)

_ORDER_PATTERNS = (
    re.compile(r"(?<![A-Za-z0-9_])(cs_(?:live|test)_[A-Za-z0-9]{8,})"),
    re.compile(r"(?<![A-Za-z0-9_])((?:pi|ch|py)_[A-Za-z0-9]{8,})"),
)
# Bounded gaps: runs of "\s*" around optional words backtrack polynomially on long whitespace.
_RECEIPT = re.compile(
    r"(?:receipt|quittung|beleg|re[çc]u)[ \t]{0,3}(?:number|no\.?|nr\.?|n°|#)?[ \t]{0,3}[:#]?"
    r"[ \t]{0,3}#?[ \t]{0,3}(\d{4}-\d{4})"
    r"|#\s?(\d{4}-\d{4})(?!\d)",
    re.IGNORECASE,
)
_OUR_ORDER = re.compile(r"(?<![A-Za-z0-9])(ORD-[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*)", re.IGNORECASE)


def searchable(text: str) -> str:
    """Text as the serial finder reads it (serials' `as_found` are substrings of this)."""
    return unicodedata.normalize("NFKC", text).translate(_SEARCH_FIX)


def find_order_refs(text: str) -> tuple[str, ...]:
    """Order references a customer may quote: Stripe ids, receipt numbers, our ORD- numbers.

    Stripe ids keep their case (they are case-sensitive); receipt numbers come back without the
    "#" as Stripe stores them ("1234-5678"); our order numbers are upper-cased.
    """
    found: dict[str, None] = {}
    # Cheap substring tests first: the regexes cost a quarter second on 2 MB of text.
    if "_" in text:
        for pattern in _ORDER_PATTERNS:
            for match in pattern.finditer(text):
                found.setdefault(match.group(1))
    if re.search(r"\d{4}-\d{4}", text):
        for match in _RECEIPT.finditer(text):
            found.setdefault(match.group(1) or match.group(2))
    if "ord-" in text.lower():
        for match in _OUR_ORDER.finditer(text):
            found.setdefault(match.group(1).upper())
    return tuple(found)[:MAX_ORDER_REFS]
