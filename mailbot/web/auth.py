"""Who is asking: the session cookie, the account's role, and the CSRF token of every form.

A session is a random token in an HttpOnly, SameSite=Strict cookie (Secure when the request
came over https, directly or through a trusted proxy); the store keeps only its SHA-256, so a
copy of the database logs nobody in. Each session has its own CSRF token, which every form
carries in a hidden field and every POST must return; a POST whose Origin is not ours is
refused too. Roles are checked here, on the server, for every request (`page(need)`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from mailbot.services.staff_accounts import Account
from mailbot.store.rows import WebSession
from mailbot.web.state import Console

COOKIE = "mailbot_session"
MAX_FORM_BYTES = 1024 * 1024  # a reply's text is far less; more is not a form of ours

Handler = Callable[[Request, "Visit"], Awaitable[Response]]


@dataclass(frozen=True)
class Visit:
    """A request by a logged-in staff member: who, their session, and the posted form."""

    account: Account
    session: WebSession
    form: FormData

    def text(self, name: str, default: str = "") -> str:
        value = self.form.get(name, default)
        return value if isinstance(value, str) else default


def console_of(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(request: Request, response: Response, account: Account) -> None:
    """Log this browser in as `account`: a new session row and its cookie."""
    console = console_of(request)
    store, now = console.app.store, console.app.clock.now()
    hours = console.app.settings.web.session_hours
    token = secrets.token_urlsafe(32)
    with store.transaction():
        store.drop_expired_web_sessions(now)
        store.add_web_session(
            token_hash(token),
            account.name,
            secrets.token_urlsafe(32),
            now,
            now + timedelta(hours=hours),
        )
    response.set_cookie(
        COOKIE,
        token,
        max_age=hours * 3600,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


def end_session(request: Request, response: Response) -> None:
    token = request.cookies.get(COOKIE)
    if token:
        store = console_of(request).app.store
        with store.transaction():
            store.drop_web_session(token_hash(token))
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")


def current(request: Request) -> tuple[Account, WebSession] | None:
    """The account and session of this request's cookie, while both exist."""
    token = request.cookies.get(COOKIE)
    if not token or len(token) > 100:
        return None
    console = console_of(request)
    store = console.app.store
    session = store.web_session(token_hash(token), console.app.clock.now())
    if session is None:
        return None
    row = store.staff_member(session.staff_name)
    return (Account.of(row), session) if row else None


def same_origin(request: Request) -> bool:
    """False when the browser says the form came from another site."""
    origin = request.headers.get("origin")
    if origin is None:  # not sent by every browser for same-origin posts
        return True
    return origin == f"{request.url.scheme}://{request.url.netloc}"


def local_path(target: str) -> str:
    """`next=` only ever leads to a page of ours."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


async def read_form(request: Request) -> FormData:
    if int(request.headers.get("content-length") or 0) > MAX_FORM_BYTES:
        return FormData()
    return await request.form(max_files=0, max_fields=200, max_part_size=MAX_FORM_BYTES)


def page(need: str = "read") -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """An endpoint for logged-in staff whose role may `need` (see staff_accounts.PERMISSIONS).
    GETs without a session go to the login page; POSTs must carry the session's CSRF token."""

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            pages = console_of(request).pages
            found = current(request)
            if found is None:
                if request.method == "GET":
                    target = quote(
                        request.url.path + (f"?{request.url.query}" if request.url.query else "")
                    )
                    return RedirectResponse(f"/login?next={target}", status_code=303)
                return pages.render(
                    request,
                    "error.html",
                    403,
                    title="Logged out",
                    message="Your session has ended. Log in again; nothing was changed.",
                )
            account, session = found
            form = FormData()
            if request.method == "POST":
                form = await read_form(request)
                sent = form.get("csrf")
                if (
                    not isinstance(sent, str)
                    or not hmac.compare_digest(sent.encode(), session.csrf.encode())
                    or not same_origin(request)
                ):
                    return pages.render(
                        request,
                        "error.html",
                        403,
                        title="Refused",
                        message="This form was not sent from a page of this console "
                        "(its security token is missing or old). Reload the page and try "
                        "again; nothing was changed.",
                    )
            visit = Visit(account=account, session=session, form=form)
            request.state.visit = visit
            if not account.may(need):
                return pages.render(
                    request,
                    "error.html",
                    403,
                    title="Not for your role",
                    message=f"A {account.role} account cannot do this. Ask an admin if you "
                    "need it.",
                )
            return await handler(request, visit)

        endpoint.__name__ = handler.__name__
        endpoint.__doc__ = handler.__doc__
        return endpoint

    return wrap
