"""`mailbot web`: the staff console."""

from __future__ import annotations

import click

from mailbot.cli import output
from mailbot.cli.root import Failure, config_option, open_app


@click.command("web")
@click.option("--host", default=None, help="Address to listen on (default: [web] host, 127.0.0.1).")
@click.option(
    "--port",
    default=None,
    type=click.IntRange(0, 65535),
    help="Port (default: [web] port, 8780).",
)
@config_option
def web(host: str | None, port: int | None) -> None:
    """Serve the staff console until stopped (Ctrl-C or SIGTERM).

    Keep it on loopback and put a TLS reverse proxy in front (docs/web.md); with
    X-Forwarded-Proto: https from a [web] trusted_proxies address the session cookie is
    Secure. Accounts: `mailbot staff add`.

    \b
    Example:
      mailbot web --port 8780
    """
    import uvicorn

    from mailbot.web.console import create_app

    app = open_app()
    settings = app.settings.web
    app.store  # noqa: B018 - opened now: a damaged store is one sentence, not a 500 later
    if not app.store.all_staff():
        output.notice("no staff accounts yet: add one with `mailbot staff add NAME --role admin`")
    config = uvicorn.Config(
        create_app(app),
        host=host or settings.host,
        port=settings.port if port is None else port,
        proxy_headers=True,
        forwarded_allow_ips=settings.trusted_proxies,
        server_header=False,
        access_log=False,
        log_level="warning",
        timeout_keep_alive=5,
        limit_concurrency=200,
    )
    server = uvicorn.Server(config)
    output.line(f"mailbot web on http://{config.host}:{config.port}/  (Ctrl-C stops)")
    try:
        server.run()
    except OSError as exc:
        raise Failure(
            f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}"
        ) from None
