"""`mailbot doctor`: check that a configuration can work, before the first mail depends on it.

Each check connects or looks for real (IMAP login and folders, SMTP EHLO/STARTTLS/AUTH
without sending anything, the signing key's file mode, the store folder) and reports in plain
words what is wrong and what to do about it. Nothing is changed: folders that do not exist yet
are reported as "will be created", and a write test leaves no file behind.
"""

from __future__ import annotations

import os
import smtplib
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .config import ConfigError, MailboxSettings, OutboxSettings, Settings
from .mailboxes.imap import ImapMailbox, MailboxAuthError, MailboxError
from .senders.smtp import open_smtp


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def run_checks(settings: Settings) -> list[Check]:
    checks: list[Check] = []
    checks += check_mailbox(settings.mailbox)
    checks.append(check_outbox(settings.outbox))
    checks.append(check_signing_key(settings.signing.private_key))
    checks.append(check_writable_folder("store", settings.store_path.parent))
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


def check_signing_key(path: Path) -> Check:
    try:
        info = path.stat()
    except FileNotFoundError:
        return Check("signing key", False,
                     f"{path} does not exist: run `mailbot keys init` to create it")
    except OSError as exc:
        return Check("signing key", False, f"cannot read {path}: {exc.strerror}")
    if not stat.S_ISREG(info.st_mode):
        return Check("signing key", False, f"{path} is not a file; fix [signing] private_key")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        return Check(
            "signing key", False,
            f"{path} has mode {mode:04o}: other users can read the private key. "
            f"Run `chmod 600 {path}`.",
        )
    if not os.access(path, os.R_OK):
        return Check("signing key", False,
                     f"{path} is not readable by this user; run mailbot as its owner")
    return Check("signing key", True, f"{path} exists, mode {mode:04o}")


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
