"""`mailbot doctor`: check that a configuration can work, before the first mail depends on it.

It checks everything `mailbot run` needs, and lists what it checked: the config itself, the
orders source (the CSV parses; Stripe answers one read-only call with the key), every template,
shipped and overridden, rendered with a sample context, the signing key (it loads, signs, and
the signature verifies), the store (it opens and its schema can be migrated), the mailbox (IMAP
login and folders, or the Maildir folder) and SMTP (EHLO/STARTTLS/AUTH without sending). It
reports in plain words what is wrong and what to do about it. Nothing is changed: folders that
do not exist yet are reported as "will be created", the store is opened read-only, and a write
test leaves no file behind.
"""

from __future__ import annotations

import smtplib
import tempfile
from pathlib import Path
from typing import Any

from mailbot.config import ConfigError, MailboxSettings, OutboxSettings, Settings
from mailbot.adapters.mailboxes.imap import ImapMailbox, MailboxAuthError, MailboxError
from mailbot.services.preflight import Check, local_checks
from mailbot.adapters.senders.smtp import open_smtp

__all__ = ["Check", "run_checks"]


def run_checks(app: Any) -> list[Check]:
    """Every check, in the order `run` would meet them."""
    settings: Settings = app.settings
    where = settings.config_path or settings.base_dir
    checks = [Check("config", True, f"{where} is valid")]
    checks += local_checks(app, live=True)
    checks += check_mailbox(settings.mailbox)
    checks.append(check_outbox(settings.outbox))
    checks.append(check_writable_folder("store folder", settings.store_path.parent))
    return checks


# -- mailbox ------------------------------------------------------------------------------------


def check_mailbox(mailbox: MailboxSettings) -> list[Check]:
    if mailbox.kind == "maildir":
        path = mailbox.path
        if path is not None and path.is_dir():
            return [Check("mailbox", True, f"Maildir folder {path} exists")]
        return [Check("mailbox", False,
                      f"Maildir folder {path} does not exist: create it, or fix [mailbox] path")]
    try:
        box = ImapMailbox(mailbox)
    except ConfigError as exc:
        return [Check("imap connection", False, str(exc))]
    login = (f"IMAP {mailbox.host}:{mailbox.port} as {mailbox.username} "
             f"({mailbox.security}, {mailbox.auth})")
    try:
        capabilities = box.capabilities()
        report = box.folder_report()
        server_folders = box.folders()
    except MailboxAuthError as exc:
        return [Check("imap login", False, str(exc))]
    except (MailboxError, ConfigError) as exc:
        return [Check("imap connection", False, str(exc))]
    finally:
        box.close()
    if mailbox.idle and "IDLE" in capabilities:
        waiting = "new mail is noticed at once (IDLE)"
    elif mailbox.idle:
        waiting = f"the server has no IDLE: mailbot polls every {mailbox.poll_seconds} s"
    else:
        waiting = f"idle = false: mailbot polls every {mailbox.poll_seconds} s"
    if not mailbox.move:
        filing = "move = false: processed mail stays and gets the keyword $MailbotDone"
    elif "MOVE" in capabilities:
        filing = "processed mail is moved (MOVE)"
    else:
        filing = "the server has no MOVE: processed mail is copied, then expunged"
    checks = [Check("imap login", True, f"logged in to {login}; {waiting}; {filing}")]
    for folder in report:
        name = f"imap folder ({folder.role})"
        if folder.exists:
            checks.append(Check(name, True, f"{folder.name} exists"))
        elif folder.role == "inbox":
            shown = ", ".join(sorted(server_folders)[:20])
            checks.append(Check(
                name, False,
                f"{folder.name} does not exist on the server: fix [mailbox] folder "
                f"(the server has: {shown})",
            ))
        else:
            checks.append(Check(name, True, f"{folder.name} does not exist yet; it will be "
                                            f"created on first use"))
    return checks


# -- outbox -------------------------------------------------------------------------------------


def check_outbox(outbox: OutboxSettings) -> Check:
    if outbox.kind == "directory":
        assert outbox.path is not None
        return check_writable_folder("outbox", outbox.path)
    where = f"{outbox.host}:{outbox.port}"
    try:
        smtp = open_smtp(outbox)
    except ConfigError as exc:  # SmtpConfigError included: login, STARTTLS, certificate
        return Check("smtp", False, str(exc))
    except (OSError, smtplib.SMTPException) as exc:
        return Check(
            "smtp", False,
            f"cannot connect to SMTP server {where} ({exc}). Check [outbox] host, port and "
            f"security (\"tls\" is usually port 465, \"starttls\" 587), and that the server "
            f"is running.",
        )
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()
    steps = {"tls": ["TLS", "EHLO"], "starttls": ["EHLO", "STARTTLS"]}.get(outbox.security,
                                                                        ["EHLO"])
    if outbox.username:
        steps.append(f"AUTH as {outbox.username}")
    return Check("smtp", True, f"{where}: {', '.join(steps)} ok; no mail sent")


# -- files --------------------------------------------------------------------------------------


def check_writable_folder(name: str, folder: Path) -> Check:
    """Whether mailbot can write in folder (or create it): tried for real, then cleaned up."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return Check(name, False,
                     f"cannot create folder {folder}: {existing} is not a folder. Fix the path "
                     f"in the config.")
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".mailbot-doctor-"):
            pass
    except OSError as exc:
        return Check(name, False,
                     f"cannot write in {existing} ({exc.strerror}): make it writable for the "
                     f"user running mailbot, or change the path in the config")
    if existing == folder:
        return Check(name, True, f"{folder} is writable")
    return Check(name, True, f"{folder} does not exist yet; it will be created")
