"""The console shows a customer's own list and release: their outcomes on the customer page,
and a refused release's reason on its escalation page, in staff's words."""

from __future__ import annotations

from pathlib import Path

from mailbot.core.reasons import staff_text
from tests.staff_env import mail, new_serial, order_row, request
from tests.web.console import make_console

BUYER = "buyer@acme.example"


def test_listed_released_and_a_refused_release_on_the_console(tmp_path: Path) -> None:
    console = make_console(tmp_path, [order_row("ORD-1", BUYER, 2)])
    mine, other = new_serial(), new_serial()
    env = console.env
    env.send(request(BUYER, mine))
    env.send(mail(BUYER, "Which licenses do I have?"))
    env.send(mail(BUYER, f"Please release {mine}"))
    env.send(mail(BUYER, f"Please release {other}"))  # never licensed: a person looks
    console.login("sam")
    text = console.client.get(f"/customers/{BUYER}").text
    assert ">listed<" in text and ">released<" in text and ">escalated<" in text
    [item] = env.escalations()
    page = console.client.get(f"/escalations/{item['id']}").text
    assert item["reason"] == "release_review"
    assert staff_text("release_review").split(",")[0] in page
    assert other in page  # the serial the customer named, for staff to judge
