"""`mailbot explain`: what the bot would decide, changing nothing."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click

from mailbot.cli import output
from mailbot.cli.root import Failure, config_option, open_app
from mailbot.core.errors import SetupError


@click.command()
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--mailbox",
    "from_mailbox",
    is_flag=True,
    help="Every mail waiting in the configured mailbox (IMAP or Maildir).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per mail, in an array.")
@config_option
def explain(files: tuple[Path, ...], from_mailbox: bool, as_json: bool) -> None:
    """What the bot would decide for each mail, changing nothing: no moves, no flags, no rows,
    no orders synced. Give mail files, or --mailbox for what waits in the configured mailbox.

    \b
    Examples:
      mailbot explain data/demo/maildir/new/* --json
      mailbot explain --mailbox                 # before connecting a busy support inbox
    """
    from mailbot.services.explain import Explainer

    if bool(files) == from_mailbox:
        raise click.UsageError("give mail FILES, or --mailbox (not both)")
    app = open_app()
    try:
        with Explainer(app) as explainer:
            if from_mailbox:
                results = list(explainer.explain_mailbox())
            else:
                results = [explainer.explain_file(f) for f in files]
    except SetupError as exc:
        raise Failure(str(exc)) from None
    if as_json:
        output.print_json(results)
        return
    if from_mailbox and not results:
        output.line("No mail is waiting in the mailbox.")
    for r in results:
        head = r.get("file") or f"{r.get('received_at') or ''} {r['sender'] or '-'}".strip()
        output.styled(
            (head, "bold"), ": ", r["outcome"], f" ({r['reason']})" if r["reason"] else ""
        )
        for item in r["serials"]:
            output.line(
                f"  {item['as_found']} -> {item['serial']} [{item['status']}] "
                f"{item['action'] or ''} {item['reason'] or ''}"
            )
        for text in r["explanation"]:
            output.line(f"  - {text}")
    if from_mailbox and results:
        counts = Counter(r["outcome"] for r in results)
        output.line(
            f"{len(results)} waiting mail(s): "
            + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        )
