"""License management by people: look up, re-send, revoke, transfer beyond the automatic limit,
grant by hand, and publish the signed revocation list.

These are the staff-side counterparts of the bot's own issuing and use the same
`issuing.issue_license` and the same unique index (one active license per serial), so no path
can give a serial two active licenses. Each action is one transaction, leaves an audit line
naming who did it, and sends any mail through the outbox. License mail always goes to the
order's email (for a manual grant: the address staff named), never to an address a mail merely
claimed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from mailbot.core import serials
from mailbot.core.model import License, LicenseState, OrderStatus
from mailbot.core.terms import term_lapsed
from mailbot.services import events
from mailbot.services.context import Deps
from mailbot.services.issuing import issue_license
from mailbot.services.mailing import Thread, queue_mail, reply_language, result_item
from mailbot.services.orders import refresh_local_orders
from mailbot.store import Store
from mailbot.store.errors import Conflict


class LicenseError(Exception):
    """A license action that cannot be done; the message says why and what to do instead."""


@dataclass(frozen=True)
class Sent:
    """A license mail put in the outbox."""

    outbox_id: int
    to: str


def normalize_serial(text: str, product_code: str) -> str:
    """A serial as typed by staff -> its normalized form, or LicenseError in plain words."""
    found = serials.parse(text, product_code)
    if found is None:
        raise LicenseError(f"{text!r} is not a {product_code} serial number")
    if found.status is not serials.SerialStatus.OK:
        raise LicenseError(
            f"{text!r} reads as {found.normalized}, but its check symbol is "
            "wrong: a character is mistyped"
        )
    return found.normalized


# -- issuing by hand -------------------------------------------------------------------------


def issue(
    deps: Deps,
    store: Store,
    *,
    serial: str,
    actor: str,
    now: datetime,
    order_id: str | None = None,
    grant_reason: str | None = None,
    email: str = "",
    message_row: int | None = None,
    seat_key: int | None = None,
    force: bool = False,
    escalation_id: int | None = None,
) -> License:
    """Issue a license by a person's decision: against ORDER_ID (paid, with a free seat unless
    `force`), or as a manual grant to EMAIL with a reason. Runs in the caller's transaction."""
    serial = normalize_serial(serial, deps.settings.product.code)
    if order_id:
        order = store.order(order_id)
        if order is None:
            raise LicenseError(f"no order {order_id!r}; `mailbot orders list` shows the known ones")
        if order.status is not OrderStatus.PAID:
            raise LicenseError(
                f"order {order_id} is {order.status.value}: it gives no seats; "
                'use --grant "reason" to license without an order'
            )
        if term_lapsed(order, now.date(), deps.policy.subscription_grace_days):
            raise LicenseError(
                f"order {order_id} was paid until {order.paid_until}: its term is over, so a "
                'license would be expired; extend the order or use --grant "reason"'
            )
        used = store.seats_in_use([order_id]).get(order_id, 0)
        if seat_key is None and used >= order.usable_seats and not force:
            raise LicenseError(
                f"order {order_id} has no free seat ({used} of {order.usable_seats} in use); "
                "add --force to issue over its seats (finance will see it), or use --grant"
            )
        email = order.email
    else:
        if not (grant_reason or "").strip():
            raise LicenseError('a license without an order needs a reason (--grant "why")')
        email = email.strip().lower()
        if "@" not in email:
            raise LicenseError("a manual grant needs the customer's email address")
    _refuse_active(store, serial)
    try:
        lic = issue_license(
            store,
            deps.signer,
            serial=serial,
            email=email,
            order_id=order_id,
            now=now,
            message_row=message_row,
            seat_key=seat_key,
            granted_by=actor,
            grant_reason=(grant_reason or "").strip(),
        )
    except Conflict:
        raise LicenseError(f"{serial} already has an active license") from None
    what = (
        f"issued to {email} against order {order_id}"
        if order_id
        else f"granted to {email} without an order: {grant_reason}"
    )
    store.add_audit(
        escalation_id, actor, "license_issued", f"license #{lic.license_no}: {serial} {what}", now
    )
    return lic


def _refuse_active(store: Store, serial: str) -> None:
    active = store.active_license(serial)
    if active is not None:
        raise LicenseError(
            f"{serial} already has an active license (#{active.license_no}, "
            f"{active.customer_email}); `mailbot licenses resend {active.license_no}` "
            "sends it again"
        )


def recipient_of(store: Store, lic: License) -> str:
    """Where a license may be mailed: its order's email; a manual grant's own address."""
    if lic.order_id:
        order = store.order(lic.order_id)
        if order is not None:
            return order.email
    return lic.customer_email


def mail_licenses(
    deps: Deps,
    store: Store,
    *,
    licenses: list[tuple[License, str, str]],
    to: str,
    template: str,
    now: datetime,
    thread: Thread | None = None,
    message_row: int | None = None,
    escalation_id: int | None = None,
    customer_name: str = "",
) -> Sent:
    """Mail license strings with an outcome template. `licenses` holds (license, action,
    old serial) with action "issue", "resend" or "transfer"."""
    results = [
        result_item(lic.serial, action, old_serial=old or None, license=lic)
        for lic, action, old in licenses
    ]
    orders = store.orders_for_email(to)
    if not customer_name:
        names = [o.name for o in orders if o.name]
        customer_name = names[0] if names else (thread.sender_name if thread else "")
    context = {
        "customer_name": customer_name,
        "results": results,
        "licensed": True,
        "outcome": template,
        "original_subject": thread.subject if thread else "",
    }
    outbox_id = queue_mail(
        deps,
        store,
        to=to,
        template=template,
        context=context,
        now=now,
        kind="reply",
        thread=thread,
        message_row=message_row,
        escalation_id=escalation_id,
        language=reply_language(deps, orders, to, thread),
    )
    return Sent(outbox_id, to)


# -- staff actions on licenses ---------------------------------------------------------------


def require_license(store: Store, license_no: int) -> License:
    """The license with this number, or LicenseError saying how to find one."""
    lic = store.license(license_no)
    if lic is None:
        raise LicenseError(f"no license #{license_no}; `mailbot licenses list` lists them")
    return lic


def resend(deps: Deps, license_no: int, actor: str, now: datetime) -> Sent:
    """Mail an active license again, to its order's email only."""
    with deps.store.transaction() as store:
        lic = require_license(store, license_no)
        if lic.state is not LicenseState.ACTIVE:
            raise LicenseError(f"license #{license_no} is revoked; it cannot be sent again")
        to = recipient_of(store, lic)
        sent = mail_licenses(
            deps, store, licenses=[(lic, "resend", "")], to=to, template="resent", now=now
        )
        events.license_resent(store, lic, to, actor, now)
        store.add_audit(
            None,
            actor,
            "license_resent",
            f"license #{license_no}: {lic.serial} mailed again to {to}",
            now,
        )
    return sent


def revoke(deps: Deps, license_no: int, reason: str, actor: str, now: datetime) -> License:
    """Revoke an active license. Its serial can then be licensed again only by staff."""
    if not reason.strip():
        raise LicenseError("say why (--reason); finance and support read it later")
    with deps.store.transaction() as store:
        lic = require_license(store, license_no)
        if lic.state is not LicenseState.ACTIVE:
            raise LicenseError(f"license #{license_no} is already revoked")
        store.revoke_license(license_no, reason.strip(), now)
        events.license_revoked(store, license_no, actor, now)
        store.add_audit(
            None,
            actor,
            "license_revoked",
            f"license #{license_no}: {lic.serial} revoked: {reason.strip()}",
            now,
        )
    return require_license(deps.store, license_no)


def transfer(
    deps: Deps,
    old_serial: str,
    new_serial: str,
    actor: str,
    now: datetime,
    reason: str = "",
    mail: bool = True,
    thread: Thread | None = None,
    message_row: int | None = None,
    escalation_id: int | None = None,
) -> tuple[License, License, Sent | None]:
    """Move a seat from OLD to NEW on a person's decision (no automatic limit): the old license
    is revoked, the new serial licensed on the same seat and order, mailed to the order's email."""
    code = deps.settings.product.code
    old_serial = normalize_serial(old_serial, code)
    new_serial = normalize_serial(new_serial, code)
    if old_serial == new_serial:
        raise LicenseError("the old and the new serial are the same")
    try:
        with deps.store.transaction() as store:
            old = store.active_license(old_serial)
            if old is None:
                raise LicenseError(f"{old_serial} has no active license")
            _refuse_active(store, new_serial)
            new = issue(
                deps,
                store,
                serial=new_serial,
                actor=actor,
                now=now,
                order_id=old.order_id,
                email=old.customer_email,
                grant_reason=reason or f"transfer from {old_serial}",
                seat_key=old.seat_key,
                message_row=message_row,
                escalation_id=escalation_id,
            )
            store.revoke_license(
                old.license_no, f"transferred to {new_serial}", now, replaced_by=new.license_no
            )
            events.license_transferred(store, old, new, actor, now)
            why = f" ({reason})" if reason else ""
            store.add_audit(
                escalation_id,
                actor,
                "license_transferred",
                f"license #{old.license_no}: {old_serial} transferred to "
                f"{new_serial} (license #{new.license_no}) by staff{why}",
                now,
            )
            sent = None
            if mail:
                sent = mail_licenses(
                    deps,
                    store,
                    licenses=[(new, "transfer", old_serial)],
                    to=recipient_of(store, new),
                    template="transferred",
                    now=now,
                    thread=thread,
                    message_row=message_row,
                    escalation_id=escalation_id,
                )
    except Conflict:
        raise LicenseError(f"{new_serial} already has an active license") from None
    return require_license(deps.store, old.license_no), new, sent


def grant(
    deps: Deps,
    serial: str,
    email: str,
    reason: str,
    actor: str,
    now: datetime,
    order_id: str | None = None,
    force: bool = False,
    mail: bool = True,
) -> tuple[License, Sent | None]:
    """License SERIAL by hand: against an order, or without one (a manual grant, with reason)."""
    refresh_local_orders(deps)
    try:
        with deps.store.transaction() as store:
            lic = issue(
                deps,
                store,
                serial=serial,
                actor=actor,
                now=now,
                order_id=order_id,
                grant_reason=reason,
                email=email,
                force=force,
            )
            sent = None
            if mail:
                sent = mail_licenses(
                    deps,
                    store,
                    licenses=[(lic, "issue", "")],
                    to=recipient_of(store, lic),
                    template="issued",
                    now=now,
                )
    except Conflict:
        raise LicenseError(f"{serial} already has an active license") from None
    return lic, sent


def signed_revocation_list(deps: Deps, now: datetime) -> bytes:
    """The signed list of every revoked license number (see core/license_format.py)."""
    return deps.signer.sign_revocation_list(deps.store.revoked_license_numbers(), now)
