"""`mailbot staff`: the accounts of the web console."""

from __future__ import annotations

import sys

import click

from mailbot.cli import output
from mailbot.cli.root import Failure, config_option, json_flag, open_app
from mailbot.services import staff_accounts
from mailbot.services.staff_accounts import ROLES, AccountError


@click.group()
def staff() -> None:
    """Accounts of the web console (`mailbot web`).

    \b
    Example:
      mailbot staff add ana --role support --email ana@example.com
    """


def _password(prompt: str) -> str:
    """From standard input: typed twice on a terminal, else the first line (for scripts)."""
    if sys.stdin.isatty():
        return str(click.prompt(prompt, hide_input=True, confirmation_prompt=True))
    text = sys.stdin.readline().rstrip("\r\n")
    if not text:
        raise Failure("no password on standard input (one line, at least 10 characters)")
    return text


@staff.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True, help="What the account may do.")
@click.option(
    "--email",
    default="",
    help="The address this person's mail comes from (answers to staff notifications).",
)
@config_option
def staff_add(name: str, role: str, email: str) -> None:
    """Add an account; the password is read from standard input.

    \b
    Roles:
      support   work the queue: claim, reply, issue, grant, reject; licenses
      finance   read everything and the finance report; cannot issue or reply
      admin     everything
    \b
    Example:
      mailbot staff add ana --role support --email ana@example.com
      printf '%s\\n' "$PASSWORD" | mailbot staff add finn --role finance
    """
    app = open_app()
    password = _password("Password")
    try:
        account = staff_accounts.add(app.store, name, role, password, app.clock.now(), email=email)
    except AccountError as exc:
        raise Failure(str(exc)) from None
    output.line(f"added {account.name} ({account.role}); log in at `mailbot web`")


@staff.command("list")
@json_flag
@config_option
def staff_list(as_json: bool) -> None:
    """The accounts, with role and address (never a password).

    \b
    Example:
      mailbot staff list
    """
    accounts = staff_accounts.accounts(open_app().store)
    if as_json:
        output.print_json(accounts)
        return
    if not accounts:
        output.line("no accounts yet: `mailbot staff add NAME --role support`")
        return
    output.show(
        output.table(
            None,
            ["name", "role", "email", "created"],
            [[a.name, a.role, a.email or "-", a.created_at] for a in accounts],
        )
    )


@staff.command("remove")
@click.argument("name")
@config_option
def staff_remove(name: str) -> None:
    """Remove an account; its browsers are logged out at once. The audit trail keeps the
    name on what it did.

    \b
    Example:
      mailbot staff remove ana
    """
    try:
        staff_accounts.remove(open_app().store, name)
    except AccountError as exc:
        raise Failure(str(exc)) from None
    output.line(f"removed {name}")


@staff.command("password")
@click.argument("name")
@config_option
def staff_password(name: str) -> None:
    """Set a new password (from standard input); the account's browsers are logged out.

    \b
    Example:
      mailbot staff password ana
    """
    app = open_app()
    password = _password("New password")
    try:
        staff_accounts.set_password(app.store, name, password, app.clock.now())
    except AccountError as exc:
        raise Failure(str(exc)) from None
    output.line(f"new password for {name}; its sessions were logged out")
