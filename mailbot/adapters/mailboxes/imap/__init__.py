"""The IMAP mailbox adapter: pure codecs, the connection, XOAUTH2 tokens and `ImapMailbox`.

Layout, bottom up: `codec` (pure: keys, UID sets, folder names, reading server answers),
`oauth` (XOAUTH2 token sources), `connection` (connect, TLS, login; the error classes),
`session` (one connection kept alive across outages), `fetching` and `filing` (the two halves of
the mail's trip through the inbox), `mailbox` (`ImapMailbox`, the Mailbox protocol).
"""

from mailbot.adapters.mailboxes.imap.codec import (
    KEYWORD,
    FolderInfo,
    mail_key,
    parse_mail_key,
    server_folder_name,
    target_folder,
    uid_sets,
)
from mailbot.adapters.mailboxes.imap.connection import (
    MailboxAuthError,
    MailboxError,
    MailboxUnavailable,
    open_client,
)
from mailbot.adapters.mailboxes.imap.mailbox import ImapMailbox
from mailbot.adapters.mailboxes.imap.oauth import TokenError, TokenSource

__all__ = [
    "KEYWORD",
    "FolderInfo",
    "ImapMailbox",
    "MailboxAuthError",
    "MailboxError",
    "MailboxUnavailable",
    "TokenError",
    "TokenSource",
    "mail_key",
    "open_client",
    "parse_mail_key",
    "server_folder_name",
    "target_folder",
    "uid_sets",
]
