"""One customer on one screen: orders with seats, licenses, mails with outcomes, escalations."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from mailbot.core.reasons import staff_text
from mailbot.services.customers import customer_overview
from mailbot.web.auth import Visit, console_of, page
from mailbot.web.common import fresh_orders, refused, sees_amounts

MAX_ADDRESS = 320  # RFC 5321's longest path; anything longer is no customer of ours


@page("read")
async def customer(request: Request, visit: Visit) -> Response:
    console = console_of(request)
    email = str(request.path_params["email"]).strip()
    if not email or len(email) > MAX_ADDRESS:
        return refused(request, console, 400, "Not an address", "Give a customer's mail address.")
    warning = fresh_orders(console)
    view = customer_overview(console.app.store, email, today=console.app.clock.now().date())
    return console.pages.render(
        request,
        "customer.html",
        200 if view.known else 404,
        title=view.email,
        c=view,
        warning=warning,
        amounts=sees_amounts(console, visit.account),
        why=staff_text,
    )


ROUTES: list[BaseRoute] = [Route("/customers/{email:path}", customer, methods=["GET"])]
