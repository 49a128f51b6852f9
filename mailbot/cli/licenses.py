"""`mailbot licenses`: look up, re-send, revoke, transfer, grant, publish revocations."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from mailbot.app import App
from mailbot.cli import formats, output
from mailbot.cli.formats import day, when
from mailbot.cli.root import (
    ROW_ID_MAX,
    Failure,
    actor_option,
    config_option,
    json_flag,
    open_app,
    plain_errors,
)
from mailbot.core.model import License

LIST_COLUMNS = ["#", "serial", "customer", "order", "state", "issued", "note"]


def license_json(lic: License, with_string: bool = False) -> dict[str, Any]:
    data = dict(output.plain(lic))
    if not with_string:
        del data["license_string"]  # listings never carry license strings
    return data


def _row(lic: License) -> list[Any]:
    return [
        lic.license_no,
        lic.serial,
        lic.customer_email,
        lic.order_id or "(grant)",
        lic.state.value,
        day(lic.issued_at),
        lic.revoked_reason or lic.grant_reason,
    ]


def _action(func: Any) -> Any:
    """The options every license action shares: --as, --json, --config."""
    return config_option(json_flag(actor_option(func)))


@click.group()
def licenses() -> None:
    """Issued licenses: look up, re-send, revoke, transfer, grant, publish revocations.

    \b
    Example:
      mailbot licenses list --customer it@acme.example
    """


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
    from mailbot.services.licenses import list_licenses

    app = open_app()
    rows = list_licenses(
        app.store,
        email=email,
        order_id=order_id,
        serial=serial,
        state=state,
        product_code=app.settings.product.code,
    )
    if as_json:
        output.print_json([license_json(lic) for lic in rows])
        return
    if not rows:
        output.line("No licenses match.")
        return
    output.show(output.table(None, LIST_COLUMNS, [_row(lic) for lic in rows]))


def _license_no(app: App, ref: str) -> int:
    """A license number, or a serial (its active license, else its newest)."""
    number = ref.strip().lstrip("#")
    if number.isdigit():
        if int(number) > ROW_ID_MAX:
            raise Failure(f"no license #{number}; `mailbot licenses list` lists them")
        return int(number)
    from mailbot.services.licenses import list_licenses

    rows = (
        list_licenses(app.store, serial=ref, product_code=app.settings.product.code)
        if ref.strip()
        else []
    )
    if not rows:
        raise Failure(f"no license for {ref!r}; give a license number or a licensed serial")
    active = [lic for lic in rows if lic.state.value == "active"]
    return (active or rows)[-1].license_no


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
    from mailbot.services.licenses import license_detail

    app = open_app()
    with plain_errors():
        d = license_detail(app.store, _license_no(app, license_ref))
    lic = d.license
    if as_json:
        output.print_json(
            {
                **license_json(lic, with_string=True),
                "order": d.order,
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
        ("issued", lic.issued_at.isoformat()),
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
                ["#", "serial", "state", "issued", "revoked"],
                [
                    [h.license_no, h.serial, h.state.value, day(h.issued_at), day(h.revoked_at)]
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


@licenses.command("resend")
@click.argument("license_ref", metavar="NUMBER|SERIAL")
@_action
def licenses_resend(license_ref: str, actor: str | None, as_json: bool) -> None:
    """Mail a license again, to its order's email only.

    \b
    Example:
      mailbot licenses resend 12
    """
    from mailbot.services.licenses import resend

    app = open_app()
    with plain_errors():
        no = _license_no(app, license_ref)
        sent = resend(app, no, formats.actor(actor), app.clock.now())
    if as_json:
        output.print_json({"license_no": no, "to": sent.to, "outbox_id": sent.outbox_id})
        return
    output.line(
        f"license #{no} queued for {sent.to} (outbox #{sent.outbox_id}); the running "
        "worker sends it."
    )


@licenses.command("revoke")
@click.argument("license_ref", metavar="NUMBER|SERIAL")
@click.option("--reason", required=True, help="Why, for support and finance.")
@_action
def licenses_revoke(license_ref: str, reason: str, actor: str | None, as_json: bool) -> None:
    """Revoke a license; its serial can then be licensed again only by staff.

    \b
    Example:
      mailbot licenses revoke 12 --reason "chargeback lost"
    """
    from mailbot.services.licenses import revoke

    app = open_app()
    with plain_errors():
        lic = revoke(
            app, _license_no(app, license_ref), reason, formats.actor(actor), app.clock.now()
        )
    if as_json:
        output.print_json(
            {"license_no": lic.license_no, "serial": lic.serial, "state": lic.state.value}
        )
        return
    output.line(
        f"license #{lic.license_no} ({lic.serial}) revoked. Publish the list: "
        "mailbot licenses revoked --signed --output revoked.json"
    )


@licenses.command("transfer")
@click.argument("old_serial")
@click.argument("new_serial")
@click.option("--reason", default="", help="Why a person allowed it, for the record.")
@click.option("--no-mail", is_flag=True, help="Do not mail the new license.")
@_action
def licenses_transfer(
    old_serial: str, new_serial: str, reason: str, no_mail: bool, actor: str | None, as_json: bool
) -> None:
    """Move a license to a new serial, beyond the automatic transfer limit.

    \b
    Example:
      mailbot licenses transfer AMC-OLD0-... AMC-NEW0-... --reason "mainboard replaced"
    """
    from mailbot.services.licenses import transfer

    app = open_app()
    with plain_errors():
        old, new, sent = transfer(
            app,
            old_serial,
            new_serial,
            formats.actor(actor),
            app.clock.now(),
            reason=reason,
            mail=not no_mail,
        )
    if as_json:
        output.print_json(
            {
                "old_license_no": old.license_no,
                "new_license_no": new.license_no,
                "serial": new.serial,
                "to": sent.to if sent else None,
                "outbox_id": sent.outbox_id if sent else None,
            }
        )
        return
    where = f", mailed to {sent.to}" if sent else ""
    output.line(
        f"license #{old.license_no} ({old.serial}) revoked; #{new.license_no} issued "
        f"for {new.serial} on the same seat{where}."
    )


@licenses.command("grant")
@click.argument("serial")
@click.option("--email", default="", help="The customer's address (manual grants).")
@click.option("--order", "order_id", default=None, help="Use a seat of this paid order.")
@click.option("--reason", default="", help="Why (required without --order).")
@click.option("--force", is_flag=True, help="With --order: even when it has no free seat.")
@click.option("--no-mail", is_flag=True, help="Do not mail the license.")
@_action
def licenses_grant(
    serial: str,
    email: str,
    order_id: str | None,
    reason: str,
    force: bool,
    no_mail: bool,
    actor: str | None,
    as_json: bool,
) -> None:
    """License a serial by hand, against an order or as a manual grant (finance sees those).

    \b
    Examples:
      mailbot licenses grant AMC-5X7P-J077-A92P-0S6Z --order INV-2031
      mailbot licenses grant AMC-5X7P-J077-A92P-0S6Z --email ceo@acme.example \\
        --reason "trade fair demo"
    """
    from mailbot.services.licenses import grant

    app = open_app()
    with plain_errors():
        lic, sent = grant(
            app,
            serial,
            email,
            reason,
            formats.actor(actor),
            app.clock.now(),
            order_id=order_id,
            force=force,
            mail=not no_mail,
        )
    if as_json:
        output.print_json(
            {
                "license_no": lic.license_no,
                "serial": lic.serial,
                "to": sent.to if sent else None,
                "outbox_id": sent.outbox_id if sent else None,
            }
        )
        return
    where = f", mailed to {sent.to}" if sent else ""
    output.line(f"license #{lic.license_no} issued for {lic.serial}{where}.")


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
