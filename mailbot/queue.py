"""The human queue: escalations, what the bot saw, and the audit trail of what people did."""

from __future__ import annotations

import json
from typing import Any

from .store import Store


class QueueError(Exception):
    """A queue action that cannot be done; the message says why and what to do instead."""


def list_escalations(store: Store, *, state: str | None = "open", reason: str | None = None,
                     sender: str | None = None) -> list[dict[str, Any]]:
    where, params = ["1 = 1"], []
    if state:
        where.append("e.state = ?")
        params.append(state)
    if reason:
        where.append("e.reason = ?")
        params.append(reason)
    if sender:
        where.append("e.sender = ?")
        params.append(sender.lower())
    rows = store.query(
        "SELECT e.id, e.reason, e.state, e.sender, e.claimed_by, e.created_at, e.updated_at, "
        "e.serials, e.detail, m.message_id, m.subject, e.message_row "
        "FROM escalations e LEFT JOIN messages m ON m.id = e.message_row "
        f"WHERE {' AND '.join(where)} ORDER BY e.created_at, e.id",
        params,
    )
    for r in rows:
        r["serials"] = json.loads(r["serials"] or "[]")
    return rows


def get_escalation(store: Store, escalation_id: int) -> dict[str, Any]:
    row = store.one("SELECT * FROM escalations WHERE id = ?", [escalation_id])
    if row is None:
        raise QueueError(f"no escalation #{escalation_id}; `mailbot queue list --all` lists them")
    row["serials"] = json.loads(row["serials"] or "[]")
    row["facts"] = json.loads(row["facts"] or "{}")
    row["message"] = store.one(
        "SELECT id, mailbox_key, message_id, sender, subject, received_at, processed_at, "
        "outcome, reason, explanation, raw, error FROM messages WHERE id = ?",
        [row["message_row"]],
    )
    if row["message"]:
        row["message"]["explanation"] = json.loads(row["message"]["explanation"] or "[]")
    row["audit"] = store.query(
        "SELECT at, actor, action, detail FROM audit WHERE escalation_id = ? ORDER BY id",
        [escalation_id],
    )
    return row
