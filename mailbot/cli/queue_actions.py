"""The actions of `mailbot queue`: claim, issue, transfer, reply, reject, resolve, note, reopen,
retry. Each is a few lines over `services/escalations.py` (and `escalation_reply.py`,
`escalation_retry.py`), which refuse in plain words."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from mailbot.cli import formats, output
from mailbot.cli.root import (
    ESCALATION_ID,
    Failure,
    actor_option,
    config_option,
    json_flag,
    open_app,
    plain_errors,
)
from mailbot.services.escalations import ActionResult

F = TypeVar("F", bound=Callable[..., Any])


def _done(result: ActionResult, as_json: bool) -> None:
    if as_json:
        output.print_json(result.as_json())
        return
    output.line(result.summary)
    if result.outbox_ids:
        output.line(
            f"Mail queued in the outbox (#{', #'.join(map(str, result.outbox_ids))}); "
            "the running worker sends it (or `mailbot run --once`)."
        )


def _action(func: F) -> F:
    """The options every queue action shares: --as, --json, --config."""
    return config_option(json_flag(actor_option(func)))


@click.command("claim")
@click.argument("escalation_id", type=ESCALATION_ID)
@click.option("--force", is_flag=True, help="Take it over from a colleague.")
@click.option("--release", is_flag=True, help="Give it back to the queue.")
@_action
def queue_claim(
    escalation_id: int, force: bool, release: bool, actor: str | None, as_json: bool
) -> None:
    """Claim an escalation, so colleagues see who is on it.

    \b
    Example:
      mailbot queue claim 3 --as alice
    """
    from mailbot.services.escalations import claim

    app = open_app()
    with plain_errors():
        result = claim(
            app.store,
            escalation_id,
            formats.actor(actor),
            app.clock.now(),
            force=force,
            release=release,
        )
    _done(result, as_json)


@click.command("issue")
@click.argument("escalation_id", type=ESCALATION_ID)
@click.option("--order", "order_id", metavar="ORDER", help="The paid order whose seat it uses.")
@click.option(
    "--grant",
    "grant_reason",
    metavar="REASON",
    help="A manual grant without an order, with the reason (finance sees it).",
)
@click.option(
    "--serial",
    "serials",
    multiple=True,
    metavar="SERIAL",
    help="License this serial (repeatable); default: the serials the bot saw.",
)
@click.option(
    "--email", default="", help="With --grant: mail to this address instead of the sender."
)
@click.option("--force", is_flag=True, help="Issue even when the order has no free seat.")
@_action
def queue_issue(
    escalation_id: int,
    order_id: str | None,
    grant_reason: str | None,
    serials: tuple[str, ...],
    email: str,
    force: bool,
    actor: str | None,
    as_json: bool,
) -> None:
    """Issue licenses for an escalation, mail them (to the order's email) and resolve it.

    \b
    Examples:
      mailbot queue issue 3 --order cs_test_a1
      mailbot queue issue 4 --grant "reseller replacement, ticket 812"
      mailbot queue issue 5 --order INV-2031 --serial AMC-5X7P-J077-A92P-0S6Z
    """
    from mailbot.services.escalations import issue

    app = open_app()
    with plain_errors():
        result = issue(
            app,
            escalation_id,
            formats.actor(actor),
            app.clock.now(),
            order_id=order_id,
            grant_reason=grant_reason,
            serials=serials,
            email=email,
            force=force,
        )
    _done(result, as_json)


@click.command("transfer")
@click.argument("escalation_id", type=ESCALATION_ID)
@click.option(
    "--old",
    "old_serial",
    default="",
    metavar="SERIAL",
    help="The serial whose license moves (default: from the mail).",
)
@click.option(
    "--new",
    "new_serial",
    default="",
    metavar="SERIAL",
    help="The serial that gets it (default: from the mail).",
)
@click.option("--reason", default="", help="Why a person allowed it, for the record.")
@_action
def queue_transfer(
    escalation_id: int,
    old_serial: str,
    new_serial: str,
    reason: str,
    actor: str | None,
    as_json: bool,
) -> None:
    """Carry out a transfer the bot held back (beyond the automatic limit), and resolve.

    \b
    Example:
      mailbot queue transfer 6 --reason "third new laptop this year, confirmed by phone"
    """
    from mailbot.services.escalations import transfer

    app = open_app()
    with plain_errors():
        result = transfer(
            app,
            escalation_id,
            formats.actor(actor),
            app.clock.now(),
            old_serial=old_serial,
            new_serial=new_serial,
            reason=reason,
        )
    _done(result, as_json)


@click.command("reply")
@click.argument("escalation_id", type=ESCALATION_ID)
@click.option(
    "--template",
    metavar="NAME",
    help="A reply template, e.g. clarify or resent (`mailbot queue templates` lists them).",
)
@click.option(
    "--text-file",
    "text_file",
    type=click.File("r", encoding="utf-8"),
    help="Your own answer, from a file ('-' reads standard input).",
)
@click.option(
    "--keep-open",
    is_flag=True,
    help="Keep the escalation open (you asked a question and wait for the answer).",
)
@_action
def queue_reply(
    escalation_id: int,
    template: str | None,
    text_file: Any,
    keep_open: bool,
    actor: str | None,
    as_json: bool,
) -> None:
    """Answer the sender, with a template or your own text, and resolve.

    \b
    Examples:
      mailbot queue reply 7 --text-file answer.txt
      mailbot queue reply 8 --template clarify --keep-open
    """
    from mailbot.services.escalation_reply import reply

    try:
        text = text_file.read() if text_file is not None else None
    except UnicodeDecodeError:
        raise Failure(
            f"{text_file.name} is not UTF-8 text; save it as UTF-8 and try again"
        ) from None
    app = open_app()
    with plain_errors():
        result = reply(
            app,
            escalation_id,
            formats.actor(actor),
            app.clock.now(),
            template=template,
            text=text,
            keep_open=keep_open,
        )
    _done(result, as_json)


@click.command("templates")
@config_option
def queue_templates() -> None:
    """List the templates `mailbot queue reply --template` can use.

    \b
    Example:
      mailbot queue templates
    """
    from mailbot.services.escalation_reply import reply_templates

    app = open_app()
    for name in reply_templates(app):
        output.line(name)


@click.command("reject")
@click.argument("escalation_id", type=ESCALATION_ID)
@click.option("--reason", required=True, help="Why the request is refused.")
@_action
def queue_reject(escalation_id: int, reason: str, actor: str | None, as_json: bool) -> None:
    """Close an escalation without issuing (no mail is sent; reply first if needed).

    \b
    Example:
      mailbot queue reject 9 --reason "order refunded on request, no license due"
    """
    from mailbot.services.escalations import reject

    app = open_app()
    with plain_errors():
        result = reject(app.store, escalation_id, formats.actor(actor), app.clock.now(), reason)
    _done(result, as_json)


@click.command("resolve")
@click.argument("escalation_id", type=ESCALATION_ID)
@click.option("--note", "note_text", default="", help="What was done, for the record.")
@_action
def queue_resolve(escalation_id: int, note_text: str, actor: str | None, as_json: bool) -> None:
    """Close an escalation that was handled outside mailbot.

    \b
    Example:
      mailbot queue resolve 10 --note "called the customer, new address noted"
    """
    from mailbot.services.escalations import resolve

    app = open_app()
    with plain_errors():
        result = resolve(app.store, escalation_id, formats.actor(actor), app.clock.now(), note_text)
    _done(result, as_json)


@click.command("note")
@click.argument("escalation_id", type=ESCALATION_ID)
@click.argument("text", nargs=-1, required=True)
@_action
def queue_note(escalation_id: int, text: tuple[str, ...], actor: str | None, as_json: bool) -> None:
    """Add a note to an escalation's history (also on closed ones).

    \b
    Example:
      mailbot queue note 3 "asked finance about the refund"
    """
    from mailbot.services.escalations import note

    app = open_app()
    with plain_errors():
        result = note(
            app.store, escalation_id, formats.actor(actor), app.clock.now(), " ".join(text)
        )
    _done(result, as_json)


@click.command("reopen")
@click.argument("escalation_id", type=ESCALATION_ID)
@click.option("--reason", default="", help="Why, for the record.")
@_action
def queue_reopen(escalation_id: int, reason: str, actor: str | None, as_json: bool) -> None:
    """Open a resolved or rejected escalation again.

    \b
    Example:
      mailbot queue reopen 9 --reason "customer sent the receipt"
    """
    from mailbot.services.escalations import reopen

    app = open_app()
    with plain_errors():
        result = reopen(app.store, escalation_id, formats.actor(actor), app.clock.now(), reason)
    _done(result, as_json)


@click.command("retry")
@click.argument("escalation_id", type=ESCALATION_ID)
@_action
def queue_retry(escalation_id: int, actor: str | None, as_json: bool) -> None:
    """Decide again on the stored mail, with today's orders and licenses (after an order
    arrived or a sync caught up); resolves it when the bot can now act.

    \b
    Example:
      mailbot queue retry 3
    """
    from mailbot.services.escalation_retry import retry

    app = open_app()
    with plain_errors():
        result = retry(app, escalation_id, formats.actor(actor), app.clock.now())
    _done(result, as_json)


ACTIONS = [
    queue_claim,
    queue_issue,
    queue_transfer,
    queue_reply,
    queue_templates,
    queue_reject,
    queue_resolve,
    queue_note,
    queue_reopen,
    queue_retry,
]
