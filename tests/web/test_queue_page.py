"""The queue page: views with counts, overdue rows marked, who claimed it, pages."""

from __future__ import annotations

import re
from pathlib import Path

from tests.staff_env import mail, new_serial, order_row, request
from tests.web.console import make_console


def _ids(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'<a href="/escalations/(\d+)">', html)]


def test_views_counts_claims_and_overdue(tmp_path: Path) -> None:
    console = make_console(tmp_path, [order_row("cs_u", "unpaid@example.com", 1, status="unpaid")])
    env = console.env
    env.send(request("old@example.com", new_serial()))  # 1: no_order, will be overdue
    env.clock.advance(hours=30)
    env.send(request("unpaid@example.com", new_serial()))  # 2: unpaid_order
    env.send(mail("q@example.com", "How do I move it to a Mac?", subject="question"))  # 3
    assert env.cli("queue", "claim", "3", "--as", "sam").exit_code == 0
    console.login("sam")
    page = console.client.get("/queue").text
    assert _ids(page) == [1, 2, 3]  # who waited longest first
    assert re.search(r'<tr class="breach">\s*<td><a href="/escalations/1">', page)
    assert page.count('class="breach"') == 1 and "1 over the 24 h target" in page
    assert "sam <small>(you)</small>" in page
    assert re.search(r"Mine <small>1</small>", page) and re.search(
        r"Unclaimed <small>2</small>", page
    )
    assert _ids(console.client.get("/queue?view=mine").text) == [3]
    assert _ids(console.client.get("/queue?view=unclaimed").text) == [1, 2]
    assert _ids(console.client.get("/queue?view=payment").text) == [2]
    assert _ids(console.client.get("/queue?reason=no_order").text) == [1]
    assert _ids(console.client.get("/queue?view=closed").text) == []
    assert _ids(console.client.get("/queue?q=mac").text) == [3]
    assert _ids(console.client.get("/queue?view=bogus").text) == [1, 2, 3]


def test_pages_of_fifty(tmp_path: Path) -> None:
    console = make_console(tmp_path)
    from mailbot.store.rows import NewEscalation

    with console.env.store.transaction() as store:
        for n in range(120):
            store.add_escalation(
                NewEscalation("question", f"q{n}", f"c{n}@example.com"),
                "bot",
                console.env.clock.now(),
            )
    console.login("sam")
    first = console.client.get("/queue").text
    assert _ids(first) == list(range(1, 51)) and "page 1 of 3" in first
    third = console.client.get("/queue?page=3").text
    assert (
        _ids(third) == list(range(101, 121)) and 'rel="prev"' in third and 'rel="next"' not in third
    )
    assert _ids(console.client.get("/queue?page=99").text) == []
    assert console.client.get("/queue?page=x").status_code == 200
