"""The actions of `mailbot licenses`: resend, revoke, transfer, grant. Each is a few lines over
`services/licenses.py`, which refuses in plain words; `licenses.py` adds them to its group.

Apart from the look-ups (`list`, `show`, `revoked`) because these change licenses and mail
customers: each takes `--as` for the audit trail.
"""

from __future__ import annotations

from typing import Any

import click

from mailbot.app import App
from mailbot.cli import formats, output
from mailbot.cli.root import (
    ROW_ID_MAX,
    Failure,
    actor_option,
    config_option,
    json_flag,
    open_app,
    plain_errors,
)


def _action(func: Any) -> Any:
    """The options every license action shares: --as, --json, --config."""
    return config_option(json_flag(actor_option(func)))


def license_number(app: App, ref: str) -> int:
    """A license number, or a serial (its active license, else its newest)."""
    number = ref.strip().lstrip("#")
    if number.isdigit():
        if int(number) > ROW_ID_MAX:
            raise Failure(f"no license #{number}; `mailbot licenses list` lists them")
        return int(number)
    from mailbot.services.license_views import list_licenses

    rows = (
        list_licenses(
            app.store,
            serial=ref,
            product_code=app.settings.product.code,
            today=app.clock.now().date(),
        )
        if ref.strip()
        else []
    )
    if not rows:
        raise Failure(f"no license for {ref!r}; give a license number or a licensed serial")
    active = [lic for lic in rows if lic.state.value == "active"]
    return (active or rows)[-1].license_no


@click.command("resend")
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
        no = license_number(app, license_ref)
        sent = resend(app, no, formats.actor(actor), app.clock.now())
    if as_json:
        output.print_json({"license_no": no, "to": sent.to, "outbox_id": sent.outbox_id})
        return
    output.line(
        f"license #{no} queued for {sent.to} (outbox #{sent.outbox_id}); the running "
        "worker sends it."
    )


@click.command("revoke")
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
            app, license_number(app, license_ref), reason, formats.actor(actor), app.clock.now()
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


@click.command("transfer")
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


@click.command("grant")
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


ACTIONS = [licenses_resend, licenses_revoke, licenses_transfer, licenses_grant]
