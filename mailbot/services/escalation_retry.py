"""Deciding an escalation again: the stored mail through `evaluate()` with today's facts.

When an order arrived or a sync caught up after the bot escalated, `retry` runs the same
evaluation the worker runs; a decision a person need not take is applied (licenses, replies)
and the escalation resolved, otherwise it stays open with the new explanation. Apart from the
other actions because it is the one that runs the whole pipeline again.
"""

from __future__ import annotations

from datetime import datetime

from mailbot.core.model import Outcome, Reason
from mailbot.services.apply import apply_decision
from mailbot.services.context import Deps
from mailbot.services.escalations import ActionResult, require_open
from mailbot.services.evaluate import evaluate, facts_snapshot, parse
from mailbot.services.events import close_escalation
from mailbot.services.orders import refresh_local_orders
from mailbot.services.queue_view import OPEN, RESOLVED, QueueError


def retry(deps: Deps, escalation_id: int, actor: str, now: datetime) -> ActionResult:
    """Decide again on the stored mail, with today's facts (an order arrived, a sync caught up).
    A decision a person need not take is carried out and the escalation resolved; otherwise it
    stays open with the new explanation."""
    store = deps.store
    esc = require_open(store, escalation_id)
    if esc.reason == Reason.STAFF_REPLY_REFUSED.value:
        # Deciding it again would read a colleague's answer as a customer's request.
        raise QueueError(
            f"#{escalation_id} is an answer by mail that was not sent on, not a request to "
            "decide again; send it yourself (`mailbot queue reply`) or resolve it"
        )
    raw = store.message_raw(esc.message_row) if esc.message_row is not None else None
    if esc.message_row is None or not raw:
        raise QueueError(
            f"the mail of #{escalation_id} was not stored (too large or lost); "
            "decide by hand (`mailbot queue issue` or `reply`)"
        )
    refresh_local_orders(deps)
    try:
        return _retry(deps, escalation_id, esc.message_row, raw, actor, now)
    except QueueError:
        raise
    except Exception as exc:  # noqa: BLE001 - the mail that broke the bot may break it again
        last = f"{type(exc).__name__}: {exc}"
        with store.transaction():
            store.add_audit(escalation_id, actor, "retried", f"failed again: {last}", now)
        raise QueueError(
            f"deciding #{escalation_id} failed again ({last}); reply or issue by hand"
        ) from None


def _retry(
    deps: Deps, escalation_id: int, message_row: int, raw: bytes, actor: str, now: datetime
) -> ActionResult:
    inbound = parse(deps.settings, raw)
    with deps.store.transaction() as store:
        esc = require_open(store, escalation_id)
        result = evaluate(store, inbound, deps.policy, now, check_duplicate=False)
        decision = result.decision
        assert result.facts is not None
        why = "; ".join(decision.explanation)
        if decision.outcome in (Outcome.ESCALATED, Outcome.IGNORED):
            what = decision.reason.value if decision.reason else decision.outcome.value
            store.update_escalation(
                escalation_id,
                reason=decision.reason.value
                if decision.escalates and decision.reason
                else esc.reason,
                detail="\n".join(decision.explanation),
                serials=result.serial_items,
                facts=facts_snapshot(result.facts),
                at=now,
            )
            store.add_audit(
                escalation_id,
                actor,
                "retried",
                f"still {decision.outcome.value} ({what}): {why}",
                now,
            )
            return ActionResult(
                escalation_id,
                "retry",
                OPEN,
                f"#{escalation_id} still needs a person: {decision.outcome.value} ({what}). {why}",
            )
        applied = apply_decision(deps, store, message_row, inbound, decision, result.facts, now)
        store.set_message_outcome(
            message_row,
            outcome=decision.outcome.value,
            reason=decision.reason.value if decision.reason else None,
            serials=result.serial_items,
            explanation=list(decision.explanation) + list(inbound.problems),
        )
        close_escalation(store, escalation_id, RESOLVED, actor, now)
        store.add_audit(
            escalation_id, actor, "retried", f"now {decision.outcome.value}: {why}", now
        )
    return ActionResult(
        escalation_id,
        "retry",
        RESOLVED,
        f"#{escalation_id} resolved: now {decision.outcome.value}",
        tuple(applied.outbox_ids),
        tuple(applied.license_nos),
    )
