"""The dashboard: figures per day from the store's aggregates, drawn as inline SVG, over the
ranges it offers; fast on a big store."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from mailbot.services.dashboard import DashboardError, build_dashboard
from mailbot.store import Store, iso
from tests.staff_env import T0
from tests.web.console import Console, make_console

DAY = timedelta(days=1)
TODAY = T0.replace(hour=0)  # T0 is 2026-11-29 09:00 UTC


def add_mails(store: Store, rows: list[tuple[object, str]]) -> None:
    """(processed_at, outcome) rows, straight into the table (only what the counts read)."""
    start = int(store.conn.execute("SELECT count(*) FROM messages").fetchone()[0])
    with store.transaction():  # one commit, not one per row
        store.conn.executemany(
            "INSERT INTO messages (mailbox_key, message_id, sender, processed_at, outcome, "
            "mailbox_done) VALUES (?, ?, 'a@b.example', ?, ?, 1)",
            [(f"k{start + i}", f"<m{start + i}@b>", iso(at), o) for i, (at, o) in enumerate(rows)],  # type: ignore[arg-type]
        )


def add_escalations(store: Store, rows: list[tuple[object, object | None, str]]) -> None:
    """(created_at, closed_at or None, state) rows."""
    with store.transaction():
        store.conn.executemany(
            "INSERT INTO escalations (reason, state, created_at, updated_at, sender) "
            "VALUES ('question', ?, ?, ?, 'a@b.example')",
            [(state, iso(made), iso(closed or made)) for made, closed, state in rows],  # type: ignore[arg-type]
        )


@pytest.fixture
def console(tmp_path: Path) -> Console:
    return make_console(tmp_path)


def test_the_figures_per_day(console: Console) -> None:
    store = console.env.store
    add_mails(
        store,
        [
            (TODAY + timedelta(hours=1), "issued"),
            (TODAY + timedelta(hours=2), "issued"),
            (TODAY - DAY, "ignored"),
            (TODAY - 13 * DAY, "clarify"),
            (TODAY - 14 * DAY, "issued"),  # a day before the range
        ],
    )
    add_escalations(
        store,
        [
            (TODAY - 20 * DAY, None, "open"),  # open since before the range
            (TODAY - 20 * DAY, TODAY - 10 * DAY, "resolved"),  # closed within it
            (TODAY - 3 * DAY, TODAY - 3 * DAY + timedelta(hours=2), "resolved"),
            (TODAY - 3 * DAY, TODAY - 3 * DAY + timedelta(hours=4), "rejected"),
            (TODAY - 3 * DAY, TODAY - 3 * DAY + timedelta(hours=9), "resolved"),
            (TODAY - DAY, None, "open"),
        ],
    )
    board = build_dashboard(store, T0, 14)
    assert len(board.days) == 14 and board.days[-1] == T0.date()
    assert board.outcomes["issued"][-1] == 2 and sum(board.outcomes["issued"]) == 2
    assert board.outcomes["ignored"][-2] == 1 and board.outcomes["clarify"][0] == 1
    assert board.mails == 4 and set(board.outcomes) >= {"escalated", "awaiting_payment"}
    assert board.open_queue[0] == 2  # both old ones were open at the start
    assert board.open_queue[4] == 1  # day -9: the second one closed on day -10
    assert board.open_queue[10] == 1  # day -3: three came and went the same day
    assert board.open_queue[-1] == 2 and board.closed == 4
    assert board.median_wait[10] == timedelta(hours=4)  # the middle of 2, 4 and 9 hours
    assert board.median_wait[3] == timedelta(days=10) and board.median_wait[-1] is None
    assert board.overall_median == (timedelta(hours=4) + timedelta(hours=9)) / 2


def test_only_the_offered_ranges(console: Console) -> None:
    with pytest.raises(DashboardError, match="14, 30 or 90 days"):
        build_dashboard(console.env.store, T0, 7)


def test_the_page_draws_inline_svg_for_every_role(console: Console) -> None:
    add_mails(console.env.store, [(T0, "issued"), (T0, '<script>alert("o")</script>\u202e')])
    for name in ("sam", "fin", "ada"):
        console.client.cookies.clear()
        console.login(name)
        page = console.client.get("/dashboard", params={"days": "90"})
        assert page.status_code == 200 and page.text.count("<svg") == 3
        assert "the last 90 days" in page.text and 'aria-current="page">90 days' in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert "style=" not in page.text and "<script>alert" not in page.text
        assert "&lt;script&gt;alert(&quot;o&quot;)&lt;/script&gt;\\u202e" in page.text
        assert "\u202e" not in page.text
    assert "the last 30 days" in console.client.get("/dashboard").text


@pytest.mark.parametrize("days", ["7", "abc", "-14", "99999999999999999999", "<b>"])
def test_a_range_it_does_not_offer_is_said_in_words(console: Console, days: str) -> None:
    console.login("sam")
    page = console.client.get("/dashboard", params={"days": days})
    assert page.status_code == 400 and "14, 30 or 90 days" in page.text
    assert "<svg" not in page.text and "<b>" not in page.text


def test_a_store_with_months_of_mail_renders(console: Console) -> None:
    """Mails and escalations over 120 days, more than the widest range shows: counted in SQL
    per day (how fast: scripts/bench_console.py, not a test)."""
    store = console.env.store
    outcomes = ["issued", "resent", "ignored", "escalated", "clarify", "awaiting_payment"]
    add_mails(
        store,
        [(T0 - timedelta(minutes=100 * i), outcomes[i % len(outcomes)]) for i in range(5_000)],
    )
    add_escalations(
        store,
        [
            (
                T0 - timedelta(minutes=1000 * i),
                None if i % 7 == 0 else T0 - timedelta(minutes=1000 * i - 60 * (i % 50)),
                "open" if i % 7 == 0 else "resolved",
            )
            for i in range(1_000)
        ],
    )
    console.login("fin")
    page = console.client.get("/dashboard", params={"days": "90"})
    assert page.status_code == 200 and page.text.count("<svg") == 3
