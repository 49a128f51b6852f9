"""The licenses pages: search, one license, and resend, revoke and transfer by support."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailbot.services.licenses import grant
from tests.db import query
from tests.staff_env import new_serial, order_row, request
from tests.web.console import Console, make_console

BUYER = "buyer@acme.example"


@pytest.fixture
def console(tmp_path: Path) -> Console:
    console = make_console(tmp_path, [order_row("ORD-1", BUYER, 2)])
    console.env.send(request(BUYER, new_serial()))
    return console


def licenses(console: Console) -> list[dict[str, object]]:
    return query(console.env.store, "SELECT * FROM licenses ORDER BY license_no")


def license_audit(console: Console) -> list[dict[str, object]]:
    return query(console.env.store, "SELECT * FROM audit WHERE escalation_id IS NULL ORDER BY id")


def test_a_serial_is_found_however_it_is_typed(console: Console) -> None:
    lic = licenses(console)[0]
    console.login("fin")
    typed = str(lic["serial"]).lower().replace("-", " ")
    page = console.client.get("/licenses", params={"q": typed})
    assert page.status_code == 200 and f'href="/licenses/{lic["license_no"]}"' in page.text
    string = str(lic["license_string"])
    assert string not in page.text and string[:14] + "…" in page.text  # shortened on lists
    assert string in console.client.get(f"/licenses/{lic['license_no']}").text  # whole here
    by_address = console.client.get("/licenses", params={"q": BUYER.upper()})
    assert str(lic["serial"]) in by_address.text and "/customers/buyer@acme.example" in (
        by_address.text
    )
    by_number = console.client.get("/licenses", params={"q": "#1"}, follow_redirects=False)
    assert by_number.headers["location"] == "/licenses/1"


def test_an_unknown_or_mistyped_serial_says_so(console: Console) -> None:
    console.login("sam")
    unknown = console.client.get("/licenses", params={"q": new_serial()})
    assert unknown.status_code == 404 and "has never been licensed" in unknown.text
    serial = str(licenses(console)[0]["serial"])
    typo = serial[:-1] + ("0" if serial[-1] != "0" else "1")
    mistyped = console.client.get("/licenses", params={"q": typo})
    assert mistyped.status_code == 404 and "mistyped" in mistyped.text
    nonsense = console.client.get("/licenses", params={"q": "hello <b>"})
    assert nonsense.status_code == 404 and "&lt;b&gt;" in nonsense.text
    for path in ("/licenses/999", "/licenses/99999999999999999999999", "/licenses/x"):
        answer = console.client.get(path)
        assert answer.status_code == 404 and "Traceback" not in answer.text


def test_support_resends_to_the_orders_address_with_an_audit_line(console: Console) -> None:
    console.login("sam")
    before = len(console.env.outbox())
    answer = console.post("/licenses/1/resend")
    assert answer.status_code == 303 and answer.headers["location"] == "/licenses/1?done=resent"
    sent = console.env.outbox()[before:]
    assert [(m["to_addr"], m["kind"]) for m in sent] == [(BUYER, "reply")]
    assert [(a["actor"], a["action"]) for a in license_audit(console)] == [
        ("sam", "license_resent")
    ]
    page = console.client.get(answer.headers["location"])
    assert "is in the outbox" in page.text and 'class="flash"' in page.text
    assert "license_resent" in page.text  # the history shows it


def test_revoking_needs_a_reason_and_a_confirmation(console: Console) -> None:
    console.login("ada")
    page = console.client.get("/licenses/1").text
    assert 'action="/licenses/1/revoke" data-confirm="Revoke license #1?' in page
    empty = console.post("/licenses/1/revoke", {"reason": "  "})
    assert empty.status_code == 409 and "say why" in empty.text
    assert licenses(console)[0]["state"] == "active"
    done = console.post("/licenses/1/revoke", {"reason": "chargeback lost"})
    assert done.headers["location"] == "/licenses/1?done=revoked"
    row = licenses(console)[0]
    assert (row["state"], row["revoked_reason"]) == ("revoked", "chargeback lost")
    assert [(a["actor"], a["action"]) for a in license_audit(console)] == [
        ("ada", "license_revoked")
    ]
    again = console.post("/licenses/1/revoke", {"reason": "twice"})
    assert again.status_code == 409 and "already revoked" in again.text
    assert "/licenses/1/revoke" not in console.client.get("/licenses/1").text


def test_support_transfers_to_a_new_serial(console: Console) -> None:
    console.login("sam")
    new = new_serial()
    answer = console.post("/licenses/1/transfer", {"new_serial": new.lower(), "reason": "new PC"})
    assert (
        answer.status_code == 303 and answer.headers["location"] == "/licenses/2?done=transferred"
    )
    old, moved = licenses(console)
    assert (old["state"], old["replaced_by"]) == ("revoked", 2)
    assert (moved["serial"], moved["state"], moved["seat_key"]) == (new, "active", old["seat_key"])
    assert console.env.outbox()[-1]["to_addr"] == BUYER
    assert ("sam", "license_transferred") in [
        (a["actor"], a["action"]) for a in license_audit(console)
    ]
    same = console.post("/licenses/2/transfer", {"new_serial": new})
    assert same.status_code == 409 and "the same" in same.text
    bad = console.post("/licenses/2/transfer", {"new_serial": "AMC-1234"})
    assert bad.status_code == 409 and "Not transferred" in bad.text


def test_finance_sees_but_cannot_act(console: Console) -> None:
    console.login("fin")
    page = console.client.get("/licenses/1").text
    assert "/licenses/1/resend" not in page and "can look only" in page
    before = len(console.env.outbox())
    for path, form in (
        ("/licenses/1/resend", {}),
        ("/licenses/1/revoke", {"reason": "x"}),
        ("/licenses/1/transfer", {"new_serial": new_serial()}),
    ):
        refused = console.post(path, form)
        assert refused.status_code == 403 and "cannot do this" in refused.text
    assert len(console.env.outbox()) == before
    assert [row["state"] for row in licenses(console)] == ["active"]
    assert license_audit(console) == []


def test_an_action_without_its_csrf_token_is_refused(console: Console) -> None:
    console.login("sam")
    answer = console.client.post(
        "/licenses/1/revoke", data={"reason": "forged"}, follow_redirects=False
    )
    assert answer.status_code == 403 and "security token" in answer.text
    assert licenses(console)[0]["state"] == "active"


def test_hostile_customer_text_is_shown_as_text(console: Console) -> None:
    env = console.env
    hostile = 'x"><script>alert(1)</script>\u202e@evil.example'
    grant(env.app, new_serial(), hostile, "<b>fair</b>", "ada", env.clock.now(), mail=False)
    console.login("sam")
    for path in ("/licenses?q=%40evil.example", "/licenses/2"):
        page = console.client.get(path).text
        assert "<script>alert" not in page and "<b>fair" not in page
        assert "&lt;script&gt;alert(1)" in page and "\u202e" not in page and "\\u202e" in page
        assert 'href="/customers/x%22%3E%3Cscript%3Ealert%281%29%3C%2Fscript%3E' in page
