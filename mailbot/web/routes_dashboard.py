"""The dashboard: mails per outcome per day, the queue's size at each day's end, and how long
escalations waited for a person, as SVG drawn on the server (`charts.py`) and put inline in
the page: no script draws anything, and the CSP's `style-src 'self'` holds (the SVG carries
presentation attributes only)."""

from __future__ import annotations

from datetime import timedelta

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from mailbot.services.dashboard import RANGES, DashboardError, build_dashboard
from mailbot.web import charts
from mailbot.web.auth import Visit, console_of, page
from mailbot.web.pages import age

DEFAULT_DAYS = 30


def hours(value: float) -> str:
    return f"{value:,.1f} h" if value < 10 else f"{value:,.0f} h"


@page("read")
async def dashboard(request: Request, visit: Visit) -> Response:
    console = console_of(request)
    given = request.query_params.get("days", str(DEFAULT_DAYS)).strip()
    try:
        board = build_dashboard(
            console.app.store, console.app.clock.now(), int(given) if given.isdigit() else -1
        )
    except DashboardError as exc:
        return console.pages.render(
            request,
            "dashboard.html",
            400,
            title="Dashboard",
            error=f"{given[:20]!r} is not a range it offers: {exc}.",
            ranges=RANGES,
            days=0,
        )
    labels = [d.strftime("%m-%d") for d in board.days]
    waits = [None if w is None else w / timedelta(hours=1) for w in board.median_wait]
    # charts.py escapes every label it draws: its markup is safe to place as it is.
    mails = Markup(charts.bar_chart("Mails per day by outcome", labels, board.outcomes))
    queue = Markup(
        charts.line_chart(
            "Open escalations at the end of each day", labels, {"open": board.open_queue}
        )
    )
    wait = Markup(
        charts.line_chart(
            "Median time to resolution, by day closed", labels, {"median": waits}, fmt=hours
        )
    )
    return console.pages.render(
        request,
        "dashboard.html",
        title="Dashboard",
        error="",
        ranges=RANGES,
        days=len(board.days),
        board=board,
        mails_chart=mails,
        queue_chart=queue,
        wait_chart=wait,
        overall=age(board.overall_median) if board.overall_median is not None else "-",
    )


ROUTES: list[BaseRoute] = [Route("/dashboard", dashboard, methods=["GET"])]
