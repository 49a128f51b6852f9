"""The finance report: a month or a date range, exceptions first, then totals and order lines;
and the same report as CSV, the very files `mailbot report --format csv` writes.

For finance and admins only (`@page("finance")`). A period the page cannot use (a malformed
date, an end before the start, more than a year) is said in a sentence on the page.
"""

from __future__ import annotations

import calendar
import re
from datetime import date, timedelta

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from mailbot.services.report import NEEDS_ACTION, Period, load_report, period_for
from mailbot.services.report_render import CSV_SECTIONS, render_csv
from mailbot.services.report_terms import OUTLOOK_TEXT
from mailbot.web.auth import Visit, console_of, page
from mailbot.web.common import fresh_orders, refused, sees_amounts

MAX_DAYS = 366  # a year at once; longer ranges are for `mailbot report --from --to`
_MONTH = re.compile(r"(\d{4})-(\d{2})\Z")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}\Z")


class PeriodError(ValueError):
    """A period parameter that names no usable period, in plain words."""


def _day(text: str, name: str) -> date | None:
    text = text.strip()
    if not text:
        return None
    try:
        if not _DAY.match(text):
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise PeriodError(f"{name} {text[:40]!r} is not a date; write it as 2026-11-30") from None


def period_of(params: QueryParams, today: date) -> Period:
    """`month=YYYY-MM`, or `from`/`to` days with `period_for`'s defaults (neither: this month)."""
    month = params.get("month", "").strip()
    if month:
        found = _MONTH.match(month)
        if not found or not 1 <= int(found.group(2)) <= 12 or int(found.group(1)) < 1:
            raise PeriodError(f"month {month[:40]!r} is not a month; write it as 2026-11")
        year, number = int(found.group(1)), int(found.group(2))
        start = date(year, number, 1)
        period = Period(start, start.replace(day=calendar.monthrange(year, number)[1]))
    else:
        start_day, end_day = _day(params.get("from", ""), "from"), _day(params.get("to", ""), "to")
        try:
            period = period_for(start_day, end_day, today)
        except ValueError as exc:
            raise PeriodError(str(exc)) from None
    if period.end - period.start >= timedelta(days=MAX_DAYS):
        raise PeriodError(
            f"the period has {(period.end - period.start).days + 1} days; the console shows at "
            f"most {MAX_DAYS} at once (`mailbot report --from --to` has no limit)"
        )
    return period


def _query(period: Period) -> str:
    return f"from={period.start.isoformat()}&to={period.end.isoformat()}"


@page("finance")
async def report(request: Request, visit: Visit) -> Response:
    console = console_of(request)
    now = console.app.clock.now()
    try:
        period = period_of(request.query_params, now.date())
    except PeriodError as exc:
        return console.pages.render(
            request,
            "report.html",
            400,
            title="Finance report",
            error=str(exc),
            result=None,
            params=request.query_params,
            sections=CSV_SECTIONS,
        )
    warning = fresh_orders(console)
    result = load_report(
        console.app.store, period, now, grace_days=console.app.policy.subscription_grace_days
    )
    return console.pages.render(
        request,
        "report.html",
        title="Finance report",
        error="",
        warning=warning,
        result=result,
        params=request.query_params,
        query=_query(period),
        sections=CSV_SECTIONS,
        urgent=[e for e in result.exceptions if e.kind in NEEDS_ACTION],
        events=[e for e in result.exceptions if e.kind not in NEEDS_ACTION],
        amounts=sees_amounts(console, visit.account),
        outlooks=OUTLOOK_TEXT,
    )


@page("finance")
async def report_csv(request: Request, visit: Visit) -> Response:
    console = console_of(request)
    now = console.app.clock.now()
    section = request.query_params.get("section", "orders")
    if section not in CSV_SECTIONS:
        return refused(
            request,
            console,
            400,
            "No such table",
            f"The report's CSV tables are {', '.join(CSV_SECTIONS)}.",
        )
    try:
        period = period_of(request.query_params, now.date())
    except PeriodError as exc:
        return refused(request, console, 400, "Not a period", f"No CSV: {exc}.")
    fresh_orders(console)
    grace = console.app.policy.subscription_grace_days
    text = render_csv(load_report(console.app.store, period, now, grace_days=grace), section)
    name = f"mailbot-report-{period.start.isoformat()}-{period.end.isoformat()}-{section}.csv"
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


ROUTES: list[BaseRoute] = [
    Route("/report", report, methods=["GET"]),
    Route("/report.csv", report_csv, methods=["GET"]),
]
