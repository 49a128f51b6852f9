"""Counts for the dashboard, aggregated by SQLite (GROUP BY day): a few rows per day come back,
never the mails or escalations themselves, so a store with 100,000 mails answers as fast as an
empty one.

A day is the UTC date of a stored timestamp (timestamps are stored as UTC ISO text, so the day
is its first ten characters and ranges compare as text). An escalation counts as closed at its
`updated_at` once its state is not `open`: closing is the last change an escalation gets.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from mailbot.store.engine import Engine, iso


@dataclass(frozen=True)
class OutcomeCount:
    day: str  # YYYY-MM-DD
    outcome: str
    mails: int


@dataclass(frozen=True)
class DayCount:
    day: str
    escalations: int


@dataclass(frozen=True)
class DayMedian:
    day: str
    seconds: float
    closed: int  # how many escalations the median is of


# Per closing day, the middle one or two durations (window functions: SQLite 3.25+); the caller
# filters on the range. Durations in seconds from julianday (SQLite: julianday).
_CLOSED = (
    "SELECT substr(updated_at, 1, 10) AS day, "
    "round((julianday(updated_at) - julianday(created_at)) * 86400.0) AS secs "
    "FROM escalations WHERE state != 'open' AND updated_at >= ? AND updated_at < ?"
)


class StatsTable(Engine):
    """Aggregates over `messages` and `escalations` for the dashboard."""

    def outcomes_per_day(self, start: datetime, end: datetime) -> list[OutcomeCount]:
        """Mails processed in [start, end) per day and outcome."""
        rows = self._rows(
            "SELECT substr(processed_at, 1, 10) AS day, outcome, count(*) AS n FROM messages "
            "WHERE processed_at >= ? AND processed_at < ? GROUP BY day, outcome ORDER BY day",
            [iso(start), iso(end)],
        )
        return [OutcomeCount(r["day"], r["outcome"] or "", int(r["n"])) for r in rows]

    def escalations_opened_per_day(self, start: datetime, end: datetime) -> list[DayCount]:
        rows = self._rows(
            "SELECT substr(created_at, 1, 10) AS day, count(*) AS n FROM escalations "
            "WHERE created_at >= ? AND created_at < ? GROUP BY day ORDER BY day",
            [iso(start), iso(end)],
        )
        return [DayCount(r["day"], int(r["n"])) for r in rows]

    def escalations_closed_per_day(self, start: datetime, end: datetime) -> list[DayCount]:
        rows = self._rows(
            "SELECT substr(updated_at, 1, 10) AS day, count(*) AS n FROM escalations "
            "WHERE state != 'open' AND updated_at >= ? AND updated_at < ? "
            "GROUP BY day ORDER BY day",
            [iso(start), iso(end)],
        )
        return [DayCount(r["day"], int(r["n"])) for r in rows]

    def escalations_open_at(self, moment: datetime) -> int:
        """Escalations created before `moment` and not closed by then."""
        at = iso(moment)
        return int(
            self._scalar(
                "SELECT count(*) FROM escalations WHERE created_at < ? "
                "AND (state = 'open' OR updated_at >= ?)",
                [at, at],
            )
            or 0
        )

    def resolution_medians_per_day(self, start: datetime, end: datetime) -> list[DayMedian]:
        """The median time from escalation to its closing, per day closed in [start, end)."""
        rows = self._rows(
            f"WITH d AS ({_CLOSED}), r AS (SELECT day, secs, "
            "row_number() OVER (PARTITION BY day ORDER BY secs) AS k, "
            "count(*) OVER (PARTITION BY day) AS c FROM d) "
            "SELECT day, avg(secs) AS median, max(c) AS c FROM r "
            "WHERE k IN ((c + 1) / 2, (c + 2) / 2) GROUP BY day ORDER BY day",
            [iso(start), iso(end)],
        )
        return [DayMedian(r["day"], float(r["median"]), int(r["c"])) for r in rows]

    def resolution_median(self, start: datetime, end: datetime) -> DayMedian | None:
        """The median over every escalation closed in [start, end); `day` is empty."""
        row = self._row(
            f"WITH d AS ({_CLOSED}), r AS (SELECT secs, row_number() OVER (ORDER BY secs) AS k, "
            "count(*) OVER () AS c FROM d) "
            "SELECT avg(secs) AS median, max(c) AS c FROM r WHERE k IN ((c + 1) / 2, (c + 2) / 2)",
            [iso(start), iso(end)],
        )
        if row is None or row["c"] is None:
            return None
        return DayMedian("", float(row["median"]), int(row["c"]))
