"""License management by people: look up, re-send, revoke, transfer beyond the automatic limit,
grant by hand, and publish the signed revocation list.

The bot's own issuing lives in the worker; these are the staff-side counterparts and use the same
`Worker.issue_license` and the same unique index (one active license per serial), so no path can
give a serial two active licenses. Each action is one transaction, leaves an audit row naming who
did it, and sends any mail through the outbox. License mail always goes to the order's email (for
a manual grant: the address staff named), never to an address a mail merely claimed.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mailbot.core import serials
from mailbot.app import App
from mailbot.core.model import License, LicenseState, OrderStatus
from mailbot.services.mailing import Thread, queue_mail
from mailbot.store import Store, address_filter, iso

class LicenseError(Exception):
    """A license action that cannot be done; the message says why and what to do instead."""


@dataclass(frozen=True)
class Sent:
    """A license mail put in the outbox."""

    outbox_id: int
    to: str


def refresh_orders(app: App) -> None:
    """Read a local orders file again if it changed (an order typed in a minute ago counts).
    Stripe orders have their own sync job; this never goes to the network."""
    from mailbot.services.worker import Worker

    Worker(app).sync_local_orders()


# -- reading ---------------------------------------------------------------------------------

_LIST_COLUMNS = (
    "license_no, serial, customer_email, order_id, seat_key, issued_at, state, key_id, "
    "revoked_at, revoked_reason, replaced_by, message_row, granted_by, grant_reason"
)


def normalize_serial(text: str, product_code: str) -> str:
    """A serial as typed by staff -> its normalized form, or LicenseError in plain words."""
    found = serials.parse(text, product_code)
    if found is None:
        raise LicenseError(f"{text!r} is not a {product_code} serial number")
    if found.status is not serials.SerialStatus.OK:
        raise LicenseError(f"{text!r} reads as {found.normalized}, but its check symbol is "
                           "wrong: a character is mistyped")
    return found.normalized


def list_licenses(store: Store, *, email: str | None = None, order_id: str | None = None,
                  serial: str | None = None, state: str | None = None,
                  product_code: str = "AMC") -> list[dict[str, Any]]:
    """Licenses matching all given filters, oldest first. `email` may be "@domain" for a whole
    organisation. License strings are not included (see `license_detail`)."""
    where, params = ["1 = 1"], []
    if email:
        condition, value = address_filter("customer_email", email)
        where.append(condition)
        params.append(value)
    if order_id:
        where.append("order_id = ?")
        params.append(order_id)
    if serial:
        where.append("serial = ?")
        params.append(serials.normalize(serial, product_code) or serial.strip().upper())
    if state:
        where.append("state = ?")
        params.append(state)
    return store.query(
        f"SELECT {_LIST_COLUMNS} FROM licenses WHERE {' AND '.join(where)} ORDER BY license_no",
        params,
    )


def license_detail(store: Store, license_no: int) -> dict[str, Any]:
    """One license with its order, the history of its seat and what people did to it."""
    row = store.one("SELECT * FROM licenses WHERE license_no = ?", [license_no])
    if row is None:
        raise LicenseError(f"no license #{license_no}; `mailbot licenses list` lists them")
    order = store.one("SELECT order_id, email, name, status, seats, refunded_seats FROM orders "
                      "WHERE order_id = ?", [row["order_id"]]) if row["order_id"] else None
    seat = store.query(
        f"SELECT {_LIST_COLUMNS} FROM licenses WHERE seat_key = ? ORDER BY license_no",
        [row["seat_key"]],
    )
    message = None
    if row["message_row"]:
        message = store.one("SELECT id, sender, subject, received_at, outcome FROM messages "
                            "WHERE id = ?", [row["message_row"]])
    history = store.query(
        "SELECT at, actor, action, detail, escalation_id FROM audit WHERE detail LIKE ? "
        "ORDER BY id", [f"license #{license_no}:%"])
    return {**row, "order": order, "seat_history": seat, "message": message,
            "history": history}


def revoked_numbers(store: Store) -> list[int]:
    return [r["license_no"] for r in store.query(
        "SELECT license_no FROM licenses WHERE state = 'revoked' ORDER BY license_no")]


def revoked_rows(store: Store) -> list[dict[str, Any]]:
    return store.query(
        f"SELECT {_LIST_COLUMNS} FROM licenses WHERE state = 'revoked' ORDER BY license_no")


# -- issuing ---------------------------------------------------------------------------------


def issue(app: App, store: Store, *, serial: str, actor: str, now: datetime,
          order_id: str | None = None, grant_reason: str | None = None, email: str = "",
          message_row: int | None = None, seat_key: int | None = None,
          force: bool = False, escalation_id: int | None = None) -> License:
    """Issue a license by a person's decision: against ORDER_ID (paid, with a free seat unless
    `force`), or as a manual grant to EMAIL with a reason. Runs in the caller's transaction."""
    from mailbot.services.worker import Worker  # the worker imports the whole pipeline; only needed here

    code = app.settings.product.code
    serial = normalize_serial(serial, code)
    if order_id:
        order = store.order(order_id)
        if order is None:
            raise LicenseError(f"no order {order_id!r}; `mailbot orders list` shows the known "
                               "ones")
        if order.status is not OrderStatus.PAID:
            raise LicenseError(f"order {order_id} is {order.status.value}: it gives no seats; "
                               "use --grant \"reason\" to license without an order")
        used = len(store.active_licenses_for_orders([order_id]))
        if seat_key is None and used >= order.usable_seats and not force:
            raise LicenseError(
                f"order {order_id} has no free seat ({used} of {order.usable_seats} in use); "
                "add --force to issue over its seats (finance will see it), or use --grant")
        email = order.email
    else:
        if not (grant_reason or "").strip():
            raise LicenseError("a license without an order needs a reason (--grant \"why\")")
        email = email.strip().lower()
        if "@" not in email:
            raise LicenseError("a manual grant needs the customer's email address")
    _refuse_active(store, serial)
    try:
        lic = Worker(app).issue_license(store, app.signer, serial, email, order_id, now,
                                        message_row, seat_key=seat_key)  # type: ignore[arg-type]
    except sqlite3.IntegrityError:
        raise LicenseError(f"{serial} already has an active license") from None
    store.db["licenses"].update(lic.license_no, {
        "granted_by": actor, "grant_reason": (grant_reason or "").strip() or None})
    what = (f"issued to {email} against order {order_id}" if order_id
            else f"granted to {email} without an order: {grant_reason}")
    audit(store, escalation_id, actor, "license_issued",
          f"license #{lic.license_no}: {serial} {what}", now)
    return lic


def _refuse_active(store: Store, serial: str) -> None:
    active = store.one("SELECT license_no, customer_email FROM licenses WHERE serial = ? AND "
                       "state = 'active'", [serial])
    if active:
        raise LicenseError(
            f"{serial} already has an active license (#{active['license_no']}, "
            f"{active['customer_email']}); `mailbot licenses resend {active['license_no']}` "
            "sends it again")


def recipient_of(store: Store, lic: License) -> str:
    """Where a license may be mailed: its order's email; a manual grant's own address."""
    if lic.order_id:
        order = store.order(lic.order_id)
        if order is not None:
            return order.email
    return lic.customer_email


def mail_licenses(app: App, store: Store, *, licenses: list[tuple[License, str, str]], to: str,
                  template: str, now: datetime, thread: Thread | None = None,
                  message_row: int | None = None, escalation_id: int | None = None,
                  customer_name: str = "") -> Sent:
    """Mail license strings with an outcome template. `licenses` holds (license, action,
    old serial) with action "issue", "resend" or "transfer"."""
    results = [
        {"serial": lic.serial, "as_found": lic.serial, "action": action, "reason": None,
         "reason_text": "", "old_serial": old or None, "license_string": lic.license_string,
         "license_no": lic.license_no, "pay_url": ""}
        for lic, action, old in licenses
    ]
    if not customer_name:
        names = [o.name for o in store.orders_for_email(to) if o.name]
        customer_name = names[0] if names else (thread.sender_name if thread else "")
    context = {
        "customer_name": customer_name,
        "results": results,
        "licensed": True,
        "outcome": template,
        "original_subject": thread.subject if thread else "",
    }
    outbox_id = queue_mail(app, store, to=to, template=template, context=context, now=now,
                           kind="reply", thread=thread, message_row=message_row,
                           escalation_id=escalation_id)
    return Sent(outbox_id, to)


# -- staff actions on licenses ---------------------------------------------------------------


def _license(store: Store, license_no: int) -> License:
    lic = store.license(license_no)
    if lic is None:
        raise LicenseError(f"no license #{license_no}; `mailbot licenses list` lists them")
    return lic


def _active_for_serial(store: Store, serial: str) -> License:
    row = store.one("SELECT license_no FROM licenses WHERE serial = ? AND state = 'active'",
                    [serial])
    if row is None:
        raise LicenseError(f"{serial} has no active license")
    return _license(store, row["license_no"])


def resend(app: App, license_no: int, actor: str, now: datetime) -> Sent:
    """Mail an active license again, to its order's email only."""
    with app.store.transaction() as store:
        lic = _license(store, license_no)
        if lic.state is not LicenseState.ACTIVE:
            raise LicenseError(f"license #{license_no} is revoked; it cannot be sent again")
        to = recipient_of(store, lic)
        sent = mail_licenses(app, store, licenses=[(lic, "resend", "")], to=to,
                             template="resent", now=now, message_row=None)
        audit(store, None, actor, "license_resent", f"license #{license_no}: {lic.serial} "
              f"mailed again to {to}", now)
    return sent


def revoke(app: App, license_no: int, reason: str, actor: str, now: datetime) -> License:
    """Revoke an active license. Its serial can then be licensed again only by staff."""
    if not reason.strip():
        raise LicenseError("say why (--reason); finance and support read it later")
    with app.store.transaction() as store:
        lic = _license(store, license_no)
        if lic.state is not LicenseState.ACTIVE:
            raise LicenseError(f"license #{license_no} is already revoked")
        store.revoke_license(license_no, reason.strip(), now)
        audit(store, None, actor, "license_revoked",
              f"license #{license_no}: {lic.serial} revoked: {reason.strip()}", now)
    return _license(app.store, license_no)


def transfer(app: App, old_serial: str, new_serial: str, actor: str, now: datetime,
             reason: str = "", mail: bool = True, thread: Thread | None = None,
             message_row: int | None = None, escalation_id: int | None = None,
             ) -> tuple[License, License, Sent | None]:
    """Move a seat from OLD to NEW on a person's decision (no automatic limit): the old license
    is revoked, the new serial licensed on the same seat and order, mailed to the order's email."""
    code = app.settings.product.code
    old_serial = normalize_serial(old_serial, code)
    new_serial = normalize_serial(new_serial, code)
    if old_serial == new_serial:
        raise LicenseError("the old and the new serial are the same")
    try:
        with app.store.transaction() as store:
            old = _active_for_serial(store, old_serial)
            _refuse_active(store, new_serial)
            new = issue(app, store, serial=new_serial, actor=actor, now=now,
                        order_id=old.order_id, email=old.customer_email,
                        grant_reason=reason or f"transfer from {old_serial}",
                        seat_key=old.seat_key, message_row=message_row,
                        escalation_id=escalation_id)
            store.revoke_license(old.license_no, f"transferred to {new_serial}", now,
                                 replaced_by=new.license_no)
            why = f" ({reason})" if reason else ""
            audit(store, escalation_id, actor, "license_transferred",
                  f"license #{old.license_no}: {old_serial} transferred to {new_serial} "
                  f"(license #{new.license_no}) by staff{why}", now)
            sent = None
            if mail:
                sent = mail_licenses(app, store, licenses=[(new, "transfer", old_serial)],
                                     to=recipient_of(store, new), template="transferred",
                                     now=now, thread=thread, message_row=message_row,
                                     escalation_id=escalation_id)
    except sqlite3.IntegrityError:
        raise LicenseError(f"{new_serial} already has an active license") from None
    return _license(app.store, old.license_no), new, sent


def grant(app: App, serial: str, email: str, reason: str, actor: str, now: datetime,
          order_id: str | None = None, force: bool = False,
          mail: bool = True) -> tuple[License, Sent | None]:
    """License SERIAL by hand: against an order, or without one (a manual grant, with reason)."""
    refresh_orders(app)
    try:
        with app.store.transaction() as store:
            lic = issue(app, store, serial=serial, actor=actor, now=now, order_id=order_id,
                        grant_reason=reason, email=email, force=force)
            sent = None
            if mail:
                sent = mail_licenses(app, store, licenses=[(lic, "issue", "")],
                                     to=recipient_of(store, lic), template="issued", now=now)
    except sqlite3.IntegrityError:
        raise LicenseError(f"{serial} already has an active license") from None
    return lic, sent


# -- the revocation list ---------------------------------------------------------------------


def signed_revocation_list(app: App, now: datetime) -> bytes:
    """The signed list of every revoked license number (see license.py for the format)."""
    from mailbot.core.license_format import sign_revocation_list

    return sign_revocation_list(app.private_key, product_code=app.settings.product.code,
                                revoked=revoked_numbers(app.store), issued_at=now)


# -- audit -----------------------------------------------------------------------------------


def audit(store: Store, escalation_id: int | None, actor: str, action: str, detail: str,
          at: datetime) -> None:
    """An audit row; license actions outside the queue have no escalation."""
    store.db["audit"].insert({"escalation_id": escalation_id, "at": iso(at), "actor": actor,
                              "action": action, "detail": detail})


def json_safe(row: dict[str, Any]) -> dict[str, Any]:
    """A row for `--json`, without bytes."""
    return json.loads(json.dumps(row, default=lambda v: None if isinstance(v, bytes) else str(v)))
