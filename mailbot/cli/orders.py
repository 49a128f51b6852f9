"""`mailbot orders`: list orders, record offline ones, sync from Stripe."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from mailbot.cli import output
from mailbot.cli.formats import day
from mailbot.cli.root import Failure, config_option, open_app, plain_errors
from mailbot.core.errors import SetupError
from mailbot.services.ports import OrderSourceUnavailable


@click.group()
def orders() -> None:
    """Orders: list them, record offline ones, sync from Stripe.

    \b
    Example:
      mailbot orders add --email it@acme.example --seats 5 --name "ACME Ltd"
    """


@orders.command("add")
@click.option("--email", required=True, help="The customer's email address.")
@click.option("--seats", type=click.IntRange(1, 1_000_000), required=True, help="Seats bought.")
@click.option("--name", default="", help="Customer or company name.")
@click.option("--order-id", default="", help="Your reference (default: MAN-<date>-<n>).")
@click.option("--status", type=click.Choice(["paid", "unpaid"]), default="paid", show_default=True)
@click.option(
    "--expires",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="Last day the seats are paid for (a term); licenses get the grace days on top. "
    "Again with the same --order-id and a later day: its licenses are renewed and mailed.",
)
@config_option
def orders_add(
    email: str, seats: int, name: str, order_id: str, status: str, expires: datetime | None
) -> None:
    """Record an offline order (bank transfer, invoice), optionally with a term.

    \b
    Example:
      mailbot orders add --email it@acme.example --seats 5 --name "ACME Ltd"
      mailbot orders add --order-id INV-7 --email it@acme.example --seats 5 --expires 2027-01-31
    """
    from mailbot.services.orders import add_manual_order, refresh_local_orders
    from mailbot.services.renewals import renew_due

    app = open_app()
    with plain_errors():
        # The orders file's current ids, so one of them is not taken over by this order.
        refresh_local_orders(app)
        order = add_manual_order(
            app.store,
            app.clock.now(),
            email=email,
            seats=seats,
            name=name,
            order_id=order_id,
            status=status,
            paid_until=expires.date() if expires else None,
        )
        renewed = renew_due(app, app.store, app.clock.now())
    term = f", paid until {order.paid_until.isoformat()}" if order.paid_until else ""
    output.line(f"order {order.order_id}: {order.seats} seat(s) for {order.email} ({status}{term})")
    for done in renewed:
        output.line(
            f"order {done.order_id}: {len(done.licenses)} license(s) renewed and queued for "
            f"{done.to} (outbox #{done.outbox_id})"
        )


@orders.command("list")
@click.option("--email", help="Only this customer's orders (or @domain).")
@click.option("--json", "as_json", is_flag=True)
@config_option
def orders_list(email: str | None, as_json: bool) -> None:
    """List known orders with seats used and free.

    \b
    Example:
      mailbot orders list --email it@acme.example
    """
    from mailbot.services.orders import refresh_local_orders

    app = open_app()
    with plain_errors():
        refresh_local_orders(app)
    rows = app.store.order_uses(email)
    if as_json:
        output.print_json(rows)
        return
    output.show(
        output.table(
            None,
            ["order", "email", "status", "seats", "refunded", "used", "free", "source", "created"],
            [
                [
                    r.order_id,
                    r.email,
                    r.status,
                    r.seats,
                    r.refunded_seats,
                    r.used,
                    r.free,
                    r.source,
                    day(r.created),
                ]
                for r in rows
            ],
        )
    )


@orders.command("sync")
@click.option(
    "--full", is_flag=True, help="Re-list every order (the safety net), not only what changed."
)
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

    app = open_app()
    report: SyncReport
    try:
        app.orders  # noqa: B018 - built now, so a missing key is one clear sentence
        if as_json or not output.err.is_terminal:
            report = sync_orders(app, full=full)
        else:
            with Progress(
                SpinnerColumn(),
                TextColumn("orders synced: {task.completed:,.0f}"),
                TimeElapsedColumn(),
                console=output.err,
                transient=True,
            ) as bar:
                task = bar.add_task("sync", total=None)
                report = sync_orders(
                    app, full=full, progress=lambda n: bar.update(task, completed=n)
                )
    except OrderSourceUnavailable as exc:
        raise Failure(
            f"{exc}. Everything synced before that is kept; run "
            "`mailbot orders sync` again later to continue."
        ) from None
    except SetupError as exc:
        raise Failure(str(exc)) from None
    if as_json:
        output.print_json(report.as_json())
        return
    mode = {
        "backfill": "first sync (every order)",
        "full": "full re-list",
        "incremental": "changes since the last sync",
        "file": "orders file read again",
    }
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
    output.show(output.table(None, ["", ""], rows))
    if report.escalations:
        output.line("See `mailbot queue list` for what needs a person.")
