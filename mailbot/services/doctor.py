"""`mailbot doctor`: check that a configuration can work, before the first mail depends on it.

It checks everything `mailbot run` needs, and lists what it checked: the config itself; every
template, shipped and overridden, rendered with a sample context; the signing key (it loads,
signs, and the signature verifies); the orders source (the CSV parses; Stripe answers one
read-only call with the key); the store (it opens and its schema can be migrated); the mailbox
(IMAP login and folders, or the Maildir folder) and the mail sender (SMTP EHLO, STARTTLS and
AUTH without sending, or the outbox folder). Each check says in plain words what is wrong and
what to do about it. Nothing is changed: folders that do not exist yet are reported as "will be
created", the store is opened read-only, and a write test leaves no file behind.
"""

from __future__ import annotations

from mailbot.core.errors import SetupError
from mailbot.services.context import Deps
from mailbot.services.files import writable_folder
from mailbot.services.ports import Check
from mailbot.services.preflight import local_checks

__all__ = ["Check", "run_checks"]


def run_checks(deps: Deps) -> list[Check]:
    """Every check, in the order `run` would meet them."""
    settings = deps.settings
    where = settings.config_path or settings.base_dir
    checks = [Check("config", True, f"{where} is valid")]
    checks += local_checks(deps, live=True)
    for name, adapter in (("mailbox", lambda: deps.mailbox), ("mail sender", lambda: deps.sender)):
        try:
            checks += adapter().checks()
        except SetupError as exc:
            checks.append(Check(name, False, str(exc)))
    checks.append(writable_folder("store folder", settings.store_path.parent))
    return checks
