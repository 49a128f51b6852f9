"""The `mailbot` command line: a thin shell over the services.

Every command takes `--config PATH` (default: $MAILBOT_CONFIG, then ./mailbot.toml, then the
demo's ./config.example.toml, with a notice on stderr), prints tables for people and `--json`
for scripts, and turns known failures into one plain sentence saying what to do next (exit 2),
never a traceback. One module per command group, added to the root group here, explicitly.
"""

from __future__ import annotations

from mailbot.cli.customer import customer
from mailbot.cli.db import db
from mailbot.cli.doctor import doctor
from mailbot.cli.explain import explain
from mailbot.cli.keys import keys
from mailbot.cli.licenses import licenses
from mailbot.cli.messages import messages
from mailbot.cli.orders import orders
from mailbot.cli.queue import queue
from mailbot.cli.report import report
from mailbot.cli.root import cli
from mailbot.cli.run import run
from mailbot.cli.serials import license_group, serial_group
from mailbot.cli.staff import staff
from mailbot.cli.web import web
from mailbot.cli.webhook import webhook
from mailbot.cli.webhooks import webhooks

for _command in (
    keys,
    serial_group,
    license_group,
    run,
    explain,
    messages,
    orders,
    webhook,
    webhooks,
    queue,
    licenses,
    report,
    customer,
    doctor,
    db,
    staff,
    web,
):
    cli.add_command(_command)

__all__ = ["cli", "main"]


def main() -> None:
    """The `mailbot` console script."""
    cli(prog_name="mailbot")
