"""The queue's full-text index: filled by migration 8, kept current in the escalation's own
transaction, and no search text is ever FTS5 syntax."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailbot.store.search import match_expression
from tests.staff_env import mail, make_env, new_serial, order_row, request
from tests.web.console import make_console


def _ids(env: object, text: str) -> list[int]:
    rows, _ = env.store.queue_page(view="open", actor="x", match=match_expression(text))  # type: ignore[attr-defined]
    return [r.id for r in rows]


def test_finds_by_sender_subject_serial_order_and_text(tmp_path: Path) -> None:
    env = make_env(tmp_path, [order_row("cs_77", "bo@example.com", 1)])
    serial = new_serial()
    env.send(request("anna@stranger.example", serial, subject="Lizenz für Büro", name="Anna Berg"))
    env.send(
        mail(
            "bo@example.com",
            "Can I pay by invoice? Order cs_77, the blue edition.",
            subject="invoice",
        )
    )
    assert _ids(env, "anna@stranger.example") == [1]
    assert _ids(env, "Berg") == [1]
    assert _ids(env, "buro") == [1]  # diacritics folded
    assert _ids(env, serial) == [1]
    assert _ids(env, serial.lower()[:9]) == [1]  # a prefix of the serial
    assert _ids(env, "blue edition") == [2]
    assert _ids(env, "cs_77") == [2]
    assert _ids(env, "nothing-like-this") == []


def test_kept_current_when_a_retry_rewrites_the_escalation(tmp_path: Path) -> None:
    env = make_env(tmp_path, [])
    serial = new_serial()
    env.send(request("cy@example.com", serial))
    assert _ids(env, "cs_new") == []
    env.write_orders([order_row("cs_new", "cy@example.com", 2, status="unpaid")])
    assert env.cli("queue", "retry", "1").exit_code == 0
    assert _ids(env, "cs_new") == [1]  # the order the bot now saw


def test_a_rolled_back_escalation_is_not_found(tmp_path: Path) -> None:
    from mailbot.store.rows import NewEscalation

    env = make_env(tmp_path, [])
    with pytest.raises(RuntimeError), env.store.transaction():
        env.store.add_escalation(
            NewEscalation("question", "x", "ghost@example.com"), "bot", env.clock.now()
        )
        raise RuntimeError
    assert _ids(env, "ghost") == []


def test_migration_8_indexes_what_earlier_versions_stored(tmp_path: Path) -> None:
    env = make_env(tmp_path, [])
    env.send(request("old@example.com", new_serial(), subject="from before the index"))
    path = env.store.path
    env.store.close()
    conn = sqlite3.connect(path)
    conn.executescript(
        "DROP TABLE escalation_search; DROP INDEX pending_payments_sender; "
        "DROP INDEX messages_processed; DROP TABLE events; DROP TABLE seat_releases; "
        "DROP INDEX licenses_seat; DROP INDEX escalations_sender; "
        "DROP INDEX escalations_not_notified; "
        "UPDATE meta SET value = '7' WHERE key = 'schema_version';"
    )
    conn.close()
    from mailbot.store import Store

    store = Store.open(path)
    rows, total = store.queue_page(view="open", actor="x", match=match_expression("before index"))
    assert total == 1 and rows[0].sender == "old@example.com"


@given(st.text(max_size=60))
def test_no_text_is_an_fts_error(text: str) -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(a, tokenize = 'unicode61 remove_diacritics 2')")
    conn.execute("INSERT INTO t VALUES ('AMC-M9S3 anna@example.com NEAR AND \"quoted\"')")
    expression = match_expression(text)
    if expression:
        conn.execute("SELECT rowid FROM t WHERE t MATCH ?", [expression]).fetchall()


def test_the_search_box_never_fails(tmp_path: Path) -> None:
    console = make_console(tmp_path)
    console.env.send(request("dee@example.com", new_serial()))
    console.login("sam")
    for text in ['"', "NEAR(", "a AND", "*", "-x", "dee OR", "^", "(", "col:dee", "\x00", "—"]:
        page = console.client.get("/queue", params={"q": text})
        assert page.status_code == 200, text
        assert "Traceback" not in page.text
    assert "#1" in console.client.get("/queue", params={"q": 'dee"'}).text
