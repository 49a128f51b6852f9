"""`mailbot run`: the long-running worker, scheduled with APScheduler 3.

All jobs run on one executor thread, one at a time, so the store and the mailbox connection are
never used by two jobs at once (inside the mail job, a pass has a fetch thread and a delivery
thread of its own, which take turns on the mailbox; services/mail_pass.py). The mail job waits
for new mail in short slices (IMAP IDLE where the server has it), so the other jobs interleave
and a stop request is seen within seconds. Every job has max_instances=1 and coalesce=True: a
slow run never piles up copies of itself.
On SIGTERM or SIGINT the current mail is finished, the scheduler shuts down, and we exit 0.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import UTC
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler

from mailbot.services.context import Deps
from mailbot.services.delivery import deliver_outbox
from mailbot.services.mail_pass import run_mail_pass
from mailbot.services.notify import send_digest
from mailbot.services.order_sync import JOB_BUDGET_SECONDS, sync_orders
from mailbot.services.payments import expire_pending_payments
from mailbot.services.webhooks import deliver_events
from mailbot.services.worker import Worker

log = logging.getLogger("mailbot.scheduler")
WAIT_SLICE = 5.0  # seconds: how often the mail job looks at the stop flag while waiting
DRAIN_PASSES = 5  # passes in a row while mail keeps coming; then the other jobs get a turn
MAIL_TICK = 0.25  # seconds between the end of one mail job and the next (it waits inside)
WEBHOOK_SECONDS = 10  # how often due events are posted (a pass is bounded: webhooks.py)


LOCAL_TERMS_SECONDS = 300
Job = tuple[str, Callable[[], Any], float]  # name, what it does, every how many seconds


def periodic_jobs(deps: Deps) -> list[Job]:
    """The jobs of `mailbot run` besides mail and the outbox."""
    jobs: list[Job] = [
        ("expire-payments", lambda: expire_pending_payments(deps, deps.clock.now()), 3600),
        # Checks every minute; sends only when a digest is due (see services/notify.py).
        ("staff-digest", lambda: send_digest(deps, deps.clock.now()), 60),
    ]
    if deps.order_events is None:
        # An orders file has no events: read it again now and then so a row whose `expires`
        # moved forward renews its licenses (and a reduced quantity is flagged) without a mail.
        jobs.append(("order-terms", lambda: sync_orders(deps), LOCAL_TERMS_SECONDS))
    else:
        # Incremental every sync_minutes; the full re-list comes due every full_resync_hours
        # and runs in slices of the budget, so mail never waits long behind it.
        jobs.append(
            (
                "order-sync",
                lambda: sync_orders(deps, budget_seconds=JOB_BUDGET_SECONDS),
                max(1, deps.settings.orders.sync_minutes) * 60,
            )
        )
    return jobs


class Runner:
    """The scheduled worker: mail (IDLE or polling), the outbox, and the periodic jobs."""

    def __init__(self, deps: Deps, extra_jobs: list[Job] | None = None) -> None:
        self.deps = deps
        self.worker = Worker(deps)
        self.scheduler = BlockingScheduler(
            executors={"default": ThreadPoolExecutor(1)},
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": 300},
            timezone=UTC,
        )
        self._extra = periodic_jobs(deps) if extra_jobs is None else extra_jobs
        # True when the last pass found mail (and at start-up): more may be waiting, and its
        # new-mail notice may have come while we were busy, so look again before waiting.
        self._more_waiting = True

    def mail_job(self) -> None:
        """Wait for mail (IDLE or a sleep), then process everything waiting; replies go out
        as each group of mails commits (services/mail_pass.py)."""
        mailbox = self.deps.mailbox
        waited = 0.0
        poll = float(self.deps.settings.mailbox.poll_seconds)
        while not self._more_waiting and not self.worker.stop.is_set() and waited < poll:
            if mailbox.wait_for_mail(min(WAIT_SLICE, poll - waited)):
                break
            waited += WAIT_SLICE
        if self.worker.stop.is_set():
            return
        # Drain: mail that arrived while we worked gets its pass now, not after a wait.
        for _ in range(DRAIN_PASSES):
            report = self._guarded("poll", lambda: run_mail_pass(self.deps, self.worker))
            self._more_waiting = report is not None and report.totals.new > 0
            if not self._more_waiting or self.worker.stop.is_set():
                break

    def _deliver(self) -> Any:
        return deliver_outbox(self.deps, self.worker.stop)

    def _guarded(self, name: str, job: Callable[[], Any]) -> Any:
        try:
            return job()
        except Exception as exc:  # noqa: BLE001 - log once, the next run tries again
            log.error(
                "job failed; retrying on its next run", extra={"job": name, "error": str(exc)}
            )
            return None

    def start(self) -> None:
        # The mail job is re-armed every MAIL_TICK and usually still running: APScheduler's
        # "skipped: maximum number of running instances" is the design here, not news.
        logging.getLogger("apscheduler").setLevel(logging.ERROR)
        self.scheduler.add_job(
            self.mail_job, "interval", seconds=MAIL_TICK, id="mail", next_run_time=_now()
        )
        self.scheduler.add_job(
            lambda: self._guarded("deliver", self._deliver), "interval", seconds=30, id="outbox"
        )
        if self.deps.settings.webhooks.url:
            self.scheduler.add_job(
                lambda: self._guarded(
                    "webhooks", lambda: deliver_events(self.deps, self.worker.stop)
                ),
                "interval",
                seconds=WEBHOOK_SECONDS,
                id="webhooks",
                next_run_time=_now(),
            )
        for name, job, seconds in self._extra:
            self.scheduler.add_job(
                lambda job=job, name=name: self._guarded(name, job),
                "interval",
                seconds=seconds,
                id=name,
                next_run_time=_now(),
            )
        self._install_signals()
        log.info(
            "worker started",
            extra={
                "mailbox": self.deps.settings.mailbox.kind,
                "outbox": self.deps.settings.outbox.kind,
            },
        )
        self.scheduler.start()
        log.info("worker stopped")

    def stop(self, *_: Any) -> None:
        self.worker.stop.set()
        # shutdown() waits for the running job, which returns after its current mail.
        threading.Thread(target=self.scheduler.shutdown, kwargs={"wait": True}, daemon=True).start()

    def _install_signals(self) -> None:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self.stop)
            signal.signal(signal.SIGINT, self.stop)


def _now() -> Any:
    from datetime import datetime

    return datetime.now(UTC)
