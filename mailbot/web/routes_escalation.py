"""One escalation: the mail (text in a <pre>, HTML only in a sandboxed frame of its own), why
the bot stopped, the facts it saw, the history, and the actions (claim, assign, issue, grant,
transfer, reply with a preview of the exact mail, reject, resolve, note, retry, reopen).

Every action is a POST through `page(need)` (session, CSRF, role), calls the same service as
`mailbot queue ...` with the staff member's name as the actor, and redirects back with a
flash message. Each form carries how many history lines its page showed (`seen`); when a
colleague acted since, the action is not done: the page comes back with what changed and a
button that does it anyway.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from mailbot.app import App
from mailbot.core.reasons import staff_text
from mailbot.services import escalations
from mailbot.services.escalation_reply import reply_templates
from mailbot.services.escalation_retry import retry
from mailbot.services.escalations import ActionResult
from mailbot.services.orders import refresh_local_orders
from mailbot.services.queue_view import QueueError, get_escalation
from mailbot.services.staff_accounts import accounts
from mailbot.web import flash
from mailbot.web.auth import Visit, console_of, page
from mailbot.web.mail_frame import has_html
from mailbot.web.reply_flow import preview_page, reply_action

Action = Callable[[App, int, str, datetime, Visit], ActionResult]


def escalation_id_of(request: Request) -> int:
    value = request.path_params["escalation_id"]
    assert isinstance(value, int)
    return value


def escalation_page(
    request: Request,
    visit: Visit,
    escalation_id: int,
    status: int = 200,
    *,
    error: str = "",
    changes: list[Any] | None = None,
    repost: dict[str, str] | None = None,
) -> Response:
    """The escalation page; with `changes`, a notice of what colleagues did since the page
    this form came from, and a button that re-sends the form (`repost`) anyway."""
    console = console_of(request)
    app = console.app
    try:
        view = get_escalation(app, app.store, escalation_id)
    except QueueError:
        raise HTTPException(404) from None
    esc = view.escalation
    response = console.pages.render(
        request,
        "escalation.html",
        status,
        title=f"Escalation #{esc.id}",
        view=view,
        esc=esc,
        why=staff_text(esc.reason),
        waited=app.clock.now() - esc.created_at,
        has_html=view.message is not None and has_html(app.store, view.message),
        seen=len(view.audit),
        templates=reply_templates(app),
        colleagues=[a.name for a in accounts(app.store) if a.may("act")],
        order_ids=_order_choices(view),
        transfer=any(s.old_serial for s in esc.serials),
        error=error,
        changes=changes or [],
        repost=repost or {},
        action_path=request.url.path,
        flash=flash.take(request),
    )
    return flash.forget(request, response)


def _order_choices(view: Any) -> list[tuple[str, str]]:
    """(order id, label) of the orders a person may issue against: the sender's and those the
    bot saw, paid ones with free seats first."""
    choices: dict[str, str] = {}
    for o in sorted(view.customer.orders, key=lambda o: (o.status != "paid", -o.free)):
        choices[o.order_id] = f"{o.order_id} ({o.status}, {o.free} of {o.seats} seats free)"
    for o in view.escalation.facts.get("orders", []):
        order_id = str(o.get("order_id") or "")
        if order_id and order_id not in choices:
            choices[order_id] = f"{order_id} ({o.get('status', '?')}, {o.get('email', '')})"
    return list(choices.items())


@page("read")
async def show(request: Request, visit: Visit) -> Response:
    app = console_of(request).app
    refresh_local_orders(app)  # an order typed into the orders file a minute ago counts
    return escalation_page(request, visit, escalation_id_of(request))


def changed_since(request: Request, visit: Visit, escalation_id: int) -> Response | None:
    """The page again with what changed, when colleagues acted since the form's page was
    shown and the person has not confirmed; None to go ahead."""
    store = console_of(request).app.store
    try:
        seen = int(visit.text("seen", "-1"))
    except ValueError:
        seen = -1
    now_count = store.audit_count(escalation_id)
    if seen == now_count or visit.text("confirm") == "1":
        return None
    lines = store.audit_of(escalation_id)
    changes = lines[seen:] if 0 <= seen < now_count else lines[-3:]
    repost = {k: v for k, v in visit.form.items() if isinstance(v, str)}
    repost.pop("csrf", None)
    repost.pop("seen", None)
    return escalation_page(request, visit, escalation_id, 409, changes=changes, repost=repost)


def act(need: str, run: Action) -> Callable[[Request], Any]:
    """A POST endpoint for one action: role, changed-since check, the service call, then
    back to the page with its summary (or the page again with the refusal)."""

    @page(need)
    async def endpoint(request: Request, visit: Visit) -> Response:
        app = console_of(request).app
        escalation_id = escalation_id_of(request)
        if app.store.escalation(escalation_id) is None:
            raise HTTPException(404)
        notice = changed_since(request, visit, escalation_id)
        if notice is not None:
            return notice
        try:
            result = run(app, escalation_id, visit.account.name, app.clock.now(), visit)
        except QueueError as exc:
            return escalation_page(request, visit, escalation_id, 400, error=str(exc))
        message = result.summary
        if result.outbox_ids:
            message += ". The mail is in the outbox; the running worker sends it."
        return flash.redirect_with(request, f"/escalations/{escalation_id}", message)

    endpoint.__name__ = run.__name__
    return endpoint


# -- the actions: the same services and semantics as `mailbot queue ...` ----------------------


def _claim(app: App, eid: int, actor: str, now: datetime, visit: Visit) -> ActionResult:
    return escalations.claim(app.store, eid, actor, now, force=visit.text("force") == "1")


def _release(app: App, eid: int, actor: str, now: datetime, visit: Visit) -> ActionResult:
    return escalations.claim(app.store, eid, actor, now, release=True)


def _assign(app: App, eid: int, actor: str, now: datetime, visit: Visit) -> ActionResult:
    return escalations.assign(app.store, eid, actor, now, visit.text("to").strip())


def _note(app: App, eid: int, actor: str, now: datetime, visit: Visit) -> ActionResult:
    return escalations.note(app.store, eid, actor, now, visit.text("text"))


def _reject(app: App, eid: int, actor: str, now: datetime, visit: Visit) -> ActionResult:
    return escalations.reject(app.store, eid, actor, now, visit.text("reason"))


def _resolve(app: App, eid: int, actor: str, now: datetime, visit: Visit) -> ActionResult:
    return escalations.resolve(app.store, eid, actor, now, visit.text("note"))


def _reopen(app: App, eid: int, actor: str, now: datetime, visit: Visit) -> ActionResult:
    return escalations.reopen(app.store, eid, actor, now, visit.text("reason"))


def _retry(app: App, eid: int, actor: str, now: datetime, visit: Visit) -> ActionResult:
    return retry(app, eid, actor, now)


def _serials(visit: Visit) -> list[str]:
    return [s for s in visit.text("serials").replace(",", " ").split() if s]


def _issue(app: App, eid: int, actor: str, now: datetime, visit: Visit) -> ActionResult:
    order_id = visit.text("order").strip()
    if not order_id:
        raise QueueError("choose the order whose seat the license uses")
    return escalations.issue(
        app,
        eid,
        actor,
        now,
        order_id=order_id,
        serials=_serials(visit),
        force=visit.text("force") == "1",
    )


def _grant(app: App, eid: int, actor: str, now: datetime, visit: Visit) -> ActionResult:
    reason = visit.text("reason").strip()
    if not reason:
        raise QueueError("say why this license needs no order; finance reads it")
    return escalations.issue(
        app,
        eid,
        actor,
        now,
        grant_reason=reason,
        serials=_serials(visit),
        email=visit.text("email").strip(),
    )


def _transfer(app: App, eid: int, actor: str, now: datetime, visit: Visit) -> ActionResult:
    return escalations.transfer(app, eid, actor, now, reason=visit.text("reason").strip())


@page("reply")
async def reply(request: Request, visit: Visit) -> Response:
    """Reply: the first POST shows the exact mail (nothing queued), the second queues it."""
    escalation_id = escalation_id_of(request)
    if console_of(request).app.store.escalation(escalation_id) is None:
        raise HTTPException(404)
    if visit.text("step") != "send":
        return preview_page(request, visit, escalation_id, escalation_page)
    notice = changed_since(request, visit, escalation_id)
    if notice is not None:
        return notice
    return reply_action(request, visit, escalation_id, escalation_page)


def _post(name: str, need: str, run: Action) -> Route:
    return Route(f"/escalations/{{escalation_id:int}}/{name}", act(need, run), methods=["POST"])


ROUTES: list[BaseRoute] = [
    Route("/escalations/{escalation_id:int}", show, methods=["GET"]),
    _post("claim", "act", _claim),
    _post("release", "act", _release),
    _post("assign", "act", _assign),
    _post("note", "act", _note),
    _post("reject", "act", _reject),
    _post("resolve", "act", _resolve),
    _post("reopen", "act", _reopen),
    _post("retry", "act", _retry),
    _post("issue", "issue", _issue),
    _post("grant", "issue", _grant),
    _post("transfer", "issue", _transfer),
    Route("/escalations/{escalation_id:int}/reply", reply, methods=["POST"]),
]
