"""`mailbot queue`: the human queue. Listing and showing here; the actions in
`queue_actions.py`, added to the group below."""

from __future__ import annotations

import sys
from datetime import timedelta
from typing import Any

import click

from mailbot.cli import output
from mailbot.cli.customer import customer_tables
from mailbot.cli.formats import day, expiry, format_age, parse_age, when
from mailbot.cli.queue_actions import ACTIONS
from mailbot.cli.root import (
    ESCALATION_ID,
    Failure,
    config_option,
    json_flag,
    open_app,
    plain_errors,
)
from mailbot.core.reasons import staff_text
from mailbot.services.queue_view import STATES, EscalationView
from mailbot.store.rows import EscalationRow


@click.group()
def queue() -> None:
    """The human queue: mail the bot handed to a person, and what to do about it.

    \b
    Example:
      mailbot queue list
      mailbot queue show 3
      mailbot queue issue 3 --order cs_test_a1
    """


for _command in ACTIONS:
    queue.add_command(_command)


def _age(_ctx: click.Context, _param: click.Parameter, value: str | None) -> timedelta | None:
    if value is None:
        return None
    try:
        return parse_age(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def escalation_json(e: EscalationRow) -> dict[str, Any]:
    """The scripting contract: id, reason, state, sender, message_id, serials (and more)."""
    return {
        "id": e.id,
        "reason": e.reason,
        "state": e.state,
        "sender": e.sender,
        "claimed_by": e.claimed_by,
        "created_at": e.created_at,
        "updated_at": e.updated_at,
        "serials": [s.as_json() for s in e.serials],
        "detail": e.detail,
        "message_id": e.message_id,
        "subject": e.subject,
    }


@queue.command("list")
@click.option("--all", "show_all", is_flag=True, help="Resolved and rejected ones too.")
@click.option("--state", type=click.Choice(STATES), help="Only this state (default: open).")
@click.option("--reason", help="Only this reason, e.g. no_order.")
@click.option("--sender", help="Only this sender (or @domain).")
@click.option(
    "--older-than",
    "older_than",
    callback=_age,
    metavar="AGE",
    help="Only those waiting at least AGE (30m, 2h, 3d, 1w).",
)
@click.option(
    "--newer-than", "newer_than", callback=_age, metavar="AGE", help="Only those younger than AGE."
)
@json_flag
@config_option
def queue_list(
    show_all: bool,
    state: str | None,
    reason: str | None,
    sender: str | None,
    older_than: timedelta | None,
    newer_than: timedelta | None,
    as_json: bool,
) -> None:
    """List escalations, oldest first.

    \b
    Example:
      mailbot queue list --reason seats_exhausted --older-than 2h
    """
    from mailbot.services.queue_view import list_escalations

    app = open_app()
    now = app.clock.now()
    items = list_escalations(
        app.store,
        state=None if show_all else (state or "open"),
        reason=reason,
        sender=sender,
        older_than=older_than,
        newer_than=newer_than,
        now=now,
    )
    if as_json:
        output.print_json([escalation_json(e) for e in items])
        return
    if not items:
        output.line("The queue is empty." if not show_all else "No escalations.")
        return
    # The state column only when several states are listed, "claimed" only when someone did.
    with_claim = any(e.claimed_by for e in items)
    columns = (
        ["#", "age"] + (["state"] if show_all else []) + ["reason", "sender / subject", "serials"]
    )
    columns += ["claimed"] if with_claim else []
    rows = []
    for e in items:
        row: list[Any] = [e.id, format_age(now - e.created_at)]
        row += [e.state] if show_all else []
        row += [
            e.reason,
            f"{e.sender or '-'}\n{(e.subject or '')[:60]}",
            "\n".join(s.serial for s in e.serials),
        ]
        row += [e.claimed_by or ""] if with_claim else []
        rows.append(row)
    output.show(output.table(None, columns, rows))
    output.line("Details and the command that resolves one: mailbot queue show ID")


@queue.command("show")
@click.argument("escalation_id", type=ESCALATION_ID)
@click.option("--raw", is_flag=True, help="Print the original mail as received, and stop.")
@json_flag
@config_option
def queue_show(escalation_id: int, raw: bool, as_json: bool) -> None:
    """The original mail, why the bot stopped, the facts it saw, the history, and the commands
    that would resolve it.

    \b
    Example:
      mailbot queue show 3
      mailbot queue show 3 --raw > mail.eml
    """
    from mailbot.services.orders import refresh_local_orders
    from mailbot.services.queue_view import get_escalation
    from mailbot.services.suggestions import suggested_commands

    app = open_app()
    with plain_errors():
        refresh_local_orders(app)
        view = get_escalation(app, app.store, escalation_id)
    if raw:
        stored = app.store.message_raw(view.message.id) if view.message else None
        if not stored:
            raise Failure(f"the mail of #{escalation_id} was not stored")
        sys.stdout.buffer.write(stored)
        return
    suggestions = suggested_commands(view)
    if as_json:
        output.print_json(
            {
                **escalation_json(view.escalation),
                "facts": view.escalation.facts,
                "message": _message_json(view),
                "audit": view.audit,
                "serial_licenses": [_license_json(lic) for lic in view.serial_licenses],
                "customer": view.customer,
                "suggestions": suggestions,
            }
        )
        return
    _show(view, suggestions)


def _license_json(lic: Any) -> dict[str, Any]:
    data = output.plain(lic)
    data.pop("license_string", None)  # `licenses show` has it; a queue view does not
    return dict(data)


def _message_json(view: EscalationView) -> dict[str, Any] | None:
    m = view.message
    if m is None:
        return None
    data = dict(output.plain(m))
    data["text"] = view.mail.text if view.mail else ""
    data["headers"] = dict(view.mail.headers) if view.mail else {}
    return data


def _show(view: EscalationView, suggestions: list[str]) -> None:
    esc, m = view.escalation, view.message
    output.rule(f"escalation #{esc.id}: {esc.reason} ({esc.state})")
    output.line(f"why:        {staff_text(esc.reason)}")
    output.line(f"created:    {when(esc.created_at)} UTC   updated: {when(esc.updated_at)} UTC")
    if esc.claimed_by:
        output.line(f"claimed by: {esc.claimed_by}")
    headers = view.mail.headers if view.mail else ()
    if headers:
        output.heading("Headers")
        for name, value in headers:
            output.line(f"  {name}: {value}")
    else:
        output.line(f"sender: {esc.sender or '-'}   subject: {(m.subject if m else '') or '-'}")
    output.heading("What the bot saw")
    for text in esc.detail.splitlines():
        output.line(f"  - {text}")
    if esc.serials:
        output.show(
            output.table(
                "Serials",
                ["serial", "as found", "check", "decision", "reason"],
                [
                    [
                        s.serial,
                        "" if s.as_found == s.serial else s.as_found,
                        s.status,
                        s.action or "",
                        s.reason or "",
                    ]
                    for s in esc.serials
                ],
            )
        )
    if view.serial_licenses:
        output.show(
            output.table(
                "Licenses of these serials",
                ["#", "serial", "customer", "order", "state", "issued", "expires"],
                [
                    [
                        lic.license_no,
                        lic.serial,
                        lic.customer_email,
                        lic.order_id or "(grant)",
                        lic.state.value,
                        day(lic.issued_at),
                        expiry(lic),
                    ]
                    for lic in view.serial_licenses
                ],
            )
        )
    customer_tables(view.customer, skip_escalation=esc.id)
    if m is not None and m.error:
        output.heading("Internal error")
        output.line(m.error)
    if view.mail is not None and (view.mail.text or m is not None and m.has_raw):
        output.heading("The mail")
        output.line(view.mail.text)
    elif m is not None and m.size:
        output.line(f"\n(the mail, {m.size} bytes, was not stored)")
    if view.audit:
        output.show(
            output.table(
                "History",
                ["when", "who", "what", "detail"],
                [[when(a.at), a.actor, a.action, a.detail] for a in view.audit],
            )
        )
    if suggestions:
        output.heading("To resolve it")
        for command in suggestions:
            output.line(f"  {command}")
