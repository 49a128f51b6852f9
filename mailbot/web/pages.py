"""Jinja2 pages for the console. Everything is autoescaped, and every string a template
prints passes `visible()` first, so what a customer wrote (a subject, a name, a mail's text)
is shown as text: never markup, never a link, never a control character that reorders a line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse

from mailbot.core.text import visible
from mailbot.services.report_render import money


def _finalize(value: Any) -> Any:
    if isinstance(value, Markup) or not isinstance(value, str):
        return value
    return visible(value)


def when(value: datetime | None) -> str:
    """A moment for a table: '2026-12-01 14:05 UTC'."""
    if value is None:
        return "-"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def age(value: timedelta | None) -> str:
    """A duration as people say it: '45 min', '5 h', '3 d'."""
    if value is None:
        return "-"
    minutes = int(value.total_seconds() // 60)
    if minutes < 60:
        return f"{max(minutes, 0)} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // (24 * 60)} d"


def customer_url(email: str) -> str:
    """The customer page of an address; every character that could end the path is quoted."""
    return "/customers/" + quote(email, safe="@")


def shortened(license_string: str, keep: int = 14) -> str:
    """A license string for lists: its start, enough to tell two apart on screen; the whole
    string is only on the license's own page."""
    return license_string if len(license_string) <= keep else license_string[:keep] + "…"


class Pages:
    """Renders the console's templates (`mailbot/web/templates/`)."""

    def __init__(self) -> None:
        self.env = Environment(
            loader=PackageLoader("mailbot", "web/templates"),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,
            finalize=_finalize,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
        )
        self.env.filters["when"] = when
        self.env.filters["age"] = age
        self.env.filters["customer_url"] = customer_url
        self.env.filters["shortened"] = shortened
        self.env.filters["money"] = money

    def render(
        self, request: Request, template: str, status_code: int = 200, **context: Any
    ) -> HTMLResponse:
        visit = getattr(request.state, "visit", None)
        html = self.env.get_template(template).render(
            request=request,
            visit=visit,
            account=visit.account if visit else None,
            csrf=visit.session.csrf if visit else "",
            path=request.url.path,
            **context,
        )
        return HTMLResponse(html, status_code=status_code)
