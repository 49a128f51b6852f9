"""Reporting a change to the vendor's other systems: `emit` queues one event, in the caller's
transaction, so an event exists exactly when the change it reports committed (and a rolled-back
mail leaves none). Delivery is `services/webhooks.py`, after the commit, never in it.

Each change is reported from the one place it happens: issuing (`issuing.issue_license`),
re-sending, transferring and revoking (`apply.py`, `licenses.py`), escalations
(`notify.raise_escalation`; closing: `close_escalation` here, called wherever one is resolved or
rejected), finance flags (`finance_flags.py`). The payloads carry ids, serials, addresses and
states, never a license string (docs/contract.md, "Webhooks", lists each type's fields).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from mailbot.core.events import (
    ESCALATION_CREATED,
    ESCALATION_RESOLVED,
    EVENT_TYPES,
    LICENSE_ISSUED,
    LICENSE_RESENT,
    LICENSE_REVOKED,
    LICENSE_TRANSFERRED,
)
from mailbot.core.license_format import EPOCH
from mailbot.core.model import License, Order
from mailbot.store import Store, iso
from mailbot.store.rows import EscalationRow

BOT = "mailbot"


def new_event_id() -> str:
    """`evt_` and 20 random hex digits: unique without asking the database."""
    return "evt_" + secrets.token_hex(10)


def emit(store: Store, event_type: str, payload: dict[str, Any], now: datetime) -> str | None:
    """Queue one event of `event_type` with `payload`, in the caller's transaction; its id, or
    None when `[webhooks]` does not ask for this type (no url, or not in `events`)."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"{event_type!r} is not one of EVENT_TYPES")
    if event_type not in store.recorded_events:
        return None
    event_id = new_event_id()
    store.add_event(event_id=event_id, type=event_type, payload=payload, created_at=now)
    return event_id


# -- what the payloads say -------------------------------------------------------------------


def license_data(lic: License) -> dict[str, Any]:
    """A license as consumers see it: everything but the license string."""
    expires = EPOCH + timedelta(days=lic.expires_day) if lic.expires_day else None
    return {
        "license_no": lic.license_no,
        "serial": lic.serial,
        "state": lic.state.value,
        "customer_email": lic.customer_email,
        "order_id": lic.order_id,
        "seat": lic.seat_key,
        "issued_at": iso(lic.issued_at),
        "expires": expires.isoformat() if expires else None,
        "revoked_at": iso(lic.revoked_at) if lic.revoked_at else None,
        "revoked_reason": lic.revoked_reason or None,
        "granted_by": lic.granted_by or None,
    }


def escalation_data(esc: EscalationRow) -> dict[str, Any]:
    return {
        "id": esc.id,
        "reason": esc.reason,
        "state": esc.state,
        "sender": esc.sender,
        "serials": sorted({i.serial for i in esc.serials if i.serial}),
        "order_ids": sorted({i.order_id for i in esc.serials if i.order_id}),
        "message_id": esc.message_id,
        "created_at": iso(esc.created_at),
    }


def order_data(order: Order) -> dict[str, Any]:
    return {
        "order_id": order.order_id,
        "email": order.email,
        "status": order.status.value,
        "seats": order.seats,
        "refunded_seats": order.refunded_seats,
        "usable_seats": order.usable_seats,
    }


# -- the changes, one function each ----------------------------------------------------------


def license_issued(store: Store, lic: License, now: datetime) -> None:
    emit(store, LICENSE_ISSUED, {"license": license_data(lic), "by": lic.granted_by or BOT}, now)


def license_resent(store: Store, lic: License, to: str, actor: str, now: datetime) -> None:
    """An active license mailed again (to `to`, its order's address)."""
    emit(store, LICENSE_RESENT, {"license": license_data(lic), "to": to, "by": actor}, now)


def license_transferred(
    store: Store, old: License, new: License, actor: str, now: datetime
) -> None:
    """A seat moved to a new serial: the old license (now revoked) and the new one."""
    revoked = store.license(old.license_no) or old
    emit(
        store,
        LICENSE_TRANSFERRED,
        {"old_license": license_data(revoked), "license": license_data(new), "by": actor},
        now,
    )


def license_revoked(store: Store, license_no: int, actor: str, now: datetime) -> None:
    lic = store.license(license_no)
    if lic is not None:
        emit(store, LICENSE_REVOKED, {"license": license_data(lic), "by": actor}, now)


def escalation_created(store: Store, escalation_id: int, now: datetime) -> None:
    esc = store.escalation(escalation_id)
    if esc is not None:
        emit(store, ESCALATION_CREATED, {"escalation": escalation_data(esc)}, now)


def close_escalation(
    store: Store, escalation_id: int, state: str, actor: str, now: datetime
) -> None:
    """Resolve or reject an escalation and report it (`escalation.resolved`, whose
    `escalation.state` says which), in the caller's transaction."""
    store.set_escalation_state(escalation_id, state, now)
    esc = store.escalation(escalation_id)
    if esc is not None:
        emit(store, ESCALATION_RESOLVED, {"escalation": escalation_data(esc), "by": actor}, now)
