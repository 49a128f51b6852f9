"""Logging in to the console: passwords, sessions, CSRF, the rate limit and the headers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.web.console import Console, make_console


@pytest.fixture
def console(tmp_path: Path) -> Console:
    return make_console(tmp_path)


def test_health_answers_without_login(console: Console) -> None:
    answer = console.client.get("/healthz")
    assert answer.status_code == 200 and answer.json()["status"] == "ok"


def test_pages_send_strangers_to_the_login(console: Console) -> None:
    answer = console.client.get("/queue?view=mine", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/queue%3Fview%3Dmine"


def test_a_login_sets_a_strict_http_only_cookie(console: Console) -> None:
    answer = console.login("sam", next_="/queue")
    assert answer.status_code == 303 and answer.headers["location"] == "/queue"
    cookie = answer.headers["set-cookie"].lower()
    assert "mailbot_session=" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    assert "secure" not in cookie  # plain http on loopback; behind TLS it is Secure
    token = console.client.cookies["mailbot_session"]
    stored = console.env.store.all_staff()  # the store keeps a hash, never the token
    assert token not in str(stored)
    from mailbot.web.auth import token_hash

    assert console.env.store.web_session(token_hash(token), console.env.clock.now())


def test_the_cookie_is_secure_behind_tls(tmp_path: Path) -> None:
    console = make_console(tmp_path)
    console.client.base_url = "https://testserver"  # type: ignore[assignment]
    answer = console.login("sam")
    assert "secure" in answer.headers["set-cookie"].lower()


def test_a_wrong_password_is_refused_and_says_nothing_of_the_name(console: Console) -> None:
    wrong = console.login("sam", "not the password")
    unknown = console.login("nobody", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert "do not match" in wrong.text and "do not match" in unknown.text
    assert "mailbot_session" not in console.client.cookies


def test_guessing_is_slowed_after_five_failures(console: Console) -> None:
    for _ in range(5):
        assert console.login("sam", "guess guess guess").status_code == 401
    refused = console.login("sam")  # even the right password waits now
    assert refused.status_code == 429 and "Too many failed logins" in refused.text
    assert console.login("ada").status_code == 429  # the same client, another name


def test_a_login_form_from_another_site_is_refused(console: Console) -> None:
    answer = console.client.post(
        "/login", data={"name": "sam", "password": "correct horse battery"}
    )
    assert answer.status_code == 403


def test_next_never_leads_off_the_site(console: Console) -> None:
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        answer = console.login("sam", next_=target)
        assert answer.headers["location"] == "/"
        console.client.cookies.clear()


def test_a_post_without_its_csrf_token_is_refused(console: Console) -> None:
    console.login("sam")
    refused = console.client.post("/logout", data={}, follow_redirects=False)
    assert refused.status_code == 403 and "security token" in refused.text
    forged = console.client.post("/logout", data={"csrf": "x" * 43}, follow_redirects=False)
    assert forged.status_code == 403
    other_site = console.client.post(
        "/logout",
        data={"csrf": console.csrf()},
        headers={"origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert other_site.status_code == 403
    assert console.client.get("/queue", follow_redirects=False).status_code != 303  # still in
    assert console.post("/logout").status_code == 303
    assert console.client.get("/queue", follow_redirects=False).status_code == 303


def test_a_new_password_logs_the_account_out(console: Console) -> None:
    from mailbot.services import staff_accounts

    console.login("sam")
    staff_accounts.set_password(
        console.env.store, "sam", "another long password", console.env.clock.now()
    )
    assert console.client.get("/queue", follow_redirects=False).status_code == 303


def test_every_response_carries_the_security_headers(console: Console) -> None:
    for answer in (console.client.get("/login"), console.client.get("/healthz")):
        csp = answer.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "same-origin"
        assert answer.headers["cache-control"] == "no-store"
    static = console.client.get("/static/console.css")
    assert static.status_code == 200 and "no-store" not in static.headers.get("cache-control", "")
