"""The console in a real headless Chromium: log in, search, open an escalation, resolve it
through the reply preview; CSRF and roles hold in a browser too; hostile text stays text.
Saves the README's screenshots (docs/screenshots/)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.staff_env import mail, new_serial, order_row, request, text_of
from tests.web.browser import SCREENSHOTS, Served, log_in
from tests.web.console import PASSWORD, Console, make_console

HOSTILE = (
    '<script>document.title="owned"</script> [link=https://evil.example]win[/link] \u202egnp.exe'
)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Console, Served]]:
    console = make_console(
        tmp_path,
        [order_row("cs_team", "lena@example.com", 1, name="Lena Novak")],
    )
    env = console.env
    env.send(
        request(
            "lena@example.com", new_serial(), new_serial(), subject="Two new PCs", name="Lena Novak"
        )
    )
    env.send(mail("mallory@stranger.example", f"Hi {HOSTILE}", subject=HOSTILE))
    env.send(mail("otto@example.com", "Can I use it on a Mac as well?", subject="Mac question"))
    served = Served(env.app)
    yield console, served
    served.stop()


def test_resolve_an_escalation_through_the_reply_preview(
    site: tuple[Console, Served], page: Any
) -> None:
    console, served = site
    log_in(page, served.url, "sam", PASSWORD)
    assert page.locator("table.queue tbody tr").count() == 3
    page.screenshot(path=str(SCREENSHOTS / "queue.png"), full_page=True)
    page.fill("input[name=q]", "mac")
    page.click("form.search button")
    rows = page.locator("table.queue tbody tr")
    assert rows.count() == 1 and "Mac question" in rows.inner_text()
    rows.locator("a").first.click()
    page.wait_for_url(re.compile(r".*/escalations/3$"))
    reply = page.locator("form[action='/escalations/3/reply']")
    reply.locator("textarea[name=text]").fill(
        "Yes: one license covers Windows and macOS.\nOtto, enjoy!"
    )
    reply.locator("button").click()
    assert page.locator("h1").inner_text() == "Reply to #3: preview"
    assert "To\totto@example.com" in page.locator("table.headers").inner_text()
    assert (
        "one license covers Windows and macOS.\nOtto, enjoy!"
        in page.locator("pre.mail").inner_text()
    )
    before = len(console.env.outbox("reply"))
    page.screenshot(path=str(SCREENSHOTS / "escalation-preview.png"), full_page=True)
    page.click("form.confirm button")
    page.wait_for_url(re.compile(r".*/escalations/3$"))
    assert "#3 resolved" in page.locator(".flash").inner_text()
    replies = console.env.outbox("reply")
    assert len(replies) == before + 1 and replies[-1]["to_addr"] == "otto@example.com"
    assert "Otto, enjoy!" in text_of(replies[-1]["raw"])
    assert console.env.audit(3)[-1]["actor"] == "sam"


def test_a_form_without_its_csrf_token_is_refused(site: tuple[Console, Served], page: Any) -> None:
    console, served = site
    log_in(page, served.url, "sam", PASSWORD)
    page.goto(f"{served.url}/escalations/1")
    form = page.locator("form[action='/escalations/1/reject']")
    form.locator("input[name=csrf]").evaluate("e => e.remove()")
    form.locator("input[name=reason]").fill("forged")
    page.once("dialog", lambda d: d.accept())  # the data-confirm question
    form.locator("button").click()
    page.wait_for_load_state()
    assert "Refused" in page.locator("h1").inner_text()
    assert console.env.escalations()[0]["state"] == "open"


def test_finance_has_no_issue_button_and_a_forged_post_is_refused(
    site: tuple[Console, Served], page: Any
) -> None:
    console, served = site
    log_in(page, served.url, "fin", PASSWORD)
    page.goto(f"{served.url}/escalations/1")
    assert page.locator("form[action='/escalations/1/issue']").count() == 0
    assert page.locator("form[action='/escalations/1/reply']").count() == 0
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    forged = page.request.post(
        f"{served.url}/escalations/1/issue",
        form={"csrf": csrf, "order": "cs_team", "force": "1", "seen": "1"},
        headers={"origin": served.url},
    )
    assert forged.status == 403 and "Not for your role" in forged.text()
    assert console.env.escalations()[0]["state"] == "open"


def test_hostile_customer_text_shows_as_text(site: tuple[Console, Served], page: Any) -> None:
    console, served = site
    log_in(page, served.url, "sam", PASSWORD)
    page.goto(f"{served.url}/escalations/2")
    assert page.title() != "owned"
    shown = page.locator("pre.mail").inner_text()
    assert '<script>document.title="owned"</script>' in shown
    assert "[link=https://evil.example]" in shown and "\\u202egnp.exe" in shown
    assert "\u202e" not in page.content()
    assert page.locator("a[href*='evil.example']").count() == 0
    page.goto(f"{served.url}/queue")
    assert page.title() != "owned" and "<script>" in page.locator("table.queue").inner_text()


def test_the_dashboard_draws_two_weeks_of_mail(tmp_path: Path, page: Any) -> None:
    """Two weeks of real traffic through the worker (requests, a typo, strangers, an
    out-of-office), some escalations resolved by staff: the dashboard's three charts."""
    from mailbot.services import escalations

    customers = [f"buyer{i}@example.com" for i in range(12)]
    console = make_console(
        tmp_path, [order_row(f"ORD-{i}", c, 40) for i, c in enumerate(customers)]
    )
    env = console.env
    env.clock.advance(days=-14)
    for day in range(14):
        for n in range(3 + day % 4):
            env.send(request(customers[(day + n) % 12], new_serial()))
        if day % 3 == 0:
            env.send(request(customers[day % 12], "AMC-1234-5678"))  # not a serial: asked back
        env.send(mail(f"stranger{day}@elsewhere.example", "Do you have a student price?"))
        for esc in env.escalations("open")[: day % 3]:
            escalations.resolve(env.store, esc["id"], "sam", env.clock.now(), "answered")
        env.clock.advance(days=1)
    served = Served(env.app)
    try:
        log_in(page, served.url, "ada", PASSWORD)
        page.goto(f"{served.url}/dashboard?days=14")
        assert page.locator("svg.chart").count() == 3
        page.screenshot(path=str(SCREENSHOTS / "dashboard.png"), full_page=True)
    finally:
        served.stop()
