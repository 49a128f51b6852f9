"""`mailbot webhook`: the optional Stripe webhook endpoint."""

from __future__ import annotations

import signal
import threading

import click

from mailbot.cli import output
from mailbot.cli.root import Failure, config_option, open_app
from mailbot.config import secret
from mailbot.core.errors import SetupError


@click.group()
def webhook() -> None:
    """The optional Stripe webhook endpoint (sync happens without it, minutes later).

    \b
    Example:
      mailbot webhook serve --port 8787
    """


@webhook.command("serve")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; keep loopback and put a TLS proxy in front.",
)
@click.option(
    "--port",
    default=8787,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port (0: any free port, printed at start).",
)
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
        raise Failure(
            "set [orders] webhook_secret_env to the environment variable holding the "
            "endpoint's signing secret (whsec_...)"
        )
    try:
        signing_secret = secret(settings.webhook_secret_env, None, "the webhook signing secret")
        app.orders  # noqa: B018 - built now, so a missing API key is one clear sentence
    except SetupError as exc:
        raise Failure(str(exc)) from None
    try:
        server = WebhookServer(app, signing_secret, host, port)
    except OSError as exc:
        raise Failure(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    server.start()
    output.line(f"listening on {server.url}")
    try:
        while not stop.wait(1.0):  # a timed wait: signal handlers run between the slices
            pass
    finally:
        server.stop()
    output.line("stopped")
