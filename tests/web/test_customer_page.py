"""The customer page: orders and seats, licenses, mails with outcomes, escalations; money only
for the roles that may see it; what the customer wrote shown as text."""

from __future__ import annotations

from pathlib import Path

from tests.staff_env import mail, new_serial, order_row, request
from tests.web.console import Console, make_console

BUYER = "buyer@acme.example"
HOSTILE_NAME = '<script>alert("name")</script>\u202eevil'


def site(tmp_path: Path, **sections: object) -> Console:
    console = make_console(
        tmp_path,
        [order_row("ORD-1", BUYER, 2, amount=12345, name=HOSTILE_NAME)],
        **sections,  # type: ignore[arg-type]
    )
    console.env.send(request(BUYER, new_serial(), subject="<img src=x> \u202eplease"))
    console.env.send(mail(BUYER, "Can I get a discount for schools?", subject="A question"))
    return console


def test_the_customer_on_one_page(tmp_path: Path) -> None:
    console = site(tmp_path)
    console.login("sam")
    page = console.client.get("/customers/buyer@acme.example")
    assert page.status_code == 200
    text = page.text
    assert "ORD-1" in text and "2 usable seat(s)" in text and "1 free" in text
    assert 'href="/licenses/1"' in text and ">issued<" in text and ">escalated<" in text
    assert 'href="/escalations/1"' in text and "A question" in text
    assert "123.45 EUR" not in text  # support sees no money by default
    console.client.cookies.clear()
    console.login("fin")
    assert "123.45 EUR" in console.client.get("/customers/BUYER@acme.example").text


def test_support_sees_amounts_when_the_site_says_so(tmp_path: Path) -> None:
    console = site(tmp_path, web={"support_sees_amounts": True})
    console.login("sam")
    assert "123.45 EUR" in console.client.get("/customers/buyer@acme.example").text


def test_what_the_customer_wrote_is_text(tmp_path: Path) -> None:
    console = site(tmp_path)
    console.login("sam")
    text = console.client.get("/customers/buyer@acme.example").text
    assert "<script>alert" not in text and "<img src=x>" not in text
    assert "&lt;script&gt;alert(&#34;name&#34;)" in text and "&lt;img src=x&gt;" in text
    assert "\u202e" not in text and "\\u202eevil" in text


def test_an_unknown_or_hostile_address_says_so(tmp_path: Path) -> None:
    console = make_console(tmp_path)
    console.login("sam")
    unknown = console.client.get('/customers/a"b<i>@nowhere.example')
    assert unknown.status_code == 404 and "Nothing is known about" in unknown.text
    assert "a&#34;b&lt;i&gt;@nowhere.example" in unknown.text and "<i>@" not in unknown.text
    long = console.client.get("/customers/" + "a" * 400 + "@x.example")
    assert long.status_code == 400 and "Traceback" not in long.text
    empty = console.client.get("/customers/")
    assert empty.status_code == 400 and "mail address." in empty.text
