"""A batch spread over several SMTP connections at once (`[outbox] connections`).

SMTP without PIPELINING (which smtplib does not speak) waits for the server four times per
message: MAIL, RCPT, DATA and the end of the data. One connection therefore sends at the pace
of the server's answers, not of the network or of our own work, and a long backlog's replies
would fall behind its decisions. Mail servers take several connections from one client as a
matter of course (Postfix's own client opens up to 20 per destination), so a batch is dealt
out over up to `connections` lanes, each a kept `SmtpSender`, sending side by side. A batch too
small to be worth it (the usual one of the service on IDLE) goes over the first lane alone.

A lane whose connection cannot be used because of our configuration (SendBlocked: a login
refused, no STARTTLS) blocks the whole batch as one connection would, unless other lanes sent
their part: their results stand (a sent mail must never be sent again), and the failed lane's
rows count as a temporary failure, retried with the outbox's backoff.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from mailbot.adapters.senders.smtp import SmtpSender
from mailbot.services.ports import Check, Delivery

MIN_EACH = 10  # rows a lane gets at least before another lane is used


class SmtpLanes:
    """The MailSender protocol over several kept SMTP connections."""

    def __init__(self, lanes: Sequence[SmtpSender]) -> None:
        assert lanes, "at least one lane"
        self._lanes = list(lanes)

    def send(self, batch: Sequence[tuple[int, str, bytes]]) -> dict[int, Delivery]:
        used = max(1, min(len(self._lanes), len(batch) // MIN_EACH))
        if used == 1:
            return self._lanes[0].send(batch)
        # Dealt out in turn, so the batch's first rows go first on every lane.
        parts = [list(batch[n::used]) for n in range(used)]
        outcomes: list[dict[int, Delivery] | BaseException | None] = [None] * used

        def run(n: int) -> None:
            try:
                outcomes[n] = self._lanes[n].send(parts[n])
            except BaseException as exc:  # noqa: BLE001 - judged below, in the caller's thread
                outcomes[n] = exc

        others = [threading.Thread(target=run, args=(n,)) for n in range(1, used)]
        for thread in others:
            thread.start()
        run(0)
        for thread in others:
            thread.join()
        return _merged(parts, outcomes)

    def checks(self) -> list[Check]:
        return self._lanes[0].checks()

    def close(self) -> None:
        for lane in self._lanes:
            lane.close()


def _merged(
    parts: list[list[tuple[int, str, bytes]]],
    outcomes: list[dict[int, Delivery] | BaseException | None],
) -> dict[int, Delivery]:
    results: dict[int, Delivery] = {}
    failed: list[tuple[list[tuple[int, str, bytes]], BaseException]] = []
    for part, outcome in zip(parts, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            failed.append((part, outcome))
        elif outcome is not None:
            results.update(outcome)
    if failed and not results:
        raise failed[0][1]  # nothing went out: the rows stay as they were, attempts unused
    for part, exc in failed:
        for row_id, _, _ in part:
            results[row_id] = Delivery(ok=False, permanent=False, error=str(exc))
    return results
