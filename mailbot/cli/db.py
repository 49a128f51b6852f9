"""`mailbot db`: check the database, and back it up while mailbot runs."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mailbot.cli import output
from mailbot.cli.root import config_option, open_app


@click.group()
def db() -> None:
    """The database: check it, back it up.

    \b
    Example:
      mailbot db backup /var/backups/mailbot/mailbot-2026-12-01.db
    """


@db.command("check")
@config_option
def db_check() -> None:
    """Check the database file with SQLite's integrity check (exit 0 sound, 1 damaged).

    \b
    Example:
      mailbot db check
    """
    app = open_app()
    problems = app.store.integrity_problems()
    if not problems:
        output.line(f"{app.settings.store_path}: ok (schema version {app.store.schema_version()})")
        return
    output.line(f"{app.settings.store_path}: damaged")
    for problem in problems[:20]:
        output.line(f"  {problem}")
    output.line("Restore it from a backup; until then mailbot stops rather than decide on it.")
    sys.exit(1)


@db.command("backup")
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
@config_option
def db_backup(target: Path) -> None:
    """Write a consistent copy of the database to TARGET (a new file, mode 0600), while the
    worker keeps running (SQLite's online backup).

    \b
    Example:
      mailbot db backup /var/backups/mailbot/mailbot-$(date +%F).db
    """
    app = open_app()
    app.store.backup_to(target)
    output.line(f"backup written to {target}")
