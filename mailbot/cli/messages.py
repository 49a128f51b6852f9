"""`mailbot messages`: every processed mail and its outcome."""

from __future__ import annotations

import click

from mailbot.cli import output
from mailbot.cli.formats import when
from mailbot.cli.root import config_option, open_app
from mailbot.core.model import Outcome
from mailbot.store.rows import MessageRow


@click.group()
def messages() -> None:
    """Every processed mail and its outcome.

    \b
    Example:
      mailbot messages list --outcome escalated
    """


def message_json(m: MessageRow) -> dict[str, object]:
    """The scripting contract: message_id, sender, outcome, reason, serials (and more)."""
    return {
        "id": m.id,
        "mailbox_key": m.mailbox_key,
        "message_id": m.message_id,
        "sender": m.sender,
        "subject": m.subject,
        "received_at": m.received_at,
        "processed_at": m.processed_at,
        "outcome": m.outcome,
        "reason": m.reason,
        "serials": [s.as_json() for s in m.serials],
    }


@messages.command("list")
@click.option("--json", "as_json", is_flag=True, help="A JSON array, for scripts.")
@click.option("--outcome", type=click.Choice([o.value for o in Outcome]), help="Only this outcome.")
@click.option("--sender", help="Only mail from this address.")
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=0,
    help="At most this many, newest first (0 = all).",
)
@config_option
def messages_list(as_json: bool, outcome: str | None, sender: str | None, limit: int) -> None:
    """List processed mail with outcome, reason and serials.

    \b
    Example:
      mailbot messages list --json | jq '.[] | select(.outcome=="issued")'
    """
    app = open_app()
    items = app.store.messages(outcome=outcome, sender=sender, limit=limit)
    if as_json:
        output.print_json([message_json(m) for m in items])
        return
    output.show(
        output.table(
            None,
            ["#", "processed", "sender", "outcome", "reason", "serials"],
            [
                [
                    m.id,
                    when(m.processed_at),
                    m.sender,
                    m.outcome,
                    m.reason or "",
                    ", ".join(s.serial for s in m.serials),
                ]
                for m in items
            ],
        )
    )
