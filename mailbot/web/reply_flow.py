"""Replying from the console in two steps: a preview of the exact mail (composed by the real
reply code, then rolled back, services/reply_preview.py), then "Send this mail", which queues
the same mail or, when it would now differ, shows the new one instead."""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response

from mailbot.services.queue_view import QueueError
from mailbot.services.reply_preview import PreviewChanged, ReplyPreview, preview_reply, send_reply
from mailbot.web import flash
from mailbot.web.auth import Visit, console_of

PageOf = Callable[..., Response]


def _choice(visit: Visit) -> tuple[str | None, str | None, bool]:
    template = visit.text("template").strip() or None
    # Browsers send a textarea's lines with CRLF; the mail and the preview's hidden field
    # carry plain newlines, so the confirmed text is the previewed one.
    typed = visit.text("text").replace("\r\n", "\n").replace("\r", "\n")
    text = typed if template is None else None
    return template, text, visit.text("keep_open") == "1"


def _render(
    request: Request, visit: Visit, escalation_id: int, preview: ReplyPreview, changed: bool
) -> Response:
    template, text, keep_open = _choice(visit)
    return console_of(request).pages.render(
        request,
        "reply_preview.html",
        409 if changed else 200,
        title=f"Reply to #{escalation_id}: preview",
        escalation_id=escalation_id,
        preview=preview,
        changed=changed,
        chosen_template=template or "",
        text=text or "",
        keep_open=keep_open,
        seen=visit.text("seen"),
    )


def preview_page(
    request: Request, visit: Visit, escalation_id: int, escalation_page: PageOf
) -> Response:
    """The mail as it would go out; nothing is queued or recorded."""
    app = console_of(request).app
    template, text, keep_open = _choice(visit)
    try:
        preview = preview_reply(
            app,
            escalation_id,
            visit.account.name,
            app.clock.now(),
            template=template,
            text=text,
            keep_open=keep_open,
        )
    except QueueError as exc:
        return escalation_page(request, visit, escalation_id, 400, error=str(exc))
    return _render(request, visit, escalation_id, preview, changed=False)


def reply_action(
    request: Request, visit: Visit, escalation_id: int, escalation_page: PageOf
) -> Response:
    """Queue the previewed mail, if it is still the one previewed."""
    app = console_of(request).app
    template, text, keep_open = _choice(visit)
    try:
        result = send_reply(
            app,
            escalation_id,
            visit.account.name,
            app.clock.now(),
            previewed=visit.text("previewed"),
            template=template,
            text=text,
            keep_open=keep_open,
        )
    except PreviewChanged as exc:
        return _render(request, visit, escalation_id, exc.preview, changed=True)
    except QueueError as exc:
        return escalation_page(request, visit, escalation_id, 400, error=str(exc))
    return flash.redirect_with(
        request,
        f"/escalations/{escalation_id}",
        result.summary + ". The mail is in the outbox; the running worker sends it.",
    )
