"""What a mail pass returns: one mail's result, and the counts of a whole pass."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from mailbot.core.model import Outcome, Reason
from mailbot.store.rows import MessageRef


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


def already_done(key: str, ref: MessageRef) -> Processed:
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


@dataclass
class PassTotals:
    """What a pass did, in counts (a pass over a million mails keeps no list of them)."""

    new: int = 0  # mails decided in this pass
    already_done: int = 0  # found committed by an earlier pass: only moved
    outcomes: Counter[str] = field(default_factory=Counter)  # of the new ones

    def count(self, result: Processed) -> None:
        if result.already_done:
            self.already_done += 1
        else:
            self.new += 1
            self.outcomes[result.outcome.value] += 1
