"""Commands for order sync from Stripe and its webhook (attached to `cli` on import)."""

from __future__ import annotations

import signal
import threading
from typing import Any

import click
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from mailbot.app import App
from mailbot.cli.main import (
    Failure,
    cli,
    config_option,
    console,
    err_console,
    open_app,
    orders,
    print_json,
    table,
)
from mailbot.config import ConfigError, secret


def _orders_source(app: App) -> Any:
    """The configured order source, built now so a missing key is one clear sentence; closed
    with the command (its connection pool would otherwise outlive it)."""
    try:
        source = app.orders
    except ConfigError as exc:
        raise Failure(str(exc)) from None
    close = getattr(source, "close", None)
    if close is not None:
        click.get_current_context().call_on_close(close)
    return source


@orders.command("sync")
@click.option("--full", is_flag=True,
              help="Re-list every order (the safety net), not only what changed.")
@click.option("--json", "as_json", is_flag=True, help="The summary as JSON, for scripts.")
@config_option
def orders_sync(full: bool, as_json: bool) -> None:
    """Bring the local copy of orders up to date, then act on what changed.

    The first run reads every order from Stripe (resumable: interrupted, the next run continues
    after the last page stored); later runs read only Stripe's events since the last run, and
    --full re-lists everything. Paid pay-link requests get their licenses mailed; refunded or
    disputed orders that still carry active licenses are put in the queue. With a CSV orders
    file the file is read again. `mailbot run` does this by itself every [orders] sync_minutes.

    \b
    Example:
      mailbot orders sync
      mailbot orders sync --full --json
    """
    from mailbot.services.order_sync import SyncReport, sync_orders
    from mailbot.adapters.orders.stripe import StripeUnavailable

    app = open_app()
    _orders_source(app)
    report: SyncReport
    try:
        if as_json:
            report = sync_orders(app, full=full)
        else:
            with Progress(SpinnerColumn(), TextColumn("orders synced: {task.completed:,.0f}"),
                          TimeElapsedColumn(), console=err_console, transient=True) as bar:
                task = bar.add_task("sync", total=None)
                report = sync_orders(app, full=full,
                                     progress=lambda n: bar.update(task, completed=n))
    except StripeUnavailable as exc:
        raise Failure(f"{exc}. Everything synced before that is kept; run "
                      "`mailbot orders sync` again later to continue.") from None
    except ConfigError as exc:
        raise Failure(str(exc)) from None
    if as_json:
        print_json(report.as_json())
        return
    mode = {"backfill": "first sync (every order)", "full": "full re-list",
            "incremental": "changes since the last sync", "file": "orders file read again"}
    what = mode.get(report.mode, report.mode) + (" (resumed)" if report.resumed else "")
    rows: list[list[Any]] = [
        ["sync", what],
        ["orders synced", f"{report.orders:,}"],
        ["pay-link requests fulfilled", len(report.fulfilled)],
        ["licenses issued", report.licenses_issued],
        ["new escalations", len(report.escalations)],
        ["webhook events", report.webhook_events],
        ["API calls", report.api_calls],
        ["time", f"{report.seconds:.1f} s"],
    ]
    console.print(table(None, ["", ""], rows))
    if report.escalations:
        console.print("See `mailbot queue list` for what needs a person.")


@cli.group()
def webhook() -> None:
    """The optional Stripe webhook endpoint (sync happens without it, minutes later).

    \b
    Example:
      mailbot webhook serve --port 8787
    """


@webhook.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; keep loopback and put a TLS proxy in front.")
@click.option("--port", default=8787, show_default=True, type=click.IntRange(0, 65535),
              help="Port (0: any free port, printed at start).")
@config_option
def webhook_serve(host: str, port: int) -> None:
    """Receive Stripe webhooks at POST /stripe/webhook until stopped (Ctrl-C or SIGTERM).

    Each delivery's signature is checked with the secret named by [orders] webhook_secret_env;
    only the event id is kept, and the event is fetched again from Stripe before anything is
    stored, so a forged or replayed body changes nothing.

    \b
    Example:
      STRIPE_WEBHOOK_SECRET=whsec_... mailbot webhook serve --host 127.0.0.1 --port 8787
    """
    from mailbot.webhook import WebhookServer

    app = open_app()
    settings = app.settings.orders
    if settings.kind != "stripe":
        raise Failure('webhooks need [orders] kind = "stripe"')
    if not settings.webhook_secret_env:
        raise Failure("set [orders] webhook_secret_env to the environment variable holding the "
                      "endpoint's signing secret (whsec_...)")
    try:
        signing_secret = secret(settings.webhook_secret_env, None, "the webhook signing secret")
    except ConfigError as exc:
        raise Failure(str(exc)) from None
    _orders_source(app)
    try:
        server = WebhookServer(app, signing_secret, host, port)
    except OSError as exc:
        raise Failure(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    server.start()
    click.echo(f"listening on {server.url}")
    try:
        while not stop.wait(1.0):  # a timed wait: signal handlers run between the slices
            pass
    finally:
        server.stop()
    click.echo("stopped")
