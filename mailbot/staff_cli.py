"""Commands for support staff: the human queue."""

from __future__ import annotations

import email
import email.policy
import sys
from typing import Any

import click

from .cli import Failure, cli, config_option, console, open_app, print_json, table
from .queue import QueueError, get_escalation, list_escalations


@cli.group()
def queue() -> None:
    """The human queue: mail the bot handed to a person.

    \b
    Example:
      mailbot queue list
      mailbot queue show 3
    """


@queue.command("list")
@click.option("--all", "show_all", is_flag=True, help="Resolved and rejected ones too.")
@click.option("--state", type=click.Choice(["open", "resolved", "rejected"]),
              help="Only this state (default: open).")
@click.option("--reason", help="Only this reason, e.g. no_order.")
@click.option("--sender", help="Only this sender.")
@click.option("--json", "as_json", is_flag=True, help="A JSON array, for scripts.")
@config_option
def queue_list(show_all: bool, state: str | None, reason: str | None, sender: str | None,
               as_json: bool) -> None:
    """List escalations, oldest first.

    \b
    Example:
      mailbot queue list --reason seats_exhausted
    """
    app = open_app()
    items = list_escalations(app.store, state=None if show_all else (state or "open"),
                             reason=reason, sender=sender)
    if as_json:
        print_json([{k: v for k, v in i.items() if k != "message_row"} for i in items])
        return
    if not items:
        console.print("The queue is empty." if not show_all else "No escalations.")
        return
    rows = [[i["id"], i["created_at"][:16].replace("T", " "), i["state"], i["reason"],
             i["sender"] or "-", ", ".join(s["serial"] for s in i["serials"]),
             i["claimed_by"] or ""] for i in items]
    console.print(table(None, ["#", "since", "state", "reason", "sender", "serials", "claimed"],
                        rows))
    console.print("Details: mailbot queue show ID")


@queue.command("show")
@click.argument("escalation_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@config_option
def queue_show(escalation_id: int, as_json: bool) -> None:
    """The original mail, why the bot stopped, and the facts it saw.

    \b
    Example:
      mailbot queue show 3
    """
    app = open_app()
    try:
        esc = get_escalation(app.store, escalation_id)
    except QueueError as exc:
        raise Failure(str(exc)) from None
    if as_json:
        message = dict(esc.pop("message") or {})
        raw = message.pop("raw", None)
        message["text"] = _mail_text(raw) if raw else ""
        print_json({**esc, "message": message})
        return
    _show(esc)


def _mail_text(raw: bytes) -> str:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    try:
        body = msg.get_body(preferencelist=("plain", "html"))
        return body.get_content() if body is not None else ""
    except Exception:  # noqa: BLE001 - staff still get the headers
        return "(the body could not be decoded; see the raw mail)"


def _show(esc: dict[str, Any]) -> None:
    m = esc["message"] or {}
    console.rule(f"escalation #{esc['id']}: {esc['reason']} ({esc['state']})")
    console.print(f"sender:   {esc['sender'] or '-'}", highlight=False)
    console.print(f"subject:  {m.get('subject') or '-'}", highlight=False)
    console.print(f"received: {m.get('received_at') or '-'}   message-id: "
                  f"{m.get('message_id') or '-'}", highlight=False)
    if esc.get("claimed_by"):
        console.print(f"claimed by: {esc['claimed_by']}")
    console.print("\n[bold]Why the bot stopped[/]")
    for line in (esc.get("detail") or "").splitlines():
        console.print(f"  - {line}", highlight=False)
    if esc["serials"]:
        console.print(table("Serials", ["serial", "as found", "check", "decision", "reason"],
                            [[s["serial"], s["as_found"], s["status"], s.get("action") or "",
                              s.get("reason") or ""] for s in esc["serials"]]))
    facts = esc.get("facts") or {}
    if facts.get("orders"):
        console.print(table("Orders the bot saw", ["order", "email", "status", "seats",
                                                   "refunded", "usable"],
                            [[o["order_id"], o["email"], o["status"], o["seats"],
                              o["refunded_seats"], o["usable_seats"]]
                             for o in facts["orders"]]))
    if m.get("error"):
        console.print("\n[bold]Internal error[/]")
        console.print(m["error"], highlight=False, markup=False)
    if m.get("raw"):
        console.print("\n[bold]The mail[/]")
        console.print(_mail_text(m["raw"]), highlight=False, markup=False)
    if esc["audit"]:
        console.print(table("History", ["when", "who", "what", "detail"],
                            [[a["at"], a["actor"], a["action"], a["detail"]]
                             for a in esc["audit"]]))


