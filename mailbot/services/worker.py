"""The worker: every waiting mail through evaluate -> apply, each all or nothing.

    mail feed ──> known key? ───────────────────────────> finish the mailbox move only
              └─> parse, classify, live lookup ─┐
                              [group transaction: per mail a savepoint:
                               evaluate ─> record ─> apply] ─> commit ─> mark_done, deliver
                               (a staff member's answer to a reply address, not from a
                               robot: reply_by_mail.py instead of evaluate and apply)

Mails are decided in groups (GROUP_MAILS, or GROUP_SECONDS of work) in one transaction, each
mail in a savepoint of its own; nothing leaves the process (a mailbox move, a reply) before
the group's commit. A crash at any point leaves the group's mail to be fetched again, and a
second pass finds its key (or Message-ID) and never decides twice. An exception while deciding
one mail rolls back that mail's savepoint and becomes `escalated`/`internal_error` with the
traceback kept for staff; the group goes on with the next mail. A setup fault (SetupError: a
template, the key, the orders file, the database) rolls back the whole group and stops the
run instead: every mail would hit it, and the mail waits.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from mailbot.core.classify import Classification, Kind, classify
from mailbot.core.errors import SetupError
from mailbot.core.model import Fetched, Inbound, Outcome, Policy, Reason
from mailbot.services.apply import apply_decision
from mailbot.services.context import Deps
from mailbot.services.evaluate import Evaluation, evaluate, parse
from mailbot.services.fetch_process import Read
from mailbot.services.filing import Filing
from mailbot.services.mail_feed import MailFeed
from mailbot.services.mailing import record_mail, with_parse
from mailbot.services.notify import raise_escalation
from mailbot.services.orders import refresh_local_orders
from mailbot.services.pass_results import PassTotals, Processed, already_done
from mailbot.services.reply_by_mail import reply_tag, take_staff_reply
from mailbot.services.shared_mailbox import shared
from mailbot.store import Store
from mailbot.store.errors import Conflict
from mailbot.store.rows import MessageRef, NewEscalation, NewMessage

log = logging.getLogger("mailbot.worker")
# Mails decided in one transaction (and then moved together): a sync to disk per group, not
# per mail. A group also ends after GROUP_SECONDS of work, so a reply never waits long for it.
GROUP_MAILS = 50
GROUP_SECONDS = 0.5
LOOKUP_PAUSE_SECONDS = 60.0


@dataclass
class _Prepared:
    """One mail read and classified, before its transaction: what was found so far, or why
    nothing could be (`early` is then the whole result, `error` a traceback)."""

    fetched: Fetched
    inbound: Inbound | None = None
    cls: Classification | None = None
    early: Processed | None = None
    error: str | None = None
    # An earlier mail with its Message-ID, decided but not filed (see `_same_mail_new_key`);
    # looked up for a whole group at once.
    twin: MessageRef | None = None


class Worker:
    """Processes the mailbox; `stop` is honoured between mails."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.mailbox = shared(deps.mailbox)  # the fetch thread and the worker take turns
        self.stop = threading.Event()
        self._lookup_paused_until = 0.0

    def poll_once(self) -> list[Processed]:
        """Process every waiting mail; stops early (between mails) when asked to stop."""
        processed: list[Processed] = []
        self.run_pass(processed.append)
        return processed

    def run_pass(
        self,
        on_each: Callable[[Processed], None] | None = None,
        after_commit: Callable[[], None] | None = None,
    ) -> PassTotals:
        """Process every waiting mail, a group at a time: the group's mails are read and
        classified, then decided in one transaction (each mail in a savepoint of its own, so
        each is still all or nothing), and only after the commit moved in the mailbox and
        handed to `after_commit` (the delivery thread). `on_each` sees every result."""
        refresh_local_orders(self.deps)
        totals = PassTotals()
        max_size = self.deps.settings.policy.max_message_bytes
        # Decided mail whose filing was not noted: a run stopped between the move and the
        # note. Whatever of it the listing still shows is moved again below; the rest was
        # moved, which is noted at the end of a complete pass.
        unfiled = self.deps.store.unfiled_keys()
        with (
            MailFeed(self.mailbox, self.deps.settings, self.deps.policy, max_size) as waiting,
            Filing(self.mailbox) as filing,
        ):
            carried: list[tuple[Fetched, Read | None]] = []
            while not self.stop.is_set():
                group = self._next_group(waiting, carried)
                if not group:
                    break
                with self.deps.store.transaction():
                    results = [self._commit(prepared) for prepared in group]
                    # The earlier groups' moves, noted in this commit rather than in one of
                    # their own: a note lost to a crash is only noted again by the next pass.
                    self.deps.store.mark_mailbox_done(filing.take_filed())
                if after_commit is not None:
                    after_commit()
                # Without the bodies: a move needs only the key, and memory stays small while
                # groups wait for their move.
                filing.file(
                    [
                        (replace(p.fetched, raw=None), r.outcome)
                        for p, r in zip(group, results, strict=True)
                    ]
                )
                for result in results:
                    unfiled.discard(result.key)
                    totals.count(result)
                    if on_each is not None:
                        on_each(result)
            complete = waiting.finished and not self.stop.is_set()
        self.deps.store.mark_mailbox_done(filing.take_filed())  # the last groups' moves
        if complete and unfiled:
            self.deps.store.mark_mailbox_done(unfiled)
            log.info("noted mail an earlier run had filed", extra={"mails": len(unfiled)})
        return totals

    def _next_group(
        self, waiting: MailFeed, carried: list[tuple[Fetched, Read | None]]
    ) -> list[_Prepared]:
        """Mails for one transaction: what is ready, up to GROUP_MAILS or GROUP_SECONDS of
        work. Waits only for the first one, so a single new mail is answered at once. One
        statement finds which of them an earlier run recorded. What the time limit leaves is
        `carried` over to the next group."""
        began = time.monotonic()
        ready, carried[:] = carried[:], []
        while len(ready) < GROUP_MAILS:
            item = waiting.next(block=not ready)
            if item is None:
                break
            ready.append(item)
        known = self.deps.store.messages_by_keys([f.key for f, _ in ready])
        twins = self._twins([f for f, _ in ready if f.key not in known])
        group: list[_Prepared] = []
        for n, (fetched, read) in enumerate(ready):
            if self.stop.is_set():
                break  # stopping: the rest stays in the mailbox for the next run
            if group and time.monotonic() - began > GROUP_SECONDS:
                carried.extend(ready[n:])
                break
            recorded = known.get(fetched.key)
            if recorded is not None:
                group.append(_Prepared(fetched, early=already_done(fetched.key, recorded)))
                continue
            prepared = self._prepare(fetched, read, looked_up=True)
            prepared.twin = twins.get(fetched.message_id)
            group.append(prepared)
        return group

    def _twins(self, mails: list[Fetched]) -> dict[str, MessageRef]:
        """By Message-ID, the decided and unfiled mail each of MAILS may be a new copy of."""
        return self.deps.store.unfiled_by_message_ids(
            [f.message_id for f in mails if _may_have_twin(f)]
        )

    def process(self, fetched: Fetched) -> Processed:
        """One mail, start to commit. Never raises but for a SetupError."""
        prepared = self._prepare(fetched)
        if prepared.early is None:
            prepared.twin = self._twins([fetched]).get(fetched.message_id)
        with self.deps.store.transaction():
            return self._commit(prepared)

    def _prepare(
        self, fetched: Fetched, read: Read | None = None, *, looked_up: bool = False
    ) -> _Prepared:
        """Everything before the transaction: parse and classify (unless the fetch process
        did), and a live order lookup (a network call, which must not hold the database's
        write lock). `looked_up`: the caller knows the mail is not recorded."""
        known = None if looked_up else self.deps.store.message_by_key(fetched.key)
        if known is not None:
            return _Prepared(fetched, early=already_done(fetched.key, known))
        if fetched.raw is None:
            return _Prepared(fetched)
        inbound: Inbound | None = None
        try:
            if read is not None:
                inbound, cls = read.inbound, read.cls
            else:
                inbound = parse(self.deps.settings, fetched.raw)
                cls = classify(inbound, self.deps.policy)
            self._live_lookup(inbound, cls)
            return _Prepared(fetched, inbound, cls)
        except SetupError:
            raise
        except Exception:  # noqa: BLE001 - one bad mail must not stop the worker
            return _Prepared(fetched, inbound, error=_failure(fetched))

    def _commit(self, prepared: _Prepared) -> Processed:
        """One mail's outcome and its effects, in the caller's transaction."""
        fetched, inbound = prepared.fetched, prepared.inbound
        if prepared.early is not None:
            return prepared.early
        store = self.deps.store
        moved = self._same_mail_new_key(prepared)
        if moved is not None:
            return moved
        if fetched.raw is None:
            cap = self.deps.settings.policy.max_message_bytes
            return self._record_undecided(
                fetched, Reason.TOO_LARGE, f"{fetched.size} bytes, over the {cap} byte cap"
            )
        if prepared.error is None:
            assert inbound is not None and prepared.cls is not None
            try:
                return self._decide(fetched, inbound, prepared.cls)
            except SetupError:
                raise  # a setup problem (orders file, key, template): the mail waits
            except Exception as exc:  # noqa: BLE001 - one bad mail must not stop the worker
                known = store.message_by_key(fetched.key)
                if isinstance(exc, Conflict) and known is not None:
                    # Another worker on the same mailbox committed this mail first: only
                    # the move is left, with the outcome that worker recorded.
                    return already_done(fetched.key, known)
                prepared.error = _failure(fetched)
        return self._record_undecided(
            fetched,
            Reason.INTERNAL_ERROR,
            "an error inside mailbot while deciding",
            error=prepared.error,
            inbound=inbound,
        )

    def _same_mail_new_key(self, prepared: _Prepared) -> Processed | None:
        """After an IMAP UIDVALIDITY change, mail we decided but had not yet moved comes back
        under a new key. Same folder, same Message-ID, not yet marked done: it is the same
        copy, so the row takes the new key and only the move is left to do."""
        fetched, ref = prepared.fetched, prepared.twin
        if ref is None or ref.mailbox_key.rsplit(":", 2)[0] != fetched.key.rsplit(":", 2)[0]:
            return None  # none, or in another folder
        self.deps.store.rekey_message(ref.id, fetched.key)
        log.info(
            "mail came back under a new key; finishing its move",
            extra={"old_key": ref.mailbox_key, "key": fetched.key},
        )
        return already_done(fetched.key, ref)

    def _decide(self, fetched: Fetched, inbound: Inbound, cls: Classification) -> Processed:
        deps = self.deps
        now = deps.clock.now()
        key, tag = fetched.key, reply_tag(deps, inbound, cls)  # staff answering by mail?
        with deps.store.transaction() as store:  # a savepoint: this mail's effects or none
            if tag is not None and store.message_by_message_id(inbound.message_id) is None:
                t = take_staff_reply(deps, store, fetched, inbound, tag, now)
                return Processed(key, t.row, inbound.sender, inbound.subject, t.outcome, t.reason)
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
                with_parse(
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


def _may_have_twin(fetched: Fetched) -> bool:
    """Whether `_same_mail_new_key` applies: an IMAP mail whose Message-ID is known."""
    return bool(fetched.message_id) and fetched.key.startswith("imap:")


def _failure(fetched: Fetched) -> str:
    """The traceback of the exception being handled, logged in one line and kept for staff."""
    trace = traceback.format_exc()
    log.error(
        "internal error while deciding",
        extra={"key": fetched.key, "error": trace.splitlines()[-1]},
    )
    return trace


PROGRESS = frozenset(
    {Outcome.ISSUED, Outcome.TRANSFERRED, Outcome.RELEASED, Outcome.AWAITING_PAYMENT}
)


def _record(
    store: Store, fetched: Fetched, result: Evaluation, now: datetime, policy: Policy
) -> int:
    decision = result.decision
    return record_mail(
        store,
        fetched,
        result.inbound,
        now,
        policy,
        outcome=decision.outcome,
        reason=decision.reason,
        explanation=decision.explanation,
        serials=result.serial_items,
        duplicate_of=result.duplicate_of,
        progress=decision.outcome in PROGRESS,
    )
