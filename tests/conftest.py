"""Shared fixtures. Real servers live in tests/servers/, one module each, loaded as plugins."""

pytest_plugins = [
    "tests.servers.dovecot",
    "tests.servers.smtp_sink",
    "tests.servers.stripe_server",
]
