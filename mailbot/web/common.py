"""What the customer, license, report and dashboard pages share: fresh orders, who sees money,
and the page that says a request could not be answered (never a traceback)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from mailbot.core.errors import SetupError
from mailbot.services.orders import refresh_local_orders
from mailbot.services.staff_accounts import Account
from mailbot.web.state import Console


def fresh_orders(console: Console) -> str:
    """Read a changed local orders file first, as the CLI's `customer` and `report` do, so a
    page shows the order typed in a minute ago. Returns a warning when the file cannot be
    read: the page then shows what the store has, and says so."""
    try:
        refresh_local_orders(console.app)
    except (SetupError, ValueError) as exc:
        return f"The orders file could not be read, so orders may be out of date: {exc}"
    return ""


def sees_amounts(console: Console, account: Account) -> bool:
    """Money on screen: finance and admins; support only with `[web] support_sees_amounts`."""
    return account.may("amounts") or (
        account.may("issue") and console.app.settings.web.support_sees_amounts
    )


def refused(request: Request, console: Console, status: int, title: str, message: str) -> Response:
    """A request we cannot answer, said in a sentence on the console's error page."""
    return console.pages.render(request, "error.html", status, title=title, message=message)
