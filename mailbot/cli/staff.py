"""Commands for support staff and finance: the human queue, licenses, the finance report and a
customer's whole story. Each command is a few lines over queue.py, licensing.py and report.py;
those raise plain-words errors, which become one red line here (exit 2)."""

from __future__ import annotations

import email
import email.policy
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from rich import box
from rich.table import Table

from mailbot.cli.main import Failure, cli, config_option, console, err_console, open_app, print_json
from mailbot.config import ConfigError
from mailbot.services.licenses import LicenseError
from mailbot.services.escalations import (
    STATES,
    ActionResult,
    QueueError,
    default_actor,
    format_age,
    get_escalation,
    list_escalations,
    parse_age,
)
from mailbot.services.mailing import mail_text

F = TypeVar("F", bound=Callable[..., Any])


# Columns kept whole on a narrow terminal (others fold): ids, states, serials, dates.
_KEEP_WHOLE = {"#", "age", "state", "reason", "status", "when", "created", "issued", "order",
               "serial", "serials", "check", "decision", "seats", "used", "free", "refunded",
               "received", "revoked", "expires"}


def table(title: str | None, columns: list[str], rows: list[list[Any]]) -> Table:
    """A compact table: a rule under the header, no outer frame, so it fits 80 columns."""
    # The blank line before a title sets sections apart when several tables follow each other.
    t = Table(title=f"\n{title}" if title else None, title_justify="left", title_style="bold",
              header_style="bold",
              box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for name in columns:
        t.add_column(name, overflow="fold", no_wrap=name in _KEEP_WHOLE)
    for r in rows:
        t.add_row(*["" if v is None else str(v) for v in r])
    return t


def _when(stamp: str | None) -> str:
    """A stored UTC timestamp as people read it."""
    return (stamp or "")[:16].replace("T", " ")


def actor_option(func: F) -> F:
    """`--as NAME` on every action: who did it, for the audit trail."""
    return click.option("--as", "actor", default=None, metavar="NAME",
                        help="Who is acting, for the audit trail (default: your OS user).")(func)


@contextmanager
def plain_errors() -> Iterator[None]:
    """Library refusals become one sentence and exit 2, never a traceback."""
    try:
        yield
    except (QueueError, LicenseError, ConfigError) as exc:
        raise Failure(str(exc)) from None


def _actor(actor: str | None) -> str:
    return (actor or "").strip() or default_actor()


def _done(result: ActionResult, as_json: bool) -> None:
    if as_json:
        print_json(result.as_json())
        return
    console.print(result.summary, highlight=False)
    if result.outbox_ids:
        console.print(f"Mail queued in the outbox (#{', #'.join(map(str, result.outbox_ids))}); "
                      "the running worker sends it (or `mailbot run --once`).", highlight=False)


def json_flag(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON, for scripts.")(func)


# SQLite's integers are 64-bit: a longer number is no row of ours, not a crash.
ROW_ID_MAX = 2**63 - 1


class _EscalationId(click.ParamType):
    """An escalation number as listed ("3" or "#3")."""

    name = "integer"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        text = str(value).strip().lstrip("#")
        if not text.isdigit() or int(text) > ROW_ID_MAX:
            self.fail(f"{value!r} is not an escalation number", param, ctx)
        return int(text)


ESCALATION_ID = _EscalationId()


def _age(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    try:
        return parse_age(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


# -- queue -----------------------------------------------------------------------------------


@cli.group()
def queue() -> None:
    """The human queue: mail the bot handed to a person, and what to do about it.

    \b
    Example:
      mailbot queue list
      mailbot queue show 3
      mailbot queue issue 3 --order cs_test_a1
    """


@queue.command("list")
@click.option("--all", "show_all", is_flag=True, help="Resolved and rejected ones too.")
@click.option("--state", type=click.Choice(STATES), help="Only this state (default: open).")
@click.option("--reason", help="Only this reason, e.g. no_order.")
@click.option("--sender", help="Only this sender (or @domain).")
@click.option("--older-than", "older_than", callback=_age, metavar="AGE",
              help="Only those waiting at least AGE (30m, 2h, 3d, 1w).")
@click.option("--newer-than", "newer_than", callback=_age, metavar="AGE",
              help="Only those younger than AGE.")
@json_flag
@config_option
def queue_list(show_all: bool, state: str | None, reason: str | None, sender: str | None,
               older_than: Any, newer_than: Any, as_json: bool) -> None:
    """List escalations, oldest first.

    \b
    Example:
      mailbot queue list --reason seats_exhausted --older-than 2h
    """
    app = open_app()
    now = app.clock.now()
    items = list_escalations(app.store, state=None if show_all else (state or "open"),
                             reason=reason, sender=sender, older_than=older_than,
                             newer_than=newer_than, now=now)
    if as_json:
        print_json([{k: v for k, v in i.items() if k != "message_row"} for i in items])
        return
    if not items:
        console.print("The queue is empty." if not show_all else "No escalations.")
        return
    from mailbot.services.escalations import age_of

    # The state column only when several states are listed, "claimed" only when someone did.
    with_state = show_all
    with_claim = any(i["claimed_by"] for i in items)
    columns = ["#", "age"] + (["state"] if with_state else []) + ["reason", "sender / subject",
                                                                  "serials"]
    columns += ["claimed"] if with_claim else []
    rows = []
    for i in items:
        row = [i["id"], format_age(age_of(i, now))] + ([i["state"]] if with_state else [])
        row += [i["reason"], f"{i['sender'] or '-'}\n{(i['subject'] or '')[:60]}",
                "\n".join(s["serial"] for s in i["serials"])]
        row += [i["claimed_by"] or ""] if with_claim else []
        rows.append(row)
    console.print(table(None, columns, rows))
    console.print("Details and the command that resolves one: mailbot queue show ID")


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
    from mailbot.services.licenses import refresh_orders

    app = open_app()
    refresh_orders(app)
    with plain_errors():
        esc = get_escalation(app.store, escalation_id)
    message = dict(esc.pop("message") or {})
    raw_bytes = message.pop("raw", None)
    if raw:
        if not raw_bytes:
            raise Failure(f"the mail of #{escalation_id} was not stored")
        sys.stdout.buffer.write(raw_bytes)
        return
    if as_json:
        message["text"] = mail_text(raw_bytes)
        message["headers"] = _headers(raw_bytes)
        print_json({**esc, "message": message})
        return
    _show(esc, message, raw_bytes)


_SHOWN_HEADERS = ("From", "Reply-To", "To", "Cc", "Date", "Subject", "Message-ID",
                  "In-Reply-To", "Authentication-Results", "Auto-Submitted", "Return-Path")


def _headers(raw: bytes | None) -> dict[str, str]:
    if not raw:
        return {}
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    except Exception:  # noqa: BLE001 - a broken mail still shows what the row knows
        return {}
    found = {}
    for name in _SHOWN_HEADERS:
        values = msg.get_all(name)
        if values:
            found[name] = " | ".join(" ".join(str(v).split()) for v in values)
    return found


def _show(esc: dict[str, Any], m: dict[str, Any], raw: bytes | None) -> None:
    from mailbot.services.escalations import REASON_HELP

    console.rule(f"escalation #{esc['id']}: {esc['reason']} ({esc['state']})")
    console.print(f"why:        {REASON_HELP.get(esc['reason'], esc['reason'])}", highlight=False)
    console.print(f"created:    {_when(esc['created_at'])} UTC   updated: "
                  f"{_when(esc['updated_at'])} UTC", highlight=False)
    if esc.get("claimed_by"):
        console.print(f"claimed by: {esc['claimed_by']}", highlight=False)
    headers = _headers(raw)
    if headers:
        console.print("\n[bold]Headers[/]")
        for name, value in headers.items():
            console.print(f"  {name}: {value}", highlight=False, markup=False)
    else:
        console.print(f"sender: {esc['sender'] or '-'}   subject: {m.get('subject') or '-'}",
                      highlight=False)
    console.print("\n[bold]What the bot saw[/]")
    for line in (esc.get("detail") or "").splitlines():
        console.print(f"  - {line}", highlight=False, markup=False)
    if esc["serials"]:
        console.print(table("Serials", ["serial", "as found", "check", "decision", "reason"],
                            [[s["serial"], "" if s["as_found"] == s["serial"] else s["as_found"],
                              s["status"], s.get("action") or "",
                              s.get("reason") or ""] for s in esc["serials"]]))
    if esc["serial_licenses"]:
        console.print(table("Licenses of these serials", ["#", "serial", "customer", "order",
                                                          "state", "issued"],
                            [[lic["license_no"], lic["serial"], lic["customer_email"],
                              lic["order_id"] or "(grant)", lic["state"],
                              (lic["issued_at"] or "")[:10]] for lic in esc["serial_licenses"]]))
    _customer_tables(esc["customer"], skip_escalation=esc["id"])
    if m.get("error"):
        console.print("\n[bold]Internal error[/]")
        console.print(m["error"], highlight=False, markup=False)
    if raw:
        console.print("\n[bold]The mail[/]")
        console.print(mail_text(raw), highlight=False, markup=False)
    elif m.get("size"):
        console.print(f"\n(the mail, {m['size']} bytes, was not stored)")
    if esc["audit"]:
        console.print(table("History", ["when", "who", "what", "detail"],
                            [[_when(a["at"]), a["actor"], a["action"], a["detail"]]
                             for a in esc["audit"]]))
    if esc["suggestions"]:
        console.print("\n[bold]To resolve it[/]")
        for command in esc["suggestions"]:
            console.print(f"  {command}", highlight=False, markup=False)


def _customer_tables(c: dict[str, Any], skip_escalation: int | None = None) -> None:
    if not c.get("email"):
        return
    seats = c["seats"]
    if c["orders"]:
        console.print(table(
            f"Orders of {c['email']}: {seats['usable']} usable seat(s), {seats['in_use']} in "
            f"use, {seats['free']} free",
            ["order", "status", "created", "seats", "refunded", "used", "free"],
            [[o["order_id"], o["status"], o["created"][:10], o["seats"], o["refunded_seats"],
              o["used"], o["free"]] for o in c["orders"]]))
    else:
        console.print(f"\nNo orders for {c['email']}.", highlight=False)
    if c["licenses"]:
        console.print(table(f"Licenses of {c['email']}", ["#", "serial", "order", "state",
                                                        "issued", "note"],
                            [[lic["license_no"], lic["serial"], lic["order_id"] or "(grant)",
                              lic["state"], (lic["issued_at"] or "")[:10],
                              lic["revoked_reason"] or lic["grant_reason"] or ""]
                             for lic in c["licenses"]]))
    if c["messages"]:
        console.print(table(f"Mails from {c['email']}", ["#", "received", "subject", "outcome",
                                                       "serials"],
                            [[m["id"], (m["received_at"] or "")[:16].replace("T", " "),
                              m["subject"], m["outcome"] + (f" ({m['reason']})"
                                                            if m["reason"] else ""),
                              "\n".join(m["serials"])] for m in c["messages"]]))
    others = [e for e in c["escalations"] if e["id"] != skip_escalation]
    if others:
        console.print(table("Escalations" if skip_escalation is None else "Other escalations",
                            ["#", "created", "reason", "state", "claimed"],
                            [[e["id"], e["created_at"][:16].replace("T", " "), e["reason"],
                              e["state"], e["claimed_by"] or ""] for e in others]))
    if c["pending_payments"]:
        console.print(table("Pay-link requests", ["reference", "created", "expires", "state",
                                                  "serials"],
                            [[p["id"], p["created_at"][:10], p["expires_at"][:10], p["state"],
                              ", ".join(p["serials"])] for p in c["pending_payments"]]))


def _action(func: F) -> F:
    """The options every queue action shares: --as, --json, --config."""
    return config_option(json_flag(actor_option(func)))  # type: ignore[return-value]


@queue.command("claim")
@click.argument("escalation_id", type=ESCALATION_ID)
@click.option("--force", is_flag=True, help="Take it over from a colleague.")
@click.option("--release", is_flag=True, help="Give it back to the queue.")
@_action
def queue_claim(escalation_id: int, force: bool, release: bool, actor: str | None,
                as_json: bool) -> None:
    """Claim an escalation, so colleagues see who is on it.

    \b
    Example:
      mailbot queue claim 3 --as alice
    """
    from mailbot.services.escalations import claim

    app = open_app()
    with plain_errors():
        result = claim(app.store, escalation_id, _actor(actor), app.clock.now(), force=force,
                       release=release)
    _done(result, as_json)


@queue.command("issue")
@click.argument("escalation_id", type=ESCALATION_ID)
@click.option("--order", "order_id", metavar="ORDER", help="The paid order whose seat it uses.")
@click.option("--grant", "grant_reason", metavar="REASON",
              help="A manual grant without an order, with the reason (finance sees it).")
@click.option("--serial", "serials", multiple=True, metavar="SERIAL",
              help="License this serial (repeatable); default: the serials the bot saw.")
@click.option("--email", default="", help="With --grant: mail to this address instead of "
              "the sender.")
@click.option("--force", is_flag=True, help="Issue even when the order has no free seat.")
@_action
def queue_issue(escalation_id: int, order_id: str | None, grant_reason: str | None,
                serials: tuple[str, ...], email: str, force: bool, actor: str | None,
                as_json: bool) -> None:
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
        result = issue(app, escalation_id, _actor(actor), app.clock.now(), order_id=order_id,
                       grant_reason=grant_reason, serials=serials, email=email, force=force)
    _done(result, as_json)


@queue.command("transfer")
@click.argument("escalation_id", type=ESCALATION_ID)
@click.option("--old", "old_serial", default="", metavar="SERIAL",
              help="The serial whose license moves (default: from the mail).")
@click.option("--new", "new_serial", default="", metavar="SERIAL",
              help="The serial that gets it (default: from the mail).")
@click.option("--reason", default="", help="Why a person allowed it, for the record.")
@_action
def queue_transfer(escalation_id: int, old_serial: str, new_serial: str, reason: str,
                   actor: str | None, as_json: bool) -> None:
    """Carry out a transfer the bot held back (beyond the automatic limit), and resolve.

    \b
    Example:
      mailbot queue transfer 6 --reason "third new laptop this year, confirmed by phone"
    """
    from mailbot.services.escalations import transfer

    app = open_app()
    with plain_errors():
        result = transfer(app, escalation_id, _actor(actor), app.clock.now(),
                          old_serial=old_serial, new_serial=new_serial, reason=reason)
    _done(result, as_json)


@queue.command("reply")
@click.argument("escalation_id", type=ESCALATION_ID)
@click.option("--template", metavar="NAME", help="A reply template, e.g. clarify or resent "
              "(`mailbot queue templates` lists them).")
@click.option("--text-file", "text_file", type=click.File("r", encoding="utf-8"),
              help="Your own answer, from a file ('-' reads standard input).")
@click.option("--keep-open", is_flag=True, help="Keep the escalation open (you asked a "
              "question and wait for the answer).")
@_action
def queue_reply(escalation_id: int, template: str | None, text_file: Any, keep_open: bool,
                actor: str | None, as_json: bool) -> None:
    """Answer the sender, with a template or your own text, and resolve.

    \b
    Examples:
      mailbot queue reply 7 --text-file answer.txt
      mailbot queue reply 8 --template clarify --keep-open
    """
    from mailbot.services.escalations import reply

    try:
        text = text_file.read() if text_file is not None else None
    except UnicodeDecodeError:
        raise Failure(f"{text_file.name} is not UTF-8 text; save it as UTF-8 and try "
                      "again") from None
    app = open_app()
    with plain_errors():
        result = reply(app, escalation_id, _actor(actor), app.clock.now(), template=template,
                       text=text, keep_open=keep_open)
    _done(result, as_json)


@queue.command("templates")
@config_option
def queue_templates() -> None:
    """List the templates `mailbot queue reply --template` can use.

    \b
    Example:
      mailbot queue templates
    """
    from mailbot.services.escalations import reply_templates

    app = open_app()
    for name in reply_templates(app):
        click.echo(name)


@queue.command("reject")
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
        result = reject(app.store, escalation_id, _actor(actor), app.clock.now(), reason)
    _done(result, as_json)


@queue.command("resolve")
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
        result = resolve(app.store, escalation_id, _actor(actor), app.clock.now(), note_text)
    _done(result, as_json)


@queue.command("note")
@click.argument("escalation_id", type=ESCALATION_ID)
@click.argument("text", nargs=-1, required=True)
@_action
def queue_note(escalation_id: int, text: tuple[str, ...], actor: str | None,
               as_json: bool) -> None:
    """Add a note to an escalation's history (also on closed ones).

    \b
    Example:
      mailbot queue note 3 "asked finance about the refund"
    """
    from mailbot.services.escalations import note

    app = open_app()
    with plain_errors():
        result = note(app.store, escalation_id, _actor(actor), app.clock.now(), " ".join(text))
    _done(result, as_json)


@queue.command("reopen")
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
        result = reopen(app.store, escalation_id, _actor(actor), app.clock.now(), reason)
    _done(result, as_json)


@queue.command("retry")
@click.argument("escalation_id", type=ESCALATION_ID)
@_action
def queue_retry(escalation_id: int, actor: str | None, as_json: bool) -> None:
    """Decide again on the stored mail, with today's orders and licenses (after an order
    arrived or a sync caught up); resolves it when the bot can now act.

    \b
    Example:
      mailbot queue retry 3
    """
    from mailbot.services.escalations import retry

    app = open_app()
    with plain_errors():
        result = retry(app, escalation_id, _actor(actor), app.clock.now())
    _done(result, as_json)


# -- licenses --------------------------------------------------------------------------------


@cli.group()
def licenses() -> None:
    """Issued licenses: look up, re-send, revoke, transfer, grant, publish revocations.

    \b
    Example:
      mailbot licenses list --customer it@acme.example
    """


@licenses.command("list")
@click.option("--customer", "email", metavar="EMAIL", help="Only this customer (or @domain).")
@click.option("--order", "order_id", help="Only licenses on this order.")
@click.option("--serial", help="Only licenses of this serial.")
@click.option("--state", type=click.Choice(["active", "revoked"]), help="Only this state.")
@json_flag
@config_option
def licenses_list(email: str | None, order_id: str | None, serial: str | None,
                  state: str | None, as_json: bool) -> None:
    """List licenses (without the license strings; `show` has them).

    \b
    Example:
      mailbot licenses list --order cs_test_a1 --state active
    """
    from mailbot.services.licenses import list_licenses

    app = open_app()
    rows = list_licenses(app.store, email=email, order_id=order_id, serial=serial, state=state,
                         product_code=app.settings.product.code)
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print("No licenses match.")
        return
    console.print(table(None, ["#", "serial", "customer", "order", "state", "issued", "note"],
                        [[r["license_no"], r["serial"], r["customer_email"],
                          r["order_id"] or "(grant)", r["state"], (r["issued_at"] or "")[:10],
                          r["revoked_reason"] or r["grant_reason"] or ""] for r in rows]))


def _license_no(app: Any, ref: str) -> int:
    """A license number, or a serial (its active license, else its newest)."""
    if ref.lstrip("#").isdigit():
        if int(ref.lstrip("#")) > ROW_ID_MAX:
            raise Failure(f"no license #{ref.lstrip('#')}; `mailbot licenses list` lists them")
        return int(ref.lstrip("#"))
    from mailbot.services.licenses import list_licenses

    rows = list_licenses(app.store, serial=ref, product_code=app.settings.product.code)
    if not rows:
        raise Failure(f"no license for {ref!r}; give a license number or a licensed serial")
    active = [r for r in rows if r["state"] == "active"]
    return int((active or rows)[-1]["license_no"])


@licenses.command("show")
@click.argument("license_ref", metavar="NUMBER|SERIAL")
@json_flag
@config_option
def licenses_show(license_ref: str, as_json: bool) -> None:
    """One license: its string, order, seat history and who did what.

    \b
    Example:
      mailbot licenses show 12
      mailbot licenses show AMC-5X7P-J077-A92P-0S6Z
    """
    from mailbot.services.licenses import license_detail

    app = open_app()
    with plain_errors():
        d = license_detail(app.store, _license_no(app, license_ref))
    if as_json:
        print_json(d)
        return
    console.rule(f"license #{d['license_no']}: {d['serial']} ({d['state']})")
    order = d["order"]
    lines = [
        ("customer", d["customer_email"]),
        ("order", f"{order['order_id']} ({order['status']}, {order['seats']} seat(s))"
         if order else (d["order_id"] or "none: a manual grant")),
        ("issued", d["issued_at"]),
        ("by", d["granted_by"] or "mailbot"),
        ("reason", d["grant_reason"] or ""),
        ("revoked", f"{d['revoked_at']}: {d['revoked_reason']}" if d["revoked_at"] else ""),
        ("key id", f"{d['key_id']:02x}" if d["key_id"] is not None else ""),
    ]
    for label, value in lines:
        if value:
            console.print(f"{label + ':':10}{value}", highlight=False)
    console.print(f"{'license:':10}{d['license_string']}", highlight=False, soft_wrap=True)
    if len(d["seat_history"]) > 1:
        console.print(table("This seat over time", ["#", "serial", "state", "issued",
                                                    "revoked"],
                            [[r["license_no"], r["serial"], r["state"],
                              (r["issued_at"] or "")[:10], (r["revoked_at"] or "")[:10]]
                             for r in d["seat_history"]]))
    if d["history"]:
        console.print(table("History", ["when", "who", "what", "detail"],
                            [[_when(h["at"]), h["actor"], h["action"], h["detail"]]
                             for h in d["history"]]))


@licenses.command("resend")
@click.argument("license_ref", metavar="NUMBER|SERIAL")
@_action
def licenses_resend(license_ref: str, actor: str | None, as_json: bool) -> None:
    """Mail a license again, to its order's email only.

    \b
    Example:
      mailbot licenses resend 12
    """
    from mailbot.services.licenses import resend

    app = open_app()
    with plain_errors():
        no = _license_no(app, license_ref)
        sent = resend(app, no, _actor(actor), app.clock.now())
    result = {"license_no": no, "to": sent.to, "outbox_id": sent.outbox_id}
    if as_json:
        print_json(result)
        return
    console.print(f"license #{no} queued for {sent.to} (outbox #{sent.outbox_id}); the running "
                  "worker sends it.", highlight=False)


@licenses.command("revoke")
@click.argument("license_ref", metavar="NUMBER|SERIAL")
@click.option("--reason", required=True, help="Why, for support and finance.")
@_action
def licenses_revoke(license_ref: str, reason: str, actor: str | None, as_json: bool) -> None:
    """Revoke a license; its serial can then be licensed again only by staff.

    \b
    Example:
      mailbot licenses revoke 12 --reason "chargeback lost"
    """
    from mailbot.services.licenses import revoke

    app = open_app()
    with plain_errors():
        lic = revoke(app, _license_no(app, license_ref), reason, _actor(actor), app.clock.now())
    if as_json:
        print_json({"license_no": lic.license_no, "serial": lic.serial, "state": lic.state.value})
        return
    console.print(f"license #{lic.license_no} ({lic.serial}) revoked. Publish the list: "
                  "mailbot licenses revoked --signed --output revoked.json", highlight=False)


@licenses.command("transfer")
@click.argument("old_serial")
@click.argument("new_serial")
@click.option("--reason", default="", help="Why a person allowed it, for the record.")
@click.option("--no-mail", is_flag=True, help="Do not mail the new license.")
@_action
def licenses_transfer(old_serial: str, new_serial: str, reason: str, no_mail: bool,
                      actor: str | None, as_json: bool) -> None:
    """Move a license to a new serial, beyond the automatic transfer limit.

    \b
    Example:
      mailbot licenses transfer AMC-OLD0-... AMC-NEW0-... --reason "mainboard replaced"
    """
    from mailbot.services.licenses import transfer

    app = open_app()
    with plain_errors():
        old, new, sent = transfer(app, old_serial, new_serial, _actor(actor), app.clock.now(),
                                  reason=reason, mail=not no_mail)
    if as_json:
        print_json({"old_license_no": old.license_no, "new_license_no": new.license_no,
                    "serial": new.serial, "to": sent.to if sent else None,
                    "outbox_id": sent.outbox_id if sent else None})
        return
    where = f", mailed to {sent.to}" if sent else ""
    console.print(f"license #{old.license_no} ({old.serial}) revoked; #{new.license_no} issued "
                  f"for {new.serial} on the same seat{where}.", highlight=False)


@licenses.command("grant")
@click.argument("serial")
@click.option("--email", default="", help="The customer's address (manual grants).")
@click.option("--order", "order_id", default=None, help="Use a seat of this paid order.")
@click.option("--reason", default="", help="Why (required without --order).")
@click.option("--force", is_flag=True, help="With --order: even when it has no free seat.")
@click.option("--no-mail", is_flag=True, help="Do not mail the license.")
@_action
def licenses_grant(serial: str, email: str, order_id: str | None, reason: str, force: bool,
                   no_mail: bool, actor: str | None, as_json: bool) -> None:
    """License a serial by hand, against an order or as a manual grant (finance sees those).

    \b
    Examples:
      mailbot licenses grant AMC-5X7P-J077-A92P-0S6Z --order INV-2031
      mailbot licenses grant AMC-5X7P-J077-A92P-0S6Z --email ceo@acme.example \
        --reason "trade fair demo"
    """
    from mailbot.services.licenses import grant

    app = open_app()
    with plain_errors():
        lic, sent = grant(app, serial, email, reason, _actor(actor), app.clock.now(),
                          order_id=order_id, force=force, mail=not no_mail)
    if as_json:
        print_json({"license_no": lic.license_no, "serial": lic.serial,
                    "to": sent.to if sent else None,
                    "outbox_id": sent.outbox_id if sent else None})
        return
    where = f", mailed to {sent.to}" if sent else ""
    console.print(f"license #{lic.license_no} issued for {lic.serial}{where}.", highlight=False)


@licenses.command("revoked")
@click.option("--signed", is_flag=True, help="Write the signed list the desktop app downloads.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="With --signed: write to this file (default: standard output).")
@json_flag
@config_option
def licenses_revoked(signed: bool, output: Path | None, as_json: bool) -> None:
    """Revoked licenses; with --signed, the signed revocation list for the desktop app.

    \b
    Examples:
      mailbot licenses revoked
      mailbot licenses revoked --signed --output public/revoked.json
    """
    from mailbot.services.licenses import revoked_rows, signed_revocation_list

    app = open_app()
    if signed:
        with plain_errors():
            data = signed_revocation_list(app, app.clock.now())
        if output is None:
            sys.stdout.buffer.write(data)
            return
        tmp = output.with_name(f".{output.name}.tmp")
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(data)
            tmp.replace(output)  # a download never sees half a list
        except OSError as exc:
            raise Failure(f"cannot write {output}: {exc.strerror or exc}") from None
        err_console.print(f"signed revocation list written to {output}", highlight=False)
        return
    rows = revoked_rows(app.store)
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print("No revoked licenses.")
        return
    console.print(table(None, ["#", "serial", "customer", "order", "revoked", "reason"],
                        [[r["license_no"], r["serial"], r["customer_email"],
                          r["order_id"] or "(grant)", (r["revoked_at"] or "")[:10],
                          r["revoked_reason"] or ""] for r in rows]))


# -- finance ---------------------------------------------------------------------------------


@cli.command()
@click.option("--from", "start", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="First day (default: the first of this month).")
@click.option("--to", "end", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Last day, included (default: the end of this month).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True)
@click.option("--section", type=click.Choice(["orders", "exceptions", "totals"]),
              default="orders", show_default=True, help="With --format csv: which table.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file instead of standard output.")
@config_option
def report(start: datetime | None, end: datetime | None, fmt: str, section: str,
           output: Path | None) -> None:
    """Finance reconciliation: paid seats vs licenses per order, exceptions first.

    \b
    Examples:
      mailbot report
      mailbot report --from 2025-04-01 --to 2025-04-30 --format csv -o april.csv
      mailbot report --format json | jq '.exceptions'
    """
    from mailbot.services.licenses import refresh_orders
    from mailbot.services.report import load_report, period_for, render_csv, render_json, render_tables, size_of

    app = open_app()
    refresh_orders(app)
    now = app.clock.now()
    try:
        period = period_for(start.date() if start else None, end.date() if end else None,
                            now.date())
    except ValueError as exc:
        raise Failure(str(exc)) from None
    result = _with_progress(lambda progress: load_report(app.store, period, now, progress),
                            size_of(app.store))
    text = "" if fmt == "table" else (render_json(result) + "\n" if fmt == "json"
                                      else render_csv(result, section))
    if output is None:
        if fmt == "table":
            for part in render_tables(result):
                console.print(part)
        else:
            click.echo(text, nl=False)
        return
    try:
        with output.open("w", encoding="utf-8") as handle:
            if fmt == "table":
                from rich.console import Console

                file_console = Console(file=handle, width=160)
                for part in render_tables(result):
                    file_console.print(part)
            else:
                handle.write(text)
    except OSError as exc:
        raise Failure(f"cannot write {output}: {exc.strerror or exc}") from None


PROGRESS_FROM = 5000  # rows; below that a report is instant


def _with_progress(job: Callable[[Any], Any], size: int) -> Any:
    if size < PROGRESS_FROM or not err_console.is_terminal:
        return job(None)
    from rich.progress import Progress

    with Progress(console=err_console, transient=True) as bar:
        task = bar.add_task("reconciling", total=size)
        return job(lambda done, total: bar.update(task, completed=done, total=total))


# -- one customer ----------------------------------------------------------------------------


@cli.command()
@click.argument("email")
@json_flag
@config_option
def customer(email: str, as_json: bool) -> None:
    """One customer on one screen: orders, seats, licenses, mails, escalations.

    \b
    Example:
      mailbot customer it@acme.example
    """
    from mailbot.services.licenses import refresh_orders
    from mailbot.services.escalations import customer_overview

    app = open_app()
    refresh_orders(app)
    overview = customer_overview(app.store, email)
    if as_json:
        print_json(overview)
        return
    if not (overview["orders"] or overview["licenses"] or overview["messages"]
            or overview["escalations"]):
        console.print(f"Nothing known about {overview['email']}.", highlight=False)
        return
    console.rule(overview["email"])
    _customer_tables(overview)

