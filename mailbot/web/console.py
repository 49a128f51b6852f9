"""The console as an ASGI application: `create_app(app)` for uvicorn and for tests."""

from __future__ import annotations

from importlib.resources import files

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from mailbot.app import App
from mailbot.web import (
    mail_frame,
    routes_auth,
    routes_customers,
    routes_dashboard,
    routes_escalation,
    routes_licenses,
    routes_queue,
    routes_report,
)
from mailbot.web.security import SecurityHeaders
from mailbot.web.state import Console


async def home(request: Request) -> Response:
    return RedirectResponse("/queue", status_code=303)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    console: Console = request.app.state.console
    titles = {404: "Not found", 405: "Not allowed", 400: "Bad request"}
    return console.pages.render(
        request,
        "error.html",
        exc.status_code,
        title=titles.get(exc.status_code, "Error"),
        message=exc.detail if exc.status_code != 404 else "There is no such page.",
    )


def routes() -> list[BaseRoute]:
    static = StaticFiles(directory=str(files("mailbot").joinpath("web/static")))
    return [
        Route("/", home, methods=["GET"]),
        *routes_auth.ROUTES,
        *routes_queue.ROUTES,
        *routes_escalation.ROUTES,
        *mail_frame.ROUTES,
        *routes_customers.ROUTES,
        *routes_licenses.ROUTES,
        *routes_report.ROUTES,
        *routes_dashboard.ROUTES,
        Mount("/static", static, name="static"),
    ]


def create_app(app: App) -> Starlette:
    """The console over this App (its store, clock and settings)."""
    web = Starlette(
        routes=routes(),
        middleware=[Middleware(SecurityHeaders)],
        exception_handlers={HTTPException: _http_error},
    )
    web.state.console = Console(app)
    return web
