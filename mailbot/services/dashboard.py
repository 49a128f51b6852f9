"""What the dashboard shows: mails per outcome per day, the queue's size at the end of each day,
and how long escalations waited for a person, over the last N days (UTC days, today included).

Every figure comes from the store's aggregates (`store/stats.py`); this module only lays them
out on the days of the range, filling the days without rows with zeros, so a chart has one
value per day. A reopened escalation counts as open since it was first raised.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from mailbot.core.model import Outcome
from mailbot.store import Store

RANGES = (14, 30, 90)  # days the console offers; anything else is refused


class DashboardError(ValueError):
    """A range the dashboard does not offer, in plain words."""


@dataclass(frozen=True)
class Dashboard:
    days: list[date]  # oldest first, the last is today
    outcomes: dict[str, list[int]]  # outcome -> mails per day (every outcome, in order)
    open_queue: list[int]  # open escalations at the end of each day (now, for today)
    median_wait: list[timedelta | None]  # per day closed; None without closings that day
    overall_median: timedelta | None  # over every escalation closed in the range
    closed: int  # escalations closed in the range

    @property
    def mails(self) -> int:
        return sum(sum(counts) for counts in self.outcomes.values())


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def build_dashboard(store: Store, now: datetime, days: int) -> Dashboard:
    """The last `days` days up to `now` (one of RANGES)."""
    if days not in RANGES:
        raise DashboardError(
            f"the dashboard shows the last {', '.join(map(str, RANGES[:-1]))} or {RANGES[-1]} days"
        )
    # Rows carry the day as text; one not in the range (a timestamp written in another form by
    # an old release) is left out rather than raising.
    today = now.astimezone(UTC).date()
    span = [today - timedelta(days=days - 1 - i) for i in range(days)]
    index = {d.isoformat(): i for i, d in enumerate(span)}
    start, end = _midnight(span[0]), _midnight(today + timedelta(days=1))

    # Every known outcome gets a series (a chart's legend should not change with the data);
    # an outcome we do not know (a newer release wrote it) is shown too, not dropped.
    outcomes: dict[str, list[int]] = {o.value: [0] * days for o in Outcome}
    for row in store.outcomes_per_day(start, end):
        if row.day in index:
            outcomes.setdefault(row.outcome or "unknown", [0] * days)[index[row.day]] += row.mails

    opened, closed = [0] * days, [0] * days
    for counts, rows in (
        (opened, store.escalations_opened_per_day(start, end)),
        (closed, store.escalations_closed_per_day(start, end)),
    ):
        for day_count in rows:
            if day_count.day in index:
                counts[index[day_count.day]] = day_count.escalations
    level, queue = store.escalations_open_at(start), []
    for up, down in zip(opened, closed, strict=True):
        level += up - down
        queue.append(level)

    medians: list[timedelta | None] = [None] * days
    for m in store.resolution_medians_per_day(start, end):
        if m.day in index:
            medians[index[m.day]] = timedelta(seconds=m.seconds)
    overall = store.resolution_median(start, end)
    return Dashboard(
        days=span,
        outcomes=outcomes,
        open_queue=queue,
        median_wait=medians,
        overall_median=timedelta(seconds=overall.seconds) if overall else None,
        closed=sum(closed),
    )
