"""`mailbot licenses`: look up, re-send, revoke, transfer, grant, publish revocations. The
look-ups here; the actions in `license_actions.py`, added to the group below."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Any

import click

from mailbot.cli import output
from mailbot.cli.formats import day, expiry, when
from mailbot.cli.license_actions import ACTIONS, license_number
from mailbot.cli.root import (
    Failure,
    config_option,
    json_flag,
    open_app,
    plain_errors,
)
from mailbot.core.model import License
from mailbot.services.expiry import DatedLicense

LIST_COLUMNS = ["#", "serial", "customer", "order", "state", "issued", "expires", "note"]


def license_json(lic: License, with_string: bool = False) -> dict[str, Any]:
    data = dict(output.plain(lic))
    if not with_string:
        del data["license_string"]  # listings never carry license strings
    return data


def _row(lic: DatedLicense) -> list[Any]:
    return [
        lic.license_no,
        lic.serial,
        lic.customer_email,
        lic.order_id or "(grant)",
        lic.state.value,
        day(lic.issued_at),
        expiry(lic),
        lic.revoked_reason or lic.grant_reason,
    ]


def _term(paid_until: date | None, state: str) -> str:
    """ "paid until 2026-12-31, active"; "" for an order bought for good."""
    paid = f"paid until {paid_until.isoformat()}" if paid_until else ""
    return ", ".join(p for p in (paid, state) if p)


@click.group()
def licenses() -> None:
    """Issued licenses: look up, re-send, revoke, transfer, grant, publish revocations.

    \b
    Example:
      mailbot licenses list --customer it@acme.example
    """


for _command in ACTIONS:
    licenses.add_command(_command)


@licenses.command("list")
@click.option("--customer", "email", metavar="EMAIL", help="Only this customer (or @domain).")
@click.option("--order", "order_id", help="Only licenses on this order.")
@click.option("--serial", help="Only licenses of this serial.")
@click.option("--state", type=click.Choice(["active", "revoked"]), help="Only this state.")
@json_flag
@config_option
def licenses_list(
    email: str | None, order_id: str | None, serial: str | None, state: str | None, as_json: bool
) -> None:
    """List licenses (without the license strings; `show` has them).

    \b
    Example:
      mailbot licenses list --order cs_test_a1 --state active
    """
    from mailbot.services.license_views import list_licenses

    app = open_app()
    rows = list_licenses(
        app.store,
        email=email,
        order_id=order_id,
        serial=serial,
        state=state,
        product_code=app.settings.product.code,
        today=app.clock.now().date(),
    )
    if as_json:
        output.print_json([license_json(lic) for lic in rows])
        return
    if not rows:
        output.line("No licenses match.")
        return
    output.show(output.table(None, LIST_COLUMNS, [_row(lic) for lic in rows]))


@licenses.command("show")
@click.argument("license_ref", metavar="NUMBER|SERIAL")
@json_flag
@config_option
def licenses_show(license_ref: str, as_json: bool) -> None:
    """One license: its string, order, seat history and who did what.

    \b
    Example:
      mailbot licenses show 12
      mailbot licenses show AMC-5X7P-J077-A92P-0S6Z
    """
    from mailbot.services.license_views import license_detail

    app = open_app()
    with plain_errors():
        d = license_detail(
            app.store, license_number(app, license_ref), today=app.clock.now().date()
        )
    lic = d.license
    if as_json:
        output.print_json(
            {
                **license_json(lic, with_string=True),
                "order": d.order,
                "subscription_state": d.subscription_state,
                "seat_history": [license_json(h) for h in d.seat_history],
                "message": d.message,
                "history": d.history,
            }
        )
        return
    output.rule(f"license #{lic.license_no}: {lic.serial} ({lic.state.value})")
    order = d.order
    lines = [
        ("customer", lic.customer_email),
        (
            "order",
            f"{order.order_id} ({order.status.value}, {order.seats} seat(s))"
            if order
            else (lic.order_id or "none: a manual grant"),
        ),
        ("term", _term(order.paid_until, d.subscription_state) if order else ""),
        ("issued", lic.issued_at.isoformat()),
        ("expires", expiry(lic)),
        ("renewed", lic.renewed_at.isoformat() if lic.renewed_at else ""),
        ("by", lic.granted_by or "mailbot"),
        ("reason", lic.grant_reason),
        (
            "revoked",
            f"{lic.revoked_at.isoformat()}: {lic.revoked_reason}" if lic.revoked_at else "",
        ),
        ("key id", f"{lic.key_id:02x}"),
    ]
    for label, value in lines:
        if value:
            output.line(f"{label + ':':10}{value}")
    output.line(f"{'license:':10}{lic.license_string}", wrap=False)
    if len(d.seat_history) > 1:
        output.show(
            output.table(
                "This seat over time",
                ["#", "serial", "state", "issued", "expires", "revoked"],
                [
                    [
                        h.license_no,
                        h.serial,
                        h.state.value,
                        day(h.issued_at),
                        expiry(h),
                        day(h.revoked_at),
                    ]
                    for h in d.seat_history
                ],
            )
        )
    if d.history:
        output.show(
            output.table(
                "History",
                ["when", "who", "what", "detail"],
                [[when(h.at), h.actor, h.action, h.detail] for h in d.history],
            )
        )


@licenses.command("revoked")
@click.option("--signed", is_flag=True, help="Write the signed list the desktop app downloads.")
@click.option(
    "--output",
    "-o",
    "target",
    type=click.Path(dir_okay=False, path_type=Path),
    help="With --signed: write to this file (default: standard output).",
)
@json_flag
@config_option
def licenses_revoked(signed: bool, target: Path | None, as_json: bool) -> None:
    """Revoked licenses; with --signed, the signed revocation list for the desktop app.

    \b
    Examples:
      mailbot licenses revoked
      mailbot licenses revoked --signed --output public/revoked.json
    """
    from mailbot.services.licenses import signed_revocation_list

    app = open_app()
    if signed:
        with plain_errors():
            data = signed_revocation_list(app, app.clock.now())
        if target is None:
            sys.stdout.buffer.write(data)
            return
        tmp = target.with_name(f".{target.name}.tmp")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(data)
            tmp.replace(target)  # a download never sees half a list
        except OSError as exc:
            raise Failure(f"cannot write {target}: {exc.strerror or exc}") from None
        output.notice(f"signed revocation list written to {target}")
        return
    rows = app.store.licenses(state="revoked")
    if as_json:
        output.print_json([license_json(lic) for lic in rows])
        return
    if not rows:
        output.line("No revoked licenses.")
        return
    output.show(
        output.table(
            None,
            ["#", "serial", "customer", "order", "revoked", "reason"],
            [
                [
                    lic.license_no,
                    lic.serial,
                    lic.customer_email,
                    lic.order_id or "(grant)",
                    day(lic.revoked_at),
                    lic.revoked_reason,
                ]
                for lic in rows
            ],
        )
    )
