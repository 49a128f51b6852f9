"""`mailbot doctor`: check everything `mailbot run` needs."""

from __future__ import annotations

import sys

import click
from rich.text import Text

from mailbot.cli import output
from mailbot.cli.root import Failure, config_option, open_app
from mailbot.core.errors import SetupError


@click.command()
@click.option("--json", "as_json", is_flag=True, help="The checks as a JSON array, for scripts.")
@config_option
def doctor(as_json: bool) -> None:
    """Check everything `mailbot run` needs: config, orders, templates, signing key, store,
    mailbox and mail server. Changes nothing. Exit 1 when something is wrong.

    \b
    Example:
      mailbot doctor --config mailbot.toml
      mailbot doctor --json | jq '.[] | select(.ok | not)'
    """
    from mailbot.services.doctor import Check, run_checks

    try:
        app = open_app()
        checks = run_checks(app)
    except Failure as exc:  # the config itself does not load
        checks = [Check("config", False, exc.message)]
    except SetupError as exc:
        checks = [Check("config", False, str(exc))]
    if as_json:
        output.print_json([c.as_json() for c in checks])
    else:
        for check in checks:
            mark = Text("ok  ", style="green") if check.ok else Text("FAIL", style="red")
            # One line per check however long: scripts and people grep for "FAIL".
            output.out.print(
                Text.assemble(mark, " ", output.safe(f"{check.name}: {check.detail}")),
                soft_wrap=True,
            )
    if not all(c.ok for c in checks):
        sys.exit(1)
