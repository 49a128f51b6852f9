"""The short message shown once after an action (POST, redirect, GET): a cookie, not a query
parameter, so nobody can send a colleague a link that makes the console "say" something."""

from __future__ import annotations

from urllib.parse import quote, unquote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

FLASH = "mailbot_flash"
MAX_CHARS = 400


def redirect_with(request: Request, target: str, message: str) -> Response:
    """303 to `target` (a path of ours) that shows `message` there once."""
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        FLASH,
        quote(message[:MAX_CHARS]),
        max_age=120,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


def take(request: Request) -> str:
    """The message waiting for this page ("" for none); `forget` it on the response."""
    return unquote(request.cookies.get(FLASH, ""))[:MAX_CHARS]


def forget(request: Request, response: Response) -> Response:
    if FLASH in request.cookies:
        response.delete_cookie(FLASH, path="/", httponly=True, samesite="strict")
    return response
