"""Logging in and out, and the health check for monitors."""

from __future__ import annotations

import hmac
import secrets

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from mailbot.services import staff_accounts
from mailbot.store.errors import StoreError
from mailbot.web.auth import (
    Visit,
    console_of,
    end_session,
    local_path,
    page,
    read_form,
    start_session,
)

# The login form has no session yet: its CSRF token is a cookie of its own that the form
# must repeat (a page of another site can neither read the cookie nor set the field).
LOGIN_COOKIE = "mailbot_login"


def _client(request: Request) -> str:
    return request.client.host if request.client else "-"


def _login_page(request: Request, status: int = 200, error: str = "", name: str = "") -> Response:
    token = secrets.token_urlsafe(24)
    response = console_of(request).pages.render(
        request,
        "login.html",
        status,
        title="Log in",
        login_token=token,
        error=error,
        name=name,
        next=local_path(request.query_params.get("next", "/")),
    )
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=3600,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/login",
    )
    return response


async def login_form(request: Request) -> Response:
    return _login_page(request)


async def login(request: Request) -> Response:
    console = console_of(request)
    form = await read_form(request)
    name = str(form.get("name") or "").strip().lower()[:40]
    password = str(form.get("password") or "")
    sent, expected = str(form.get("login_token") or ""), request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        return _login_page(request, 403, "The form had expired. Please log in again.", name)
    client = _client(request)
    wait = console.limiter.wait_seconds(client, name)
    if wait > 0:
        minutes = int(wait // 60) + 1
        return _login_page(
            request, 429, f"Too many failed logins. Try again in {minutes} min.", name
        )
    account = staff_accounts.authenticate(
        console.app.store, name, password, console.app.clock.now()
    )
    if account is None:
        console.limiter.failed(client, name)
        return _login_page(request, 401, "That name and password do not match.", name)
    console.limiter.succeeded(client, name)
    response = RedirectResponse(local_path(str(form.get("next") or "/")), status_code=303)
    start_session(request, response, account)
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@page("read")
async def logout(request: Request, visit: Visit) -> Response:
    response = RedirectResponse("/login", status_code=303)
    end_session(request, response)
    return response


async def healthz(request: Request) -> Response:
    """For monitors, without login: the store answers. Says nothing about the data."""
    try:
        version = console_of(request).app.store.schema_version()
    except StoreError:
        return JSONResponse({"status": "error", "store": "cannot be read"}, status_code=503)
    return JSONResponse({"status": "ok", "schema": version})


ROUTES: list[BaseRoute] = [
    Route("/login", login_form, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/healthz", healthz, methods=["GET"]),
]
