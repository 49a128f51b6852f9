"""`mailbot doctor` for IMAP: log in, look at the folders and capabilities, change nothing."""

from __future__ import annotations

from typing import Protocol

from mailbot.adapters.mailboxes.imap.codec import FolderInfo
from mailbot.adapters.mailboxes.imap.connection import MailboxAuthError, MailboxError
from mailbot.config import ConfigError, MailboxSettings
from mailbot.services.ports import Check


class Inspectable(Protocol):
    """What the checks look at: the mailbox's settings and its inspection calls."""

    @property
    def settings(self) -> MailboxSettings: ...

    def capabilities(self) -> frozenset[str]: ...

    def folder_report(self) -> list[FolderInfo]: ...

    def folders(self) -> list[str]: ...

    def close(self) -> None: ...


def imap_checks(box: Inspectable) -> list[Check]:
    """Login, IDLE and MOVE, and each folder the configuration uses."""
    mailbox = box.settings
    login = (
        f"IMAP {mailbox.host}:{mailbox.port} as {mailbox.username} "
        f"({mailbox.security}, {mailbox.auth})"
    )
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
            checks.append(
                Check(
                    name,
                    False,
                    f"{folder.name} does not exist on the server: fix [mailbox] folder "
                    f"(the server has: {shown})",
                )
            )
        else:
            checks.append(
                Check(
                    name, True, f"{folder.name} does not exist yet; it will be created on first use"
                )
            )
    return checks
