"""Shared fixtures. Real servers live in tests/servers/, one module each, loaded as plugins."""

from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher

from mailbot.services import staff_accounts

pytest_plugins = [
    "tests.servers.dovecot",
    "tests.servers.smtp_sink",
    "tests.servers.stripe_server",
    "tests.servers.webhook_receiver",
]


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """argon2 at its real cost (64 MiB, ~50 ms a hash) would be most of the console tests'
    time; the tests are about who may log in, not about the hash's strength. Commands run as
    subprocesses (the wheel, the demo) keep the real parameters."""
    monkeypatch.setattr(
        staff_accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )
    staff_accounts._dummy_hash.cache_clear()
    yield
    staff_accounts._dummy_hash.cache_clear()
