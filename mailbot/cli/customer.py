"""`mailbot customer`: one customer on one screen (the same tables `queue show` prints)."""

from __future__ import annotations

import click

from mailbot.cli import output
from mailbot.cli.formats import day, expiry, term, when
from mailbot.cli.root import config_option, json_flag, open_app, plain_errors
from mailbot.services.customers import CustomerView


def customer_tables(c: CustomerView, skip_escalation: int | None = None) -> None:
    """Orders with seats, licenses, mails, other escalations and pay-link requests."""
    if not c.email:
        return
    seats = c.seats
    if c.orders:
        output.show(
            output.table(
                f"Orders of {c.email}: {seats.usable} usable seat(s), {seats.in_use} in use, "
                f"{seats.free} free",
                ["order", "status", "created", "seats", "refunded", "used", "free", "paid until"],
                [
                    [
                        o.order_id,
                        o.status,
                        day(o.created),
                        o.seats,
                        o.refunded_seats,
                        o.used,
                        o.free,
                        term(o),
                    ]
                    for o in c.orders
                ],
            )
        )
    else:
        output.line(f"\nNo orders for {c.email}.")
    if c.licenses:
        output.show(
            output.table(
                f"Licenses of {c.email}",
                ["#", "serial", "order", "state", "issued", "expires", "note"],
                [
                    [
                        lic.license_no,
                        lic.serial,
                        lic.order_id or "(grant)",
                        lic.state.value,
                        day(lic.issued_at),
                        expiry(lic),
                        lic.revoked_reason or lic.grant_reason,
                    ]
                    for lic in c.licenses
                ],
            )
        )
    if c.messages:
        output.show(
            output.table(
                f"Mails from {c.email}",
                ["#", "received", "subject", "outcome", "serials"],
                [
                    [
                        m.id,
                        when(m.received_at),
                        m.subject,
                        m.outcome + (f" ({m.reason})" if m.reason else ""),
                        "\n".join(s.serial for s in m.serials),
                    ]
                    for m in c.messages
                ],
            )
        )
    others = [e for e in c.escalations if e.id != skip_escalation]
    if others:
        output.show(
            output.table(
                "Escalations" if skip_escalation is None else "Other escalations",
                ["#", "created", "reason", "state", "claimed"],
                [[e.id, when(e.created_at), e.reason, e.state, e.claimed_by or ""] for e in others],
            )
        )
    if c.pending_payments:
        output.show(
            output.table(
                "Pay-link requests",
                ["reference", "created", "expires", "state", "serials"],
                [
                    [p.id, day(p.created_at), day(p.expires_at), p.state, ", ".join(p.serials)]
                    for p in c.pending_payments
                ],
            )
        )


@click.command()
@click.argument("email")
@json_flag
@config_option
def customer(email: str, as_json: bool) -> None:
    """One customer on one screen: orders, seats, licenses, mails, escalations.

    \b
    Example:
      mailbot customer it@acme.example
    """
    from mailbot.services.customers import customer_overview
    from mailbot.services.orders import refresh_local_orders

    app = open_app()
    with plain_errors():
        refresh_local_orders(app)
    overview = customer_overview(app.store, email, today=app.clock.now().date())
    if as_json:
        output.print_json(overview)
        return
    if not overview.known:
        output.line(f"Nothing known about {overview.email}.")
        return
    output.rule(overview.email)
    customer_tables(overview)
