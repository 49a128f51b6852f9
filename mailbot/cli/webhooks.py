"""`mailbot webhooks`: the events sent to the vendor's other systems, what became of them, and
sending them again (services/webhooks.py). Not `mailbot webhook`, which receives Stripe's."""

from __future__ import annotations

import click

from mailbot.cli import output
from mailbot.cli.formats import when
from mailbot.cli.root import Failure, config_option, open_app, plain_errors
from mailbot.core.events import EVENT_STATES, EVENT_TYPES
from mailbot.services.webhooks import WebhookReport


@click.group()
def webhooks() -> None:
    """Events for other systems (signed webhooks): list, show, resend, send now.

    \b
    Example:
      mailbot webhooks list --state failed
    """


@webhooks.command("list")
@click.option("--state", "states", multiple=True, type=click.Choice(EVENT_STATES))
@click.option("--type", "types", multiple=True, type=click.Choice(EVENT_TYPES))
@click.option("--limit", type=click.IntRange(1, 100_000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@config_option
def webhooks_list(
    states: tuple[str, ...], types: tuple[str, ...], limit: int, as_json: bool
) -> None:
    """List events, newest first: state, type, tries and the last error.

    \b
    Example:
      mailbot webhooks list --state failed --type license.issued
    """
    from mailbot.services.webhooks import event_json, list_events

    app = open_app()
    with plain_errors():
        events = list_events(app.store, states=states, types=types, limit=limit)
    if as_json:
        output.print_json([event_json(e) for e in events])
        return
    if not events:
        output.line("No events." if not (states or types) else "No events like that.")
        return
    output.show(
        output.table(
            None,
            ["id", "type", "state", "tries", "created", "next try", "last error"],
            [
                [
                    e.event_id,
                    e.type,
                    e.state,
                    e.attempts,
                    when(e.created_at),
                    when(e.next_attempt_at) if e.state == "pending" else "",
                    e.last_error,
                ]
                for e in events
            ],
        )
    )


@webhooks.command("show")
@click.argument("event_id")
@click.option("--json", "as_json", is_flag=True)
@config_option
def webhooks_show(event_id: str, as_json: bool) -> None:
    """Show one event with the data it carries.

    \b
    Example:
      mailbot webhooks show evt_3f9c0a1b2c3d4e5f6a7b
    """
    from mailbot.services.webhooks import event_json, get_event

    app = open_app()
    with plain_errors():
        event = get_event(app.store, event_id)
    data = event_json(event)
    if as_json:
        output.print_json(data)
        return
    for key in ("id", "type", "state", "attempts", "created_at", "next_attempt_at", "last_error"):
        output.line(f"{key}: {output.safe(data[key] if data[key] is not None else '')}")
    output.line("data:")
    output.print_json(data["data"])


@webhooks.command("resend")
@click.argument("event_ids", nargs=-1, required=True)
@config_option
def webhooks_resend(event_ids: tuple[str, ...]) -> None:
    """Queue events again (failed ones, or ones a receiver lost) under their own ids; the
    worker posts them on its next pass, or `mailbot webhooks send` at once.

    \b
    Example:
      mailbot webhooks resend evt_3f9c0a1b2c3d4e5f6a7b
    """
    from mailbot.services.webhooks import resend

    app = open_app()
    with plain_errors():
        for event_id in event_ids:
            event = resend(app.store, event_id, app.clock.now())
            output.line(f"{event.event_id} ({event.type}) queued again")


@webhooks.command("send")
@click.option("--json", "as_json", is_flag=True)
@config_option
def webhooks_send(as_json: bool) -> None:
    """Post the events that are due now (what `mailbot run` does every few seconds).

    \b
    Example:
      mailbot webhooks send
    """
    from mailbot.services.webhooks import deliver_events

    app = open_app()
    if not app.settings.webhooks.url:
        raise Failure("no [webhooks] url is configured: there is nowhere to send events")
    report = deliver_events(app)
    if as_json:
        output.print_json(report.as_json())
    else:
        summary(report)
    if report.blocked:
        raise Failure(report.blocked)


def summary(report: WebhookReport) -> None:
    """One line of what a delivery pass did (also printed by `run --once`)."""
    text = f"webhooks delivered: {report.delivered}"
    if report.retrying:
        text += f", waiting to retry: {report.retrying}"
    if report.failed:
        text += f", failed: {report.failed} (see `mailbot webhooks list --state failed`)"
    output.line(text)
    for error in report.errors:
        output.line(f"  {output.safe(error)}")
