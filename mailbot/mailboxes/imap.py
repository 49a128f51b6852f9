"""The IMAP mailbox, now in `mailbot.adapters.mailboxes.imap`; this module only re-exports it.

Constants are re-exported for reading; to change one (tests do), patch it in the module that
defines it, since the code reads it there.
"""

# Temporary: removed when the package is rewired (issue 9).

from ..adapters.mailboxes.imap.codec import (
    DELETED,
    KEYWORD,
    PROCESSED_OUTCOMES,
    SEEN,
    UID_SET_MAX_CHARS,
    mail_key,
    parse_mail_key,
    server_folder_name,
    target_folder,
    uid_sets,
)
from ..adapters.mailboxes.imap.connection import (
    MailboxAuthError,
    MailboxError,
    MailboxUnavailable,
    open_client,
)
from ..adapters.mailboxes.imap.fetching import BODY_CHUNK_BYTES, BODY_CHUNK_COUNT, META_CHUNK
from ..adapters.mailboxes.imap.mailbox import IDLE_RENEW_SECONDS, FolderInfo, ImapMailbox
from ..adapters.mailboxes.imap.session import FIRST_BACKOFF_SECONDS, MAX_BACKOFF_SECONDS

__all__ = [
    "BODY_CHUNK_BYTES",
    "BODY_CHUNK_COUNT",
    "DELETED",
    "FIRST_BACKOFF_SECONDS",
    "IDLE_RENEW_SECONDS",
    "KEYWORD",
    "MAX_BACKOFF_SECONDS",
    "META_CHUNK",
    "PROCESSED_OUTCOMES",
    "SEEN",
    "UID_SET_MAX_CHARS",
    "FolderInfo",
    "ImapMailbox",
    "MailboxAuthError",
    "MailboxError",
    "MailboxUnavailable",
    "mail_key",
    "open_client",
    "parse_mail_key",
    "server_folder_name",
    "target_folder",
    "uid_sets",
]
