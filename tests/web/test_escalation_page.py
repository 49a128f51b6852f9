"""One escalation in the console: the mail as data, the actions through the same services as
the CLI with the staff member as actor, roles on the server, "changed since", the HTML frame."""

from __future__ import annotations

import re
from email.message import EmailMessage
from html import unescape
from pathlib import Path

from tests.staff_env import new_serial, order_row, request, text_of
from tests.web.console import make_console


def _fields(html: str, action: str) -> dict[str, str]:
    form = re.search(
        rf'<form method="post" action="{re.escape(action)}"[^>]*>(.*?)</form>', html, re.S
    )
    assert form, action
    return {
        k: unescape(v)
        for k, v in re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', form.group(1))
    }


def test_issue_against_a_chosen_order_is_audited_as_the_staff_member(tmp_path: Path) -> None:
    console = make_console(tmp_path, [order_row("cs_1", "eve@example.com", 1)])
    serial, other = new_serial(), new_serial()
    console.env.send(request("eve@example.com", serial, other))  # one seat, two serials
    console.login("sam")
    page = console.client.get("/escalations/1").text
    assert "seats_exhausted" in page and serial in page and "cs_1 (paid, 0 of 1 seats free)" in page
    form = _fields(page, "/escalations/1/issue")
    done = console.client.post(
        "/escalations/1/issue", data={**form, "order": "cs_1", "force": "1"}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"] == "/escalations/1"
    after = console.client.get("/escalations/1").text
    assert 'class="flash"' in after and "resolved: license" in after
    assert (
        console.env.audit(1)[-1]["actor"] == "sam"
        and console.env.audit(1)[-1]["action"] == "issued"
    )
    assert 'class="flash"' not in console.client.get("/escalations/1").text  # shown once


def test_finance_sees_no_action_and_a_forged_post_is_refused(tmp_path: Path) -> None:
    console = make_console(tmp_path, [order_row("cs_1", "eve@example.com", 0)])
    console.env.send(request("eve@example.com", new_serial()))
    console.login("fin")
    page = console.client.get("/escalations/1").text
    assert "/escalations/1/issue" not in page and "/escalations/1/reply" not in page
    for path in ("issue", "grant", "reply", "reject", "claim", "note", "retry", "assign"):
        refused = console.post(
            f"/escalations/1/{path}", {"order": "cs_1", "reason": "x", "text": "x"}
        )
        assert refused.status_code == 403 and "Not for your role" in refused.text, path
    assert console.env.escalations()[0]["state"] == "open"
    assert [a["action"] for a in console.env.audit(1)] == ["escalated"]


def test_a_post_without_its_csrf_token_is_refused(tmp_path: Path) -> None:
    console = make_console(tmp_path)
    console.env.send(request("eve@example.com", new_serial()))
    console.login("sam")
    refused = console.client.post("/escalations/1/reject", data={"reason": "spam", "seen": "1"})
    assert refused.status_code == 403 and console.env.escalations()[0]["state"] == "open"


def test_a_colleagues_action_since_the_page_was_opened_is_shown_first(tmp_path: Path) -> None:
    console = make_console(tmp_path)
    console.env.send(request("eve@example.com", new_serial()))
    console.login("sam")
    form = _fields(console.client.get("/escalations/1").text, "/escalations/1/reject")
    assert console.env.cli("queue", "claim", "1", "--as", "ada").exit_code == 0
    stopped = console.client.post("/escalations/1/reject", data={**form, "reason": "spam"})
    assert stopped.status_code == 409
    assert "Someone acted on this escalation" in stopped.text and "ada · claimed" in stopped.text
    assert console.env.escalations()[0]["state"] == "open"
    again = _fields(stopped.text, "/escalations/1/reject")
    assert again["confirm"] == "1" and again["reason"] == "spam"
    done = console.client.post("/escalations/1/reject", data=again, follow_redirects=False)
    assert done.status_code == 303 and console.env.escalations()[0]["state"] == "rejected"
    assert console.env.audit(1)[-1]["actor"] == "sam"


def test_claim_assign_note_and_a_refusal_in_plain_words(tmp_path: Path) -> None:
    console = make_console(tmp_path)
    console.env.send(request("eve@example.com", new_serial()))
    console.login("sam")

    def post(path: str, **data: str) -> object:
        form = _fields(console.client.get("/escalations/1").text, f"/escalations/1/{path}")
        return console.client.post(
            f"/escalations/1/{path}", data={**form, **data}, follow_redirects=False
        )

    assert post("claim").status_code == 303  # type: ignore[attr-defined]
    assert console.env.escalations()[0]["claimed_by"] == "sam"
    assert post("release").status_code == 303  # type: ignore[attr-defined]
    assert post("assign", to="ada").status_code == 303  # type: ignore[attr-defined]
    assert console.env.escalations()[0]["claimed_by"] == "ada"
    assert post("note", text="called her").status_code == 303  # type: ignore[attr-defined]
    refused = post("grant", reason=" ")
    assert refused.status_code == 400 and "say why" in refused.text  # type: ignore[attr-defined]
    actions = [(a["actor"], a["action"]) for a in console.env.audit(1)]
    assert actions[1:] == [
        ("sam", "claimed"),
        ("sam", "released"),
        ("sam", "assigned"),
        ("sam", "note"),
    ]


def test_the_preview_writes_nothing_and_send_queues_the_previewed_mail(tmp_path: Path) -> None:
    console = make_console(tmp_path)
    console.env.send(request("eve@example.com", new_serial()))
    console.login("sam")
    before = len(console.env.outbox())
    form = _fields(console.client.get("/escalations/1").text, "/escalations/1/reply")
    preview = console.client.post(
        "/escalations/1/reply", data={**form, "text": "Line one\r\nLine two"}
    )
    assert preview.status_code == 200 and "Line one\nLine two" in preview.text
    assert "To</th><td>eve@example.com" in preview.text
    assert len(console.env.outbox()) == before and len(console.env.audit(1)) == 1
    confirm = _fields(preview.text, "/escalations/1/reply")
    # A colleague's note changes the history, not the mail: the notice comes first.
    console.env.cli("queue", "note", "1", "looking", "--as", "ada")
    stopped = console.client.post("/escalations/1/reply", data=confirm)
    assert stopped.status_code == 409 and len(console.env.outbox()) == before
    sent = console.client.post(
        "/escalations/1/reply",
        data=_fields(stopped.text, "/escalations/1/reply"),
        follow_redirects=False,
    )
    assert sent.status_code == 303
    outbox = console.env.outbox()
    assert len(outbox) == before + 1 and outbox[-1]["to_addr"] == "eve@example.com"
    assert (
        "Line one\r\nLine two" in text_of(outbox[-1]["raw"])
        and console.env.escalations()[0]["state"] == "resolved"
    )


def test_a_changed_mail_is_previewed_again_not_sent(tmp_path: Path) -> None:
    console = make_console(tmp_path)
    console.env.send(request("eve@example.com", new_serial()))
    console.login("sam")
    form = _fields(console.client.get("/escalations/1").text, "/escalations/1/reply")
    preview = console.client.post("/escalations/1/reply", data={**form, "text": "Hello"})
    confirm = {**_fields(preview.text, "/escalations/1/reply"), "previewed": "0" * 64}
    changed = console.client.post("/escalations/1/reply", data=confirm)
    assert changed.status_code == 409 and "The mail changed since you saw it" in changed.text
    assert console.env.escalations()[0]["state"] == "open"


def test_an_html_mail_is_sanitized_in_a_sandboxed_frame(tmp_path: Path) -> None:
    console = make_console(tmp_path)
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "h@example.com", "support@amphis.example", "html"
    msg["Message-ID"] = "<html-1@example.com>"
    msg.set_content("Hello, my serial: none")
    msg.add_alternative(
        '<p onclick="x()">Hello <b>there</b><script>alert(1)</script>'
        '<img src="https://tracker.example/p.gif" alt="logo"><a href="https://evil.example">click</a>'
        '<form action="https://evil.example"><input name="p"></form>'
        '<span style="background:url(https://x.example/a)">styled</span></p>',
        subtype="html",
    )
    console.env.send(bytes(msg))
    console.login("sam")
    page = console.client.get("/escalations/1").text
    assert '<iframe class="mail" sandbox src="/escalations/1/mail"' in page
    frame = console.client.get("/escalations/1/mail")
    csp = frame.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "sandbox" in csp and "img-src data:" in csp
    body = frame.text
    assert "<b>there</b>" in body and "[image: logo (not loaded)]" in body and "click" in body
    for bad in ("<script", "onclick", "tracker.example", "evil.example", "<form", "<input", "url("):
        assert bad not in body, bad
    console.login("fin")
    assert console.client.get("/escalations/1/mail").status_code == 200  # reading is for all
    assert console.client.get("/escalations/99").status_code == 404
