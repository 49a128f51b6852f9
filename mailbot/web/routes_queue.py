"""The queue: open escalations, who waited longest first."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from mailbot.core.reasons import staff_text
from mailbot.services.queue_view import list_escalations
from mailbot.web.auth import Visit, console_of, page


@page("read")
async def queue(request: Request, visit: Visit) -> Response:
    console = console_of(request)
    now = console.app.clock.now()
    rows = list_escalations(console.app.store)
    return console.pages.render(
        request,
        "queue.html",
        title="Queue",
        rows=[(e, now - e.created_at, staff_text(e.reason)) for e in rows],
    )


ROUTES: list[BaseRoute] = [Route("/queue", queue, methods=["GET"])]
