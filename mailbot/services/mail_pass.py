"""A pass over the mailbox with its replies: what `mailbot run` does each time mail is there.

The worker decides mail a group at a time while the courier (a thread of its own) sends the
replies of every group already committed, so the waits on the mail server, on the database's
disk and on the SMTP server overlap instead of adding up. At the end of the pass the courier
sends what is left and the pass returns both halves' figures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mailbot.services.checkpoints import Checkpoints
from mailbot.services.context import Deps
from mailbot.services.courier import Courier
from mailbot.services.delivery import DeliveryReport
from mailbot.services.pass_results import PassTotals, Processed
from mailbot.services.worker import Worker


@dataclass(frozen=True)
class PassReport:
    """What one pass did: the mails decided and the mail sent."""

    totals: PassTotals
    delivery: DeliveryReport


def run_mail_pass(
    deps: Deps, worker: Worker, on_each: Callable[[Processed], None] | None = None
) -> PassReport:
    """Process every waiting mail and deliver the replies as their groups commit."""
    with Checkpoints(deps.store), Courier(deps, worker.mailbox, worker.stop) as courier:
        totals = worker.run_pass(on_each, after_commit=courier.nudge)
    return PassReport(totals, courier.report)
