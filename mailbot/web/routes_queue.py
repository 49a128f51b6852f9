"""The queue: views with counts (open, mine, unclaimed, by reason, waiting on payment, closed),
the search box (FTS5), pages of 50, each row's wait against `[staff] answer_within_hours`."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from mailbot.core.reasons import staff_text
from mailbot.services.queue_search import queue_page
from mailbot.web import flash
from mailbot.web.auth import Visit, console_of, page

VIEW_LABELS = (
    ("open", "Open"),
    ("mine", "Mine"),
    ("unclaimed", "Unclaimed"),
    ("payment", "Waiting on payment"),
    ("closed", "Closed"),
)


def _number(text: str | None, default: int = 1) -> int:
    try:
        return max(1, min(int(text or default), 1_000_000))
    except ValueError:
        return default


@page("read")
async def queue(request: Request, visit: Visit) -> Response:
    console = console_of(request)
    params = request.query_params
    app = console.app
    found = queue_page(
        app.store,
        actor=visit.account.name,
        now=app.clock.now(),
        answer_within=timedelta(hours=app.settings.staff.answer_within_hours),
        view=params.get("view", "open"),
        reason=params.get("reason", "")[:40],
        query=params.get("q", ""),
        page=_number(params.get("page")),
    )
    counts = found.counts
    per_view = {
        "open": counts.open,
        "mine": counts.mine,
        "unclaimed": counts.unclaimed,
        "payment": counts.waiting_payment,
        "closed": counts.closed,
    }

    def link(**change: str | int) -> str:
        """This listing's address with some parameters changed (page back to 1 by default)."""
        current: dict[str, str | int] = {"view": found.view, "reason": found.reason}
        current["q"] = found.query
        current.update(change)
        kept = {k: v for k, v in current.items() if v not in ("", 1) or k == "view"}
        return "/queue?" + urlencode(kept)

    response = console.pages.render(
        request,
        "queue.html",
        title="Queue",
        found=found,
        views=[(key, label, per_view[key]) for key, label in VIEW_LABELS],
        reasons=[(r, n, staff_text(r)) for r, n in counts.by_reason],
        link=link,
        flash=flash.take(request),
    )
    return flash.forget(request, response)


ROUTES: list[BaseRoute] = [Route("/queue", queue, methods=["GET"])]
