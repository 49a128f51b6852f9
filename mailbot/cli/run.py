"""`mailbot run`: process mail once (a summary), or run as the scheduled service."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from contextlib import nullcontext

import click
from rich.text import Text

from mailbot.cli import output
from mailbot.cli.root import Failure, config_option, open_app
from mailbot.core.errors import SetupError
from mailbot.services.delivery import DeliveryReport
from mailbot.services.worker import Processed

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
      mailbot run                      # service: IDLE/polling, outbox, order sync
    """
    from mailbot.services.delivery import deliver_outbox
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
    try:
        status = output.err.status("processing mail…") if not as_json else nullcontext()
        with status:
            processed = worker.poll_once()
            delivery = deliver_outbox(app, worker.stop)
    except SetupError as exc:
        raise Failure(str(exc)) from None
    new = [p for p in processed if not p.already_done]
    if as_json:
        output.print_json(
            {
                "processed": [
                    {
                        "key": p.key,
                        "sender": p.sender,
                        "outcome": p.outcome.value,
                        "reason": p.reason.value if p.reason else None,
                        "serials": list(p.serials),
                    }
                    for p in new
                ],
                "outcomes": dict(Counter(p.outcome.value for p in new)),
                "sent": delivery.sent,
                "retrying": delivery.retrying,
                "failed": delivery.failed,
            }
        )
        return
    _print_summary(new, delivery, verbose)


def _print_summary(processed: Sequence[Processed], delivery: DeliveryReport, verbose: bool) -> None:
    if not processed:
        output.line("No new mail.")
    else:
        shown = processed if verbose else processed[:SHOWN_ROWS]
        rows = [
            [
                p.sender or "-",
                p.outcome.value,
                p.reason.value if p.reason else "",
                "\n".join(p.serials),
            ]
            for p in shown
        ]
        output.show(
            output.table(
                f"{len(processed)} mail(s) processed",
                ["sender", "outcome", "reason", "serials"],
                rows,
            )
        )
        if len(shown) < len(processed):
            output.line(
                f"... and {len(processed) - len(shown)} more (all of them: --verbose or --json)"
            )
        counts = Counter(p.outcome.value for p in processed)
        output.line("  ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
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
