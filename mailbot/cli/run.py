"""`mailbot run`: process mail once (a summary), or run as the scheduled service."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from mailbot.cli import output
from mailbot.cli.root import Failure, config_option, open_app
from mailbot.core.errors import SetupError
from mailbot.services.delivery import DeliveryReport
from mailbot.services.pass_results import PassTotals, Processed
from mailbot.services.webhooks import WebhookReport

SHOWN_ROWS = 50  # a long backlog prints totals and this many rows; --verbose prints all


@click.command()
@click.option("--once", is_flag=True, help="Process what is waiting, deliver replies, exit.")
@click.option("--json", "as_json", is_flag=True, help="With --once: the summary as JSON.")
@click.option(
    "--verbose",
    "-v",
    is_flag=True,
    help=f"With --once: list every mail (default: the first {SHOWN_ROWS}).",
)
@config_option
def run(once: bool, as_json: bool, verbose: bool) -> None:
    """Process mail: `--once` for a single pass, or run as a service until stopped.

    \b
    Examples:
      mailbot run --once               # cron-style single pass, prints a summary
      mailbot run --once --json        # the same as JSON, one row per mail, as it goes
      mailbot run                      # service: IDLE/polling, outbox, order sync
    """
    from mailbot.services.mail_pass import run_mail_pass
    from mailbot.services.preflight import preflight
    from mailbot.services.worker import Worker

    app = open_app()
    try:
        preflight(app)  # a setup fault stops here, before any mail is touched
    except SetupError as exc:
        raise Failure(str(exc)) from None
    if not once:
        from mailbot.scheduler import Runner

        Runner(app).start()
        return
    worker = Worker(app)
    if as_json:
        rows = output.JsonRows("processed")
        try:
            report = run_mail_pass(app, worker, lambda p: _json_row(rows, p))
        except SetupError as exc:
            rows.finish({"error": str(exc)})
            raise Failure(str(exc)) from None
        totals, delivery = report.totals, report.delivery
        hooks = _deliver_webhooks(app)
        rows.finish(
            {
                "outcomes": dict(totals.outcomes),
                "sent": delivery.sent,
                "retrying": delivery.retrying,
                "failed": delivery.failed,
                **({"webhooks": hooks.as_json()} if hooks is not None else {}),
            }
        )
        return
    shown: list[Processed] = []
    with _progress() as advance:

        def each(p: Processed) -> None:
            advance()
            if p.already_done:
                return
            if verbose:
                _print_row(p)
            elif len(shown) < SHOWN_ROWS:
                shown.append(p)

        try:
            report = run_mail_pass(app, worker, each)
        except SetupError as exc:
            raise Failure(str(exc)) from None
    _print_summary(shown, report.totals, report.delivery, verbose)
    hooks = _deliver_webhooks(app)
    if hooks is not None:
        from mailbot.cli.webhooks import summary

        summary(hooks)


def _deliver_webhooks(app: Any) -> WebhookReport | None:
    """After the mail pass and its commits: post the events it (and earlier runs) queued;
    None without `[webhooks] url`."""
    if not app.settings.webhooks.url:
        return None
    from mailbot.services.webhooks import deliver_events

    return deliver_events(app)


def _json_row(rows: output.JsonRows, p: Processed) -> None:
    if not p.already_done:
        rows.add(
            {
                "key": p.key,
                "sender": p.sender,
                "outcome": p.outcome.value,
                "reason": p.reason.value if p.reason else None,
                "serials": list(p.serials),
            }
        )


@contextmanager
def _progress() -> Iterator[Callable[[], None]]:
    """On a terminal: how many mails are done, how fast, for how long. Elsewhere nothing."""
    if not output.err.is_terminal:
        yield lambda: None
        return
    bar = Progress(
        SpinnerColumn(),
        TextColumn("processing mail"),
        BarColumn(),
        TextColumn("{task.completed} done"),
        TimeElapsedColumn(),
        console=output.err,
        transient=True,
    )
    task = bar.add_task("mail", total=None)
    with bar:
        yield lambda: bar.advance(task)


def _cells(p: Processed) -> list[Any]:
    return [p.sender or "-", p.outcome.value, p.reason.value if p.reason else "", p.serials]


def _print_row(p: Processed) -> None:
    """--verbose: one line per mail as it is decided (a table would wait for the last)."""
    sender, outcome, reason, serials = _cells(p)
    output.styled(
        (f"{output.safe(sender):<40}", ""),
        " ",
        (f"{outcome:<18}", "bold"),
        " ",
        f"{reason:<22}",
        " ",
        " ".join(serials),
        wrap=False,
    )


def _print_summary(
    shown: list[Processed], totals: PassTotals, delivery: DeliveryReport, verbose: bool
) -> None:
    if not totals.new:
        output.line("No new mail.")
    else:
        if not verbose:
            rows = [[*_cells(p)[:3], "\n".join(p.serials)] for p in shown]
            output.show(
                output.table(
                    f"{totals.new} mail(s) processed",
                    ["sender", "outcome", "reason", "serials"],
                    rows,
                )
            )
            if len(shown) < totals.new:
                output.line(
                    f"... and {totals.new - len(shown)} more (all of them: --verbose or --json)"
                )
        else:
            output.line(f"{totals.new} mail(s) processed")
        output.line("  ".join(f"{k}: {v}" for k, v in sorted(totals.outcomes.items())))
    summary = f"mail sent: {delivery.sent}"
    if delivery.retrying:
        summary += f", waiting to retry: {delivery.retrying}"
    if delivery.failed:
        summary += f", failed: {delivery.failed} (see `mailbot queue list`)"
    output.line(summary)
    if delivery.blocked:
        output.err.print(
            Text.assemble(
                ("nothing could be sent:", "bold red"), " ", output.safe(delivery.blocked)
            ),
            soft_wrap=True,
        )
