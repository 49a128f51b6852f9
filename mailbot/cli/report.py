"""`mailbot report`: finance reconciliation, as tables for people or CSV/JSON for sheets."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from rich import box
from rich.table import Table
from rich.text import Text

from mailbot.cli import output
from mailbot.cli.output import safe
from mailbot.cli.root import Failure, config_option, open_app, plain_errors
from mailbot.services.report import Report
from mailbot.services.report_render import money


@click.command()
@click.option(
    "--from",
    "start",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="First day (default: the first of this month).",
)
@click.option(
    "--to",
    "end",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="Last day, included (default: the end of this month).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
@click.option(
    "--section",
    type=click.Choice(["orders", "exceptions", "totals", "subscriptions", "expiring"]),
    default="orders",
    show_default=True,
    help="With --format csv: which table.",
)
@click.option(
    "--output",
    "-o",
    "target",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead of standard output.",
)
@config_option
def report(
    start: datetime | None, end: datetime | None, fmt: str, section: str, target: Path | None
) -> None:
    """Finance reconciliation: paid seats vs licenses per order, exceptions first; then
    subscriptions and the licenses expiring within 30 days of today.

    \b
    Examples:
      mailbot report
      mailbot report --from 2025-04-01 --to 2025-04-30 --format csv -o april.csv
      mailbot report --format json | jq '.exceptions'
    """
    from mailbot.services.orders import refresh_local_orders
    from mailbot.services.report import load_report, period_for, size_of
    from mailbot.services.report_render import render_csv, render_json

    app = open_app()
    with plain_errors():
        refresh_local_orders(app)
    now = app.clock.now()
    try:
        period = period_for(
            start.date() if start else None, end.date() if end else None, now.date()
        )
    except ValueError as exc:
        raise Failure(str(exc)) from None
    result = _with_progress(
        lambda progress: load_report(
            app.store, period, now, progress, grace_days=app.policy.subscription_grace_days
        ),
        size_of(app.store),
    )
    text = (
        ""
        if fmt == "table"
        else (render_json(result) + "\n" if fmt == "json" else render_csv(result, section))
    )
    if target is None:
        if fmt == "table":
            for part in render_tables(result):
                output.show(part)
        else:
            click.echo(text, nl=False)
        return
    try:
        with target.open("w", encoding="utf-8") as handle:
            if fmt == "table":
                from rich.console import Console

                file_console = Console(
                    file=handle, width=160, markup=False, emoji=False, highlight=False
                )
                for part in render_tables(result):
                    file_console.print(part)
            else:
                handle.write(text)
    except OSError as exc:
        raise Failure(f"cannot write {target}: {exc.strerror or exc}") from None


PROGRESS_FROM = 5000  # rows; below that a report is instant


def _with_progress(job: Callable[[Any], Any], size: int) -> Any:
    if size < PROGRESS_FROM or not output.err.is_terminal:
        return job(None)
    from rich.progress import Progress

    with Progress(console=output.err, transient=True) as bar:
        task = bar.add_task("reconciling", total=size)
        return job(lambda done, total: bar.update(task, completed=done, total=total))


def render_tables(report: Report) -> list[Any]:
    """Rich renderables for people: exceptions first, then orders, then totals."""

    def new_table(title: str, columns: list[tuple[str, str, bool]]) -> Table:
        t = Table(
            title=Text(f"\n{title}", style="bold"),
            title_justify="left",
            header_style="bold",
            box=box.SIMPLE_HEAD,
            show_edge=False,
            pad_edge=False,
        )
        for name, justify, whole in columns:
            t.add_column(
                name,
                justify=justify,  # type: ignore[arg-type]
                no_wrap=whole,
                overflow="fold",
            )
        return t

    out: list[Any] = []
    p = report.period
    out.append(Text(f"Finance report {p.start.isoformat()} .. {p.end.isoformat()}", style="bold"))
    if report.exceptions:
        t = new_table(
            f"Exceptions ({len(report.exceptions)})",
            [
                ("kind", "left", True),
                ("order", "left", True),
                ("serial", "left", True),
                ("what", "left", False),
            ],
        )
        for e in report.exceptions:
            style = "red" if e.needs_action else None
            when = f" ({e.at[:10]})" if e.at else ""
            what = f"{e.email}: {e.detail}{when}" if e.email else f"{e.detail}{when}"
            t.add_row(e.kind, safe(e.order_id or "-"), e.serial or "", safe(what), style=style)
        out.append(t)
    else:
        out.append(Text("\nNo exceptions.", style="green"))
    t = new_table(
        f"Orders ({len(report.orders)})",
        [
            ("order", "left", True),
            ("customer", "left", False),
            ("status", "left", True),
            ("seats", "right", True),
            ("refunded", "right", True),
            ("licensed", "right", True),
            ("free", "right", True),
            ("amount", "right", True),
        ],
    )
    for o in report.orders:
        free = Text(str(o.seats_free), style="red" if o.seats_free < 0 else "")
        t.add_row(
            safe(o.order_id),
            safe(o.email),
            o.status,
            str(o.paid_seats),
            str(o.refunded_seats),
            str(o.licenses_issued),
            free,
            money(o.amount_total, o.currency),
        )
    out.append(t)
    if report.totals:
        t = new_table(
            "Totals per currency",
            [
                ("currency", "left", True),
                ("orders", "right", True),
                ("seats", "right", True),
                ("refunded", "right", True),
                ("usable", "right", True),
                ("licensed", "right", True),
                ("free", "right", True),
                ("amount", "right", True),
            ],
        )
        for s in report.totals:
            t.add_row(
                s.currency.upper() or "-",
                str(s.orders),
                str(s.paid_seats),
                str(s.refunded_seats),
                str(s.usable_seats),
                str(s.licenses_issued),
                str(s.seats_free),
                money(s.amount_total, s.currency),
            )
        out.append(t)
    out.extend(term_tables(report, new_table))
    return out


def term_tables(report: Report, new_table: Callable[[str, list[Any]], Table]) -> list[Any]:
    """Subscriptions per currency, then the licenses expiring soon (finance's to-do first)."""
    out: list[Any] = []
    if report.subscriptions:
        t = new_table(
            "Subscriptions per currency (now; renewed: in the period)",
            [
                ("currency", "left", True),
                ("active", "right", True),
                ("past due", "right", True),
                ("ending", "right", True),
                ("lapsed", "right", True),
                ("canceled", "right", True),
                ("seats", "right", True),
                ("renewed", "right", True),
                ("per month", "right", True),
            ],
        )
        for s in report.subscriptions:
            t.add_row(
                s.currency.upper() or "-",
                str(s.active),
                str(s.past_due),
                str(s.cancel_at_period_end),
                str(s.lapsed),
                str(s.canceled),
                str(s.seats),
                str(s.renewed),
                money(s.monthly_recurring, s.currency),
            )
        out.append(t)
    first, last = report.expiring_window
    if not report.expiring:
        out.append(Text(f"\nNo license expires from {first} to {last}."))
        return out
    t = new_table(
        f"Licenses expiring {first} .. {last} ({len(report.expiring)}, "
        f"{len(report.expiring_needs_action)} need action)",
        [
            ("#", "right", True),
            ("serial", "left", True),
            ("order", "left", True),
            ("expires", "left", True),
            ("subscription", "left", True),
            ("outlook", "left", True),
            ("customer", "left", False),
        ],
    )
    for e in report.expiring:
        t.add_row(
            str(e.license_no),
            e.serial,
            safe(e.order_id or "(grant)"),
            e.expires,
            e.subscription or "-",
            e.outlook + (" (needs action)" if e.needs_action else ""),
            safe(e.email),
            style="red" if e.needs_action else None,
        )
    out.append(t)
    return out
