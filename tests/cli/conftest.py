"""The mailbot the command-line tests type into: one paid order of three seats for alice."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.staff_env import Env, make_env, order_row


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return make_env(tmp_path, [order_row("ORD-1", "alice@northwind.example", 3)])
