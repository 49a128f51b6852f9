"""The worker: every waiting mail through evaluate -> apply, one transaction per mail.

    fetched ──> known key? ──────────────> finish the mailbox move only
            └─> parse ─> [transaction: evaluate ─> record ─> apply] ─> mark_done

A mail is moved in the mailbox only after its transaction has committed; a crash at any point
leaves it to be fetched again, and a second pass finds its key (or Message-ID) and never decides
twice. An exception while deciding one mail becomes `escalated`/`internal_error` with the
traceback kept for staff, and the loop goes on with the next mail. A setup fault (SetupError:
a template, the key, the orders file) stops the run instead: every mail would hit it.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from mailbot.core.classify import Classification, Kind, classify
from mailbot.core.errors import SetupError
from mailbot.core.machine_mail import answers_our_mail
from mailbot.core.model import Fetched, Inbound, Outcome, Policy, Reason
from mailbot.services.apply import apply_decision
from mailbot.services.context import Deps
from mailbot.services.evaluate import Evaluation, evaluate, parse
from mailbot.services.mailing import readable_text
from mailbot.services.notify import raise_escalation
from mailbot.services.orders import refresh_local_orders
from mailbot.store import Store
from mailbot.store.errors import Conflict
from mailbot.store.rows import MessageRef, NewEscalation, NewMessage

log = logging.getLogger("mailbot.worker")
MARK_BATCH = 50  # mailbox moves are batched; a crash re-moves at most this many
LOOKUP_PAUSE_SECONDS = 60.0


@dataclass(frozen=True)
class Processed:
    """One mail's result, for the run's summary."""

    key: str
    message_row: int
    sender: str
    subject: str
    outcome: Outcome
    reason: Reason | None
    serials: tuple[str, ...] = ()
    already_done: bool = False  # found committed from an earlier run: only moved


def _already_done(key: str, ref: MessageRef) -> Processed:
    """A mail whose outcome an earlier run committed: only its mailbox move may be left."""
    return Processed(
        key,
        ref.id,
        "",
        "",
        Outcome(ref.outcome),
        Reason(ref.reason) if ref.reason else None,
        already_done=True,
    )


class Worker:
    """Processes the mailbox; `stop` is honoured between mails."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.stop = threading.Event()
        self._lookup_paused_until = 0.0

    def poll_once(self) -> list[Processed]:
        """Process every waiting mail; stops early (between mails) when asked to stop."""
        refresh_local_orders(self.deps)
        done: list[tuple[Fetched, Outcome]] = []
        processed: list[Processed] = []
        max_size = self.deps.settings.policy.max_message_bytes
        for fetched in self.deps.mailbox.fetch_new(max_size):
            if self.stop.is_set():
                break
            result = self.process(fetched)
            processed.append(result)
            done.append((fetched, result.outcome))
            if len(done) >= MARK_BATCH:
                self._mark_done(done)
                done = []
        self._mark_done(done)
        return processed

    def _mark_done(self, done: Sequence[tuple[Fetched, Outcome]]) -> None:
        if done:
            self.deps.mailbox.mark_done(done)
            self.deps.store.mark_mailbox_done(f.key for f, _ in done)

    def process(self, fetched: Fetched) -> Processed:
        """One mail, start to commit. Never raises but for a SetupError."""
        store = self.deps.store
        known = store.message_by_key(fetched.key)
        if known is not None:
            return _already_done(fetched.key, known)
        moved = self._same_mail_new_key(fetched)
        if moved is not None:
            return moved
        if fetched.raw is None:
            cap = self.deps.settings.policy.max_message_bytes
            return self._record_undecided(
                fetched, Reason.TOO_LARGE, f"{fetched.size} bytes, over the {cap} byte cap"
            )
        inbound: Inbound | None = None
        try:
            inbound = parse(self.deps.settings, fetched.raw)
            return self._decide(fetched, inbound)
        except SetupError:
            raise  # a setup problem (orders file, key, template): the mail waits, the run stops
        except Exception as exc:  # noqa: BLE001 - one bad mail must not stop the worker
            known = store.message_by_key(fetched.key)
            if isinstance(exc, Conflict) and known is not None:
                # Another worker on the same mailbox committed this mail first: only the
                # move is left, with the outcome that worker recorded.
                return _already_done(fetched.key, known)
            trace = traceback.format_exc()
            log.error(
                "internal error while deciding",
                extra={"key": fetched.key, "error": trace.splitlines()[-1]},
            )
            return self._record_undecided(
                fetched,
                Reason.INTERNAL_ERROR,
                "an error inside mailbot while deciding",
                error=trace,
                inbound=inbound,
            )

    def _same_mail_new_key(self, fetched: Fetched) -> Processed | None:
        """After an IMAP UIDVALIDITY change, mail we decided but had not yet moved comes back
        under a new key. Same folder, same Message-ID, not yet marked done: it is the same
        copy, so the row takes the new key and only the move is left to do."""
        if not fetched.message_id or not fetched.key.startswith("imap:"):
            return None
        folder = fetched.key.rsplit(":", 2)[0]
        store = self.deps.store
        ref = store.unfiled_message_by_message_id(fetched.message_id)
        if ref is None or ref.mailbox_key.rsplit(":", 2)[0] != folder:
            return None
        store.rekey_message(ref.id, fetched.key)
        log.info(
            "mail came back under a new key; finishing its move",
            extra={"old_key": ref.mailbox_key, "key": fetched.key},
        )
        return _already_done(fetched.key, ref)

    def _decide(self, fetched: Fetched, inbound: Inbound) -> Processed:
        deps = self.deps
        cls = classify(inbound, deps.policy)
        self._live_lookup(inbound, cls)
        now = deps.clock.now()
        with deps.store.transaction() as store:
            result = evaluate(store, inbound, deps.policy, now, cls=cls)
            row = _record(store, fetched, result, now, deps.policy)
            if result.facts is not None:
                apply_decision(deps, store, row, inbound, result.decision, result.facts, now)
        decision = result.decision
        log.info(
            "processed",
            extra={
                "key": fetched.key,
                "sender": inbound.sender,
                "outcome": decision.outcome.value,
                "reason": decision.reason.value if decision.reason else None,
                "serials": len(inbound.serials),
            },
        )
        return Processed(
            fetched.key,
            row,
            inbound.sender,
            inbound.subject,
            decision.outcome,
            decision.reason,
            tuple(r.serial for r in decision.results),
        )

    def _live_lookup(self, inbound: Inbound, cls: Classification) -> None:
        """A sender with serials but no local order: ask the order source once, live."""
        source = self.deps.orders
        if source.is_local or not inbound.sender:
            return  # a local file is already fully loaded
        if cls.kind not in (Kind.REQUEST, Kind.TRANSFER):
            return
        if self.deps.store.orders_for_email(inbound.sender):
            return
        if time.monotonic() < self._lookup_paused_until:
            return  # the source just failed: the rest of the batch decides on local facts
        try:
            found = source.lookup_email(inbound.sender)
        except Exception as exc:  # noqa: BLE001 - an outage must not stop mail
            log.warning("live order lookup failed; none for a minute", extra={"error": str(exc)})
            # Each attempt waits out the source's retries: pay that once per outage, not once
            # per mail of a batch.
            self._lookup_paused_until = time.monotonic() + LOOKUP_PAUSE_SECONDS
            return
        if found:
            with self.deps.store.transaction() as store:
                store.upsert_orders(found, self.deps.clock.now())

    def _record_undecided(
        self,
        fetched: Fetched,
        reason: Reason,
        detail: str,
        error: str | None = None,
        inbound: Inbound | None = None,
    ) -> Processed:
        """A mail the pipeline could not decide: kept for a person with whatever its parse
        found (sender, Message-ID, subject), so staff see who is waiting."""
        now = self.deps.clock.now()
        sender = inbound.sender if inbound is not None else ""
        subject = inbound.subject if inbound is not None else ""
        message_id = (inbound.message_id if inbound is not None else "") or fetched.message_id
        with self.deps.store.transaction() as store:
            row = store.add_message(
                _with_parse(
                    NewMessage(
                        mailbox_key=fetched.key,
                        message_id=message_id or None,
                        sender=sender,
                        subject=subject,
                        received_at=fetched.received_at or now,
                        processed_at=now,
                        outcome=Outcome.ESCALATED.value,
                        reason=reason.value,
                        serials=(),
                        explanation=(detail,),
                        raw=fetched.raw,
                        size=fetched.size,
                        error=error,
                    ),
                    inbound,
                )
            )
            raise_escalation(
                self.deps,
                store,
                NewEscalation(reason=reason.value, detail=detail, sender=sender, message_row=row),
                now,
            )
        return Processed(fetched.key, row, sender, subject, Outcome.ESCALATED, reason)


def _with_parse(message: NewMessage, inbound: Inbound | None) -> NewMessage:
    """The row with what the mail's parse found, kept for staff views."""
    if inbound is None:
        return message
    return replace(
        message,
        sender_name=inbound.sender_name,
        reply_to=inbound.reply_to,
        references=inbound.references,
        headers=inbound.shown_headers,
        text=readable_text(inbound),
    )


PROGRESS = frozenset({Outcome.ISSUED, Outcome.TRANSFERRED, Outcome.AWAITING_PAYMENT})


def _record(
    store: Store, fetched: Fetched, result: Evaluation, now: datetime, policy: Policy
) -> int:
    inbound, decision = result.inbound, result.decision
    return store.add_message(
        _with_parse(
            NewMessage(
                mailbox_key=fetched.key,
                message_id=inbound.message_id,
                sender=inbound.sender,
                subject=inbound.subject,
                received_at=fetched.received_at or now,
                processed_at=now,
                outcome=decision.outcome.value,
                reason=decision.reason.value if decision.reason else None,
                serials=result.serial_items,
                explanation=tuple(decision.explanation) + tuple(inbound.problems),
                raw=fetched.raw,
                size=fetched.size,
                duplicate_of=result.duplicate_of,
                answers_ours=answers_our_mail(inbound, policy),
                progress=decision.outcome in PROGRESS,
            ),
            inbound,
        )
    )
