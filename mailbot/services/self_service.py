"""Carrying out a customer's own "release SERIAL", and what the list mail shows, inside the
mail's transaction (the decisions are `core/self_service.py`).

A release revokes the license and records the freed seat (store/releases.py), so the next
license on the order takes it over and the move counts against the per-seat limit.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from mailbot.core.model import Decision, Facts, Outcome, SerialDecision
from mailbot.core.self_service import LIST_MAX, listed_licenses
from mailbot.services import events
from mailbot.store import Store

log = logging.getLogger("mailbot.self_service")

RELEASE_REASON = "released by the customer by mail"


def release_license(store: Store, result: SerialDecision, now: datetime, row: int) -> None:
    """Revoke the license `result` names and free its seat on its order."""
    assert result.license_no is not None
    lic = store.license(result.license_no)
    assert lic is not None and lic.order_id is not None
    store.revoke_license(lic.license_no, RELEASE_REASON, now)
    events.license_revoked(store, lic.license_no, lic.customer_email, now)
    store.add_release(
        license_no=lic.license_no,
        seat_key=lic.seat_key,
        order_id=lic.order_id,
        released_at=now,
        message_row=row,
    )
    log.info("license released", extra={"license_no": lic.license_no, "serial": lic.serial})


def list_context(decision: Decision, facts: Facts, now: datetime) -> dict[str, Any]:
    """What `licenses_list` shows: the customer's serials with states and expiry days."""
    if decision.outcome is not Outcome.LISTED:
        return {}
    items = listed_licenses(facts.own_licenses, now.date())
    return {
        "licenses": [
            {
                "serial": i.serial,
                "state": i.state,
                "expires": i.expires.isoformat() if i.expires else "",
                "issued": i.issued.isoformat(),
            }
            for i in items[:LIST_MAX]
        ],
        "more_licenses": max(0, len(items) - LIST_MAX),
    }
