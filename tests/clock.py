"""A clock for tests: time moves only when told to."""

from __future__ import annotations

from datetime import datetime, timedelta


class FrozenClock:
    """Implements mailbot.core.clock.Clock; `advance(hours=2)` moves it on."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)
