"""`mailbot explain`: the decision the bot would take for a mail file, changing nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .bootstrap import App
from .classify import classify
from .decide import decide
from .parse import parse_message
from .worker import gather, serials_json


def explain_file(app: App, path: Path) -> dict[str, Any]:
    raw = path.read_bytes()
    settings = app.settings
    result: dict[str, Any] = {"file": str(path)}
    if len(raw) > settings.policy.max_message_bytes:
        return {**result, "message_id": None, "sender": "", "outcome": "escalated",
                "reason": "too_large", "serials": [],
                "explanation": [f"{len(raw)} bytes, over the size cap"]}
    inbound = parse_message(raw, product_code=settings.product.code,
                            authserv_id=settings.security.authserv_id,
                            max_serials=settings.policy.max_serials_per_mail)
    cls = classify(inbound, app.policy)
    facts = gather(app.store, inbound, cls, app, app.clock.now())
    decision = decide(inbound, cls, facts, app.policy)
    return {
        **result,
        "message_id": inbound.message_id,
        "sender": inbound.sender,
        "subject": inbound.subject,
        "outcome": decision.outcome.value,
        "reason": decision.reason.value if decision.reason else None,
        "serials": serials_json(inbound, decision),
        "reply_to": decision.reply_to or None,
        "explanation": list(decision.explanation) + list(inbound.problems),
    }
