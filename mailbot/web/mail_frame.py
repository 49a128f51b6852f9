"""An HTML mail, sanitized, as a document of its own for the escalation page's
`<iframe sandbox>`: its own CSP (nothing runs, nothing is fetched but data: images, no form
goes anywhere, it is sandboxed even when opened directly) on top of the allow-list sanitizer
(mail/parse/html_safe.py)."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from mailbot.mail.parse.html_safe import html_body, sanitize_html
from mailbot.store import Store
from mailbot.store.rows import MessageRow
from mailbot.web.auth import Visit, console_of, page

FRAME_CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; form-action 'none'; "
    "base-uri 'none'; frame-ancestors 'self'; sandbox"
)


def has_html(store: Store, message: MessageRow) -> bool:
    """Whether the stored mail has an HTML body to show in the frame."""
    raw = store.message_raw(message.id) if message.has_raw else None
    return bool(raw) and b"text/html" in (raw or b"").lower() and html_body(raw or b"") is not None


@page("read")
async def mail_frame(request: Request, visit: Visit) -> Response:
    store = console_of(request).app.store
    esc = store.escalation(int(request.path_params["escalation_id"]))
    raw = store.message_raw(esc.message_row) if esc and esc.message_row is not None else None
    body = html_body(raw) if raw else None
    if body is None:
        raise HTTPException(404)
    document = (
        '<!doctype html><html><head><meta charset="utf-8"><title>mail</title></head>'
        f"<body>{sanitize_html(body)}</body></html>"
    )
    return HTMLResponse(
        document,
        headers={"content-security-policy": FRAME_CSP, "x-frame-options": "SAMEORIGIN"},
    )


ROUTES: list[BaseRoute] = [
    Route("/escalations/{escalation_id:int}/mail", mail_frame, methods=["GET"]),
]
