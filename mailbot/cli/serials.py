"""`mailbot serial` and `mailbot license`: serial numbers and license strings, as the desktop
app makes and checks them."""

from __future__ import annotations

import sys
from datetime import date, datetime

import click

from mailbot.cli import output
from mailbot.cli.root import Failure, config_option, load_settings
from mailbot.core import serials

MAX_COUNT = 10_000  # serials printed by one `serial new`


@click.group("serial")
def serial_group() -> None:
    """Serial numbers, as the desktop app makes them.

    \b
    Example:
      mailbot serial check AMC-1234-5678-9ABC-DEFG
    """


@serial_group.command("new")
@click.option(
    "--count",
    default=1,
    show_default=True,
    type=click.IntRange(1, MAX_COUNT),
    help=f"How many serials to print (at most {MAX_COUNT:,}).",
)
@config_option
def serial_new(count: int) -> None:
    """Print a new random serial number.

    \b
    Example:
      mailbot serial new --count 5
    """
    code = load_settings().product.code
    click.echo("\n".join(serials.generate(code) for _ in range(count)))


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
        output.line(f"not a {code} serial number: {serial!r}")
        sys.exit(1)
    if found.status.value != "ok":
        output.line(f"{found.normalized}: {found.status.value} (a symbol is wrong; check it again)")
        sys.exit(1)
    output.line(f"{found.normalized}: valid")


@click.group("license")
def license_group() -> None:
    """License strings.

    \b
    Example:
      mailbot license verify --serial AMC-... AMC1-...
    """


@license_group.command("verify")
@click.option("--serial", required=True, help="The serial the license must be bound to.")
@click.option(
    "--at",
    "at_day",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="Check validity on this day (YYYY-MM-DD; default today): expired then, exit 1.",
)
@click.argument("license_string", nargs=-1, required=True)
@config_option
def license_verify(serial: str, license_string: tuple[str, ...], at_day: datetime | None) -> None:
    """Verify a license string against the configured public keys (exit 0 valid, 1 invalid,
    also when it has expired by --at).

    The string may be split over several arguments or lines, as mail clients wrap it.

    \b
    Example:
      mailbot license verify --serial AMC-5X7P-J077-A92P-0S6Z AMC1-ABCDEFGH-...
    """
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
        info = verify_license(
            " ".join(license_string),
            serial=serial,
            public_keys=publics,
            product_code=settings.product.code,
            today=at_day.date() if at_day else date.today(),
        )
    except InvalidLicense as exc:
        output.line(f"invalid: {exc}")
        sys.exit(1)
    expires = info.expires.isoformat() if info.expires else "never"
    output.line(
        f"valid: license #{info.license_no} for {info.serial}, issued "
        f"{info.issued.isoformat()}, expires {expires}, key id {info.key_id:02x}"
    )
