"""The `mailbot` command: a thin shell over the library.

Every command takes `--config PATH` (default: $MAILBOT_CONFIG, then ./mailbot.toml, then the
demo's ./config.example.toml, with a notice on stderr), prints tables for people and `--json`
for scripts, and turns known failures into one plain sentence saying what to do next (exit 2),
never a traceback.
"""

from __future__ import annotations

import functools
import json
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from mailbot import config as config_mod
from mailbot.core import serials
from mailbot.app import App, build
from mailbot.config import ConfigError, Settings
from mailbot.core.model import Outcome

F = TypeVar("F", bound=Callable[..., Any])
console = Console()
if not console.is_terminal:
    # Piped or in CI logs: rich would assume 80 columns and fold serials mid-way.
    console = Console(width=140)
err_console = Console(stderr=True)


class Failure(click.ClickException):
    """A plain-words failure: printed without a traceback, exit 2."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        # The message is plain text: "[orders] path" must not be read as Rich markup, and it is
        # not folded at the terminal width either.
        line = Text.assemble(("error:", "bold red"), " ", self.message)
        err_console.print(line, highlight=False, soft_wrap=True)


def config_option(func: F) -> F:
    """`--config PATH` on every command (scripts put it after the command name)."""

    @click.option("--config", "config_path", type=click.Path(path_type=Path), default=None,
                  help="Config file (default: $MAILBOT_CONFIG, then ./mailbot.toml, then the "
                       "demo's ./config.example.toml).")
    @click.pass_context
    @functools.wraps(func)
    def wrapper(ctx: click.Context, *args: Any, config_path: Path | None, **kwargs: Any) -> Any:
        if config_path is not None:
            ctx.ensure_object(dict)["config_path"] = config_path
        return ctx.invoke(func, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def load_settings() -> Settings:
    """The config: --config, else MAILBOT_CONFIG, else ./mailbot.toml, else the demo's."""
    ctx = click.get_current_context()
    state = ctx.find_root().ensure_object(dict)
    try:
        settings = config_mod.load(state.get("config_path"))
    except ConfigError as exc:
        raise Failure(str(exc)) from None
    if settings.is_demo_fallback and not state.get("demo_notice_shown"):
        state["demo_notice_shown"] = True
        click.echo(f"mailbot: no --config, {config_mod.CONFIG_ENV} or ./mailbot.toml; using the "
                   f"demo config ./{config_mod.DEMO_CONFIG_NAME}", err=True)
    return settings


def open_app(**overrides: Any) -> App:
    app = build(load_settings(), **overrides)
    ctx = click.get_current_context()
    ctx.call_on_close(app.close)
    return app


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def table(title: str | None, columns: list[str], rows: list[list[Any]]) -> Table:
    t = Table(title=title, title_justify="left", header_style="bold", show_lines=False)
    for i, c in enumerate(columns):
        # Only the last column wraps: addresses and serials stay whole on their line.
        t.add_column(c, overflow="fold", no_wrap=i < len(columns) - 1)
    for r in rows:
        t.add_row(*["" if v is None else str(v) for v in r])
    return t


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=None,
              help="Config file (default: $MAILBOT_CONFIG, then ./mailbot.toml, then the "
                   "demo's ./config.example.toml).")
@click.option("--log-level", default="warning", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
@click.option("--log-json", is_flag=True, help="Log one JSON object per line (for collectors).")
@click.version_option(package_name="mailbot")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, log_level: str, log_json: bool) -> None:
    """mailbot: serial numbers in by mail, signed license strings out.

    \b
    Start here:
      mailbot keys init            create the signing key
      mailbot run --once           process waiting mail, send replies, print a summary
      mailbot queue list           what needs a person
    """
    from mailbot.logs import configure

    configure(log_level, log_json)
    ctx.ensure_object(dict)
    if config_path is not None:
        ctx.obj["config_path"] = config_path


# -- keys -------------------------------------------------------------------------------


@cli.group()
def keys() -> None:
    """The Ed25519 signing key.

    \b
    Example:
      mailbot keys init
    """


@keys.command("init")
@config_option
def keys_init() -> None:
    """Create the signing key if absent (mode 0600) and print the public key.

    \b
    Example:
      mailbot keys init --config mailbot.toml
    """
    from mailbot.adapters.signing import KeyFileError, fingerprint, init_key, public_key_text

    s = load_settings().signing
    try:
        created, public = init_key(s.private_key, s.public_keys, _passphrase(s.passphrase_env))
    except KeyFileError as exc:
        raise Failure(str(exc)) from None
    state = "created" if created else "already exists"
    click.echo(f"signing key {s.private_key}: {state}")
    click.echo(f"{fingerprint(public)}")
    click.echo(f"public key (embed in the desktop app): {public_key_text(public)}")


@keys.command("rotate")
@config_option
def keys_rotate() -> None:
    """Sign new licenses with a new key; licenses signed before keep verifying.

    \b
    Example:
      mailbot keys rotate
    """
    from mailbot.adapters.signing import KeyFileError, fingerprint, public_key_text, rotate_key

    s = load_settings().signing
    try:
        public = rotate_key(s.private_key, s.public_keys, _passphrase(s.passphrase_env))
    except KeyFileError as exc:
        raise Failure(str(exc)) from None
    click.echo(f"new signing key: {fingerprint(public)}")
    click.echo(f"public key (add to the desktop app): {public_key_text(public)}")


def _passphrase(env_name: str) -> bytes | None:
    import os

    if not env_name:
        return None
    value = os.environ.get(env_name)
    if not value:
        raise Failure(f"[signing] passphrase_env names {env_name}, which is not set")
    return value.encode()


# -- serials and licenses ---------------------------------------------------------------


@cli.group("serial")
def serial_group() -> None:
    """Serial numbers, as the desktop app makes them.

    \b
    Example:
      mailbot serial check AMC-1234-5678-9ABC-DEFG
    """


@serial_group.command("new")
@click.option("--count", default=1, show_default=True, help="How many serials to print.")
@config_option
def serial_new(count: int) -> None:
    """Print a new random serial number.

    \b
    Example:
      mailbot serial new --count 5
    """
    code = load_settings().product.code
    for _ in range(count):
        click.echo(serials.generate(code))


@serial_group.command("check")
@click.argument("serial")
@config_option
def serial_check(serial: str) -> None:
    """Validate a serial (exit 0 valid, 1 invalid), forgiving case, O/0 and I/L/1.

    \b
    Example:
      mailbot serial check "amc 1234 5678 9abc defg"
    """
    code = load_settings().product.code
    found = serials.parse(serial, code)
    if found is None:
        click.echo(f"not a {code} serial number: {serial!r}")
        sys.exit(1)
    if found.status.value != "ok":
        click.echo(f"{found.normalized}: {found.status.value} (a symbol is wrong; check it again)")
        sys.exit(1)
    click.echo(f"{found.normalized}: valid")


@cli.group("license")
def license_group() -> None:
    """License strings.

    \b
    Example:
      mailbot license verify --serial AMC-... AMC1-...
    """


@license_group.command("verify")
@click.option("--serial", required=True, help="The serial the license must be bound to.")
@click.argument("license_string", nargs=-1, required=True)
@config_option
def license_verify(serial: str, license_string: tuple[str, ...]) -> None:
    """Verify a license string against the configured public keys (exit 0 valid, 1 invalid).

    The string may be split over several arguments or lines, as mail clients wrap it.

    \b
    Example:
      mailbot license verify --serial AMC-5X7P-J077-A92P-0S6Z AMC1-ABCDEFGH-...
    """
    from datetime import date

    from mailbot.adapters.signing import KeyFileError, load_public_keys
    from mailbot.core.license_format import InvalidLicense, verify_license

    settings = load_settings()
    try:
        publics = load_public_keys(settings.signing.public_keys, settings.signing.private_key)
    except KeyFileError as exc:
        raise Failure(str(exc)) from None
    if not publics:
        raise Failure("no public keys found; run `mailbot keys init` or check [signing]")
    try:
        info = verify_license(" ".join(license_string), serial=serial, public_keys=publics,
                              product_code=settings.product.code, today=date.today())
    except InvalidLicense as exc:
        click.echo(f"invalid: {exc}")
        sys.exit(1)
    expires = info.expires.isoformat() if info.expires else "never"
    click.echo(f"valid: license #{info.license_no} for {info.serial}, issued "
               f"{info.issued.isoformat()}, expires {expires}, key id {info.key_id:02x}")


# -- the worker -------------------------------------------------------------------------


@cli.command()
@click.option("--once", is_flag=True, help="Process what is waiting, deliver replies, exit.")
@click.option("--json", "as_json", is_flag=True, help="With --once: the summary as JSON.")
@config_option
def run(once: bool, as_json: bool) -> None:
    """Process mail: `--once` for a single pass, or run as a service until stopped.

    \b
    Examples:
      mailbot run --once               # cron-style single pass, prints a summary
      mailbot run                      # service: IDLE/polling, outbox, order sync
    """
    from mailbot.services.worker import Worker

    from mailbot.services.preflight import preflight

    app = open_app()
    try:
        preflight(app)  # a setup fault stops here, before any mail is touched
    except ConfigError as exc:
        raise Failure(str(exc)) from None
    if not once:
        from mailbot.scheduler import Runner

        Runner(app, extra_jobs=_extra_jobs(app)).start()
        return
    worker = Worker(app)
    try:
        with err_console.status("processing mail…") if not as_json else _null():
            processed = worker.poll_once()
            delivery = worker.deliver_outbox()
    except ConfigError as exc:
        raise Failure(str(exc)) from None
    new = [p for p in processed if not p.already_done]
    if as_json:
        print_json({
            "processed": [
                {"key": p.key, "sender": p.sender, "outcome": p.outcome.value,
                 "reason": p.reason.value if p.reason else None, "serials": list(p.serials)}
                for p in new
            ],
            "outcomes": dict(Counter(p.outcome.value for p in new)),
            "sent": delivery.sent, "retrying": delivery.retrying, "failed": delivery.failed,
        })
        return
    _print_summary(new, delivery)


def _extra_jobs(app: App) -> list[tuple[str, Callable[[], Any], float]]:
    """The periodic jobs besides mail and outbox (order sync, staff digest, expiry)."""
    from mailbot.services.jobs import scheduled_jobs

    return scheduled_jobs(app)


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


def _print_summary(processed: list[Any], delivery: Any) -> None:
    if not processed:
        console.print("No new mail.")
    else:
        rows = [[p.sender or "-", p.outcome.value, p.reason.value if p.reason else "",
                 "\n".join(p.serials)] for p in processed]
        console.print(table(f"{len(processed)} mail(s) processed",
                            ["sender", "outcome", "reason", "serials"], rows))
        counts = Counter(p.outcome.value for p in processed)
        console.print("  ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
    line = f"mail sent: {delivery.sent}"
    if delivery.retrying:
        line += f", waiting to retry: {delivery.retrying}"
    if delivery.failed:
        line += f", failed: {delivery.failed} (see `mailbot queue list`)"
    console.print(line)
    if delivery.blocked:
        err_console.print(Text.assemble(("nothing could be sent:", "bold red"), " ",
                                        delivery.blocked), highlight=False, soft_wrap=True)


@cli.command()
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False,
                                                   path_type=Path))
@click.option("--mailbox", "from_mailbox", is_flag=True,
              help="Every mail waiting in the configured mailbox (IMAP or Maildir).")
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
    except ConfigError as exc:
        raise Failure(str(exc)) from None
    if as_json:
        print_json(results)
        return
    if from_mailbox and not results:
        console.print("No mail is waiting in the mailbox.")
    for r in results:
        head = r.get("file") or f"{r.get('received_at') or ''} {r['sender'] or '-'}".strip()
        console.print(Text.assemble((head, "bold"), ": ", r["outcome"],
                                    f" ({r['reason']})" if r["reason"] else ""),
                      highlight=False)
        for item in r["serials"]:
            console.print(Text(f"  {item['as_found']} -> {item['serial']} [{item['status']}] "
                               f"{item['action'] or ''} {item['reason'] or ''}"),
                          highlight=False)
        for line in r["explanation"]:
            console.print(Text(f"  - {line}"), highlight=False)
    if from_mailbox and results:
        counts = Counter(r["outcome"] for r in results)
        console.print(f"{len(results)} waiting mail(s): "
                      + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))


@cli.group()
def messages() -> None:
    """Every processed mail and its outcome.

    \b
    Example:
      mailbot messages list --outcome escalated
    """


@messages.command("list")
@click.option("--json", "as_json", is_flag=True, help="A JSON array, for scripts.")
@click.option("--outcome", type=click.Choice([o.value for o in Outcome]),
              help="Only this outcome.")
@click.option("--sender", help="Only mail from this address.")
@click.option("--limit", type=int, default=0, help="At most this many, newest first (0 = all).")
@config_option
def messages_list(as_json: bool, outcome: str | None, sender: str | None, limit: int) -> None:
    """List processed mail with outcome, reason and serials.

    \b
    Example:
      mailbot messages list --json | jq '.[] | select(.outcome=="issued")'
    """
    from mailbot.services.queries import list_messages

    app = open_app()
    items = list_messages(app.store, outcome=outcome, sender=sender, limit=limit)
    if as_json:
        print_json(items)
        return
    rows = [[m["id"], m["processed_at"], m["sender"], m["outcome"], m["reason"] or "",
             ", ".join(s["serial"] for s in m["serials"])] for m in items]
    console.print(table(None, ["#", "processed", "sender", "outcome", "reason", "serials"],
                        rows))


@cli.group()
def orders() -> None:
    """Orders: list them, record offline ones, sync from Stripe.

    \b
    Example:
      mailbot orders add --email it@acme.example --seats 5 --name "ACME Ltd"
    """


@orders.command("add")
@click.option("--email", required=True, help="The customer's email address.")
@click.option("--seats", type=click.IntRange(min=1), required=True, help="Seats bought.")
@click.option("--name", default="", help="Customer or company name.")
@click.option("--order-id", default="", help="Your reference (default: MAN-<date>-<n>).")
@click.option("--status", type=click.Choice(["paid", "unpaid"]), default="paid",
              show_default=True)
@config_option
def orders_add(email: str, seats: int, name: str, order_id: str, status: str) -> None:
    """Record an offline order (bank transfer, invoice).

    \b
    Example:
      mailbot orders add --email it@acme.example --seats 5 --name "ACME Ltd"
    """
    from mailbot.services.queries import add_manual_order
    from mailbot.services.worker import Worker

    app = open_app()
    # The orders file's current ids, so one of them is not taken over by this order.
    Worker(app).sync_local_orders()
    try:
        order = add_manual_order(app.store, app.clock.now(), email=email, seats=seats,
                                 name=name, order_id=order_id, status=status)
    except ValueError as exc:
        raise Failure(str(exc)) from None
    click.echo(f"order {order.order_id}: {order.seats} seat(s) for {order.email} ({status})")


@orders.command("list")
@click.option("--email", help="Only this customer's orders.")
@click.option("--json", "as_json", is_flag=True)
@config_option
def orders_list(email: str | None, as_json: bool) -> None:
    """List known orders with seats used and free.

    \b
    Example:
      mailbot orders list --email it@acme.example
    """
    from mailbot.services.queries import order_rows
    from mailbot.services.worker import Worker

    app = open_app()
    Worker(app).sync_local_orders()
    rows = order_rows(app.store, email)
    if as_json:
        print_json(rows)
        return
    console.print(table(None, ["order", "email", "status", "seats", "refunded", "used", "free",
                               "source", "created"],
                        [[r["order_id"], r["email"], r["status"], r["seats"],
                          r["refunded_seats"], r["used"], r["free"], r["source"],
                          r["created"][:10]] for r in rows]))


@cli.command()
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
    except ConfigError as exc:
        checks = [Check("config", False, str(exc))]
    if as_json:
        print_json([c.as_json() for c in checks])
    else:
        for check in checks:
            mark = Text("ok  ", style="green") if check.ok else Text("FAIL", style="red")
            # One line per check however long: scripts and people grep for "FAIL".
            console.print(Text.assemble(mark, " ", f"{check.name}: {check.detail}"),
                          highlight=False, soft_wrap=True)
    if not all(c.ok for c in checks):
        sys.exit(1)


def main() -> None:
    cli(prog_name="mailbot")


# Staff commands live in their own module and attach themselves to `cli` on import.
from mailbot.cli import staff as staff_cli # noqa: E402,F401
from mailbot.cli import sync as sync_cli # noqa: E402,F401
