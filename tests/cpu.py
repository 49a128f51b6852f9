"""The CPU a call costs, for the tests that bound what hostile input may cost (the quality bar:
an outcome within a second of CPU). CPU time, not the clock: another process on the machine
does not make a bounded parse look unbounded; a quadratic one costs tens of seconds either way."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
BUDGET = 1.0  # CPU seconds


def within_budget(call: Callable[[], T], budget: float = BUDGET) -> T:
    """The call's result; fails when it took more than `budget` CPU seconds."""
    started = time.process_time()
    result = call()
    spent = time.process_time() - started
    assert spent < budget, f"{spent:.2f} CPU seconds, over the {budget} s budget"
    return result
