"""The full-text index of the queue (SQLite FTS5, table `escalation_search`, migration 8).

One document per escalation, written by the store in the same transaction as the escalation
(`index_escalation`, called by `escalations.py` whenever it writes one), so a search never
misses an escalation that exists nor finds one that was rolled back. `match_expression` turns
what a person typed into FTS5 syntax that cannot fail: every word becomes a quoted prefix
phrase, so quotes, brackets, `AND`, `NEAR(`, `*` or `-` in a search box are only words.
"""

from __future__ import annotations

from mailbot.store.engine import Engine
from mailbot.store.schema import SEARCH_DOCUMENT

MAX_TERMS = 12  # a pasted paragraph is not a search; the first words narrow it enough
MAX_TERM_CHARS = 80


def match_expression(text: str) -> str:
    """FTS5 query for the words of `text`, all of which must match (each as a word prefix);
    "" when it holds no word at all (only punctuation), which matches nothing."""
    terms = []
    for word in text.split()[:MAX_TERMS]:
        word = "".join(c for c in word[:MAX_TERM_CHARS] if c.isprintable())
        if not any(c.isalnum() for c in word):
            continue  # "-" or "<>" alone: no token, and an empty phrase is an FTS5 error
        terms.append('"' + word.replace('"', '""') + '"*')
    return " ".join(terms)


def index_escalation(engine: Engine, escalation_id: int) -> None:
    """(Re)write the search document of one escalation from its row and its mail's row."""
    engine._exec("DELETE FROM escalation_search WHERE rowid = ?", [escalation_id])
    engine._exec(
        "INSERT INTO escalation_search (rowid, sender, name, subject, serials, orders, body) "
        f"{SEARCH_DOCUMENT} WHERE e.id = ?",
        [escalation_id],
    )


def reindex_escalations_of_message(engine: Engine, message_row: int) -> None:
    """A mail's row changed: the documents of its escalations follow."""
    for row in engine._rows("SELECT id FROM escalations WHERE message_row = ?", [message_row]):
        index_escalation(engine, int(row[0]))
