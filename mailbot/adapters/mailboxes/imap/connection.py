"""The one seam between the IMAP adapter and the network: connect, secure, log in.

`open_client` is what `ImapMailbox` calls by default to get a connected, logged-in client;
tests pass their own callable instead. Everything that can go wrong here in a way a person must
fix (a refused login, an untrusted certificate, a server without STARTTLS) becomes a
`MailboxError` whose message says what to change. Passwords come from config.secret(); XOAUTH2
tokens from `oauth.TokenSource`.
"""

from __future__ import annotations

import logging
import ssl

# The only module that imports imapclient (which ships no type information): the rest of the
# package takes the client class and its errors from here.
from imapclient import IMAPClient, SocketTimeout
from imapclient.exceptions import (
    CapabilityError,
    IMAPClientAbortError,
    IMAPClientError,
    LoginError,
)

from mailbot.adapters.mailboxes.imap.codec import _said
from mailbot.adapters.mailboxes.imap.oauth import TokenError, TokenSource
from mailbot.adapters.tls import client_context, untrusted_certificate
from mailbot.config import ConfigError, MailboxSettings, secret

# One logger for the whole IMAP adapter, under its name from before the split: JSON log lines
# carry it as "logger", and the tests that capture the adapter's records select it by name.
LOGGER_NAME = "mailbot.adapters.mailboxes.imap"

log = logging.getLogger(LOGGER_NAME)

__all__ = [
    "CONNECTION_ERRORS",
    "LOGGER_NAME",
    "IMAPClient",
    "IMAPClientAbortError",
    "IMAPClientError",
    "MailboxAuthError",
    "MailboxError",
    "MailboxUnavailable",
    "login_failure_advice",
    "open_client",
    "password",
]

# What a broken connection looks like through imaplib: socket errors, timeouts, EOF/BYE aborts.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (OSError, IMAPClientAbortError, EOFError)

_LOOPBACK = ("127.0.0.1", "::1", "localhost")


class MailboxError(Exception):
    """A mailbox problem a person has to fix; the message says what to do."""


class MailboxAuthError(MailboxError):
    """The server refused our credentials."""


class MailboxUnavailable(MailboxError):
    """The server cannot be reached right now."""


def open_client(
    settings: MailboxSettings,
    *,
    tokens: TokenSource | None = None,
    client_class: type[IMAPClient] = IMAPClient,
) -> IMAPClient:
    """Connect (TLS, STARTTLS or, when configured, plain) and log in. The default seam."""
    if not settings.username:
        raise ConfigError("[mailbox] username is empty")
    timeout = SocketTimeout(connect=settings.timeout_seconds, read=settings.timeout_seconds)
    where = f"{settings.host}:{settings.port}"
    context = client_context()
    try:
        if settings.security == "tls":
            client = client_class(
                settings.host, settings.port, ssl=True, ssl_context=context, timeout=timeout
            )
        else:
            if settings.security == "none" and settings.host not in _LOOPBACK:
                log.warning("IMAP to %s without TLS: the login crosses the network in clear", where)
            client = client_class(settings.host, settings.port, ssl=False, timeout=timeout)
    except ssl.SSLCertVerificationError as exc:
        raise MailboxError(untrusted_certificate("IMAP", "mailbox", where, exc)) from None
    try:
        if settings.security == "starttls":
            try:
                client.starttls(context)
            except CapabilityError:
                raise MailboxError(
                    f'IMAP server {where} does not offer STARTTLS. Use security = "tls" '
                    f"(usually port 993), or check host and port."
                ) from None
            except ssl.SSLCertVerificationError as exc:
                raise MailboxError(untrusted_certificate("IMAP", "mailbox", where, exc)) from None
        _login(client, settings, tokens)
    except BaseException:
        # Whatever stopped us (including Ctrl-C), the half-open connection must not leak.
        _discard(client)
        raise
    return client


def _login(client: IMAPClient, settings: MailboxSettings, tokens: TokenSource | None) -> None:
    """Log in with a password or XOAUTH2; a refused login raises `MailboxAuthError`."""
    if settings.auth == "password":
        try:
            client.login(settings.username, password(settings))
        except LoginError as exc:
            raise MailboxAuthError(login_failure_advice(settings, _said(exc))) from None
        return
    if settings.auth != "xoauth2":
        raise ConfigError('[mailbox] auth must be "password" or "xoauth2"')
    source = tokens or TokenSource(settings)
    try:
        token = source.access_token()
    except TokenError as exc:
        raise MailboxAuthError(
            f"no XOAUTH2 access token for IMAP user {settings.username}: {exc}"
        ) from None
    try:
        client.oauth2_login(settings.username, token)
        return
    except LoginError as exc:
        refused = _said(exc)
    if not source.can_refresh:
        raise MailboxAuthError(login_failure_advice(settings, refused))
    # The token may have been revoked or expired early: one retry with a fresh one.
    try:
        token = source.access_token(force_refresh=True)
    except TokenError as exc:
        raise MailboxAuthError(f"{login_failure_advice(settings, refused)} ({exc})") from None
    try:
        client.oauth2_login(settings.username, token)
    except LoginError as exc:
        raise MailboxAuthError(login_failure_advice(settings, _said(exc))) from None


def forget_unasked(client: IMAPClient) -> None:
    """Drop what the server said unasked: an EXPUNGE per mail moved (by us, or by another
    connection to the folder, which hears of each move during its own commands) and a move's
    COPYUID line. imaplib keeps untagged responses until someone asks for them, and nobody
    asks for these, so a backlog of 100,000 mails would leave 100,000 of them behind in
    memory. (No public imapclient call does this; its one connection seam is `_imap`.)"""
    kept = client._imap.untagged_responses
    for kind in ("EXPUNGE", "VANISHED", "OK"):
        kept.pop(kind, None)


def _discard(client: IMAPClient) -> None:
    """Drop a connection without the LOGOUT exchange (it is broken or of unknown state)."""
    try:
        client.shutdown()
    except Exception:  # already closed: nothing left to release
        pass


def password(settings: MailboxSettings) -> str:
    """The IMAP password, from `password_env` or `password_file`."""
    return secret(settings.password_env, settings.password_file, "IMAP password")


def login_failure_advice(settings: MailboxSettings, server_said: str) -> str:
    """Plain words for a refused IMAP login: what was tried, and what to do next."""
    who = f"{settings.username or '(no username)'} at {settings.host}:{settings.port}"
    said = server_said.strip() or "no reason given"
    if settings.auth == "xoauth2":
        source = (
            f"oauth_token_command ({settings.oauth_token_command.split()[0]})"
            if settings.oauth_token_command
            else f"oauth_token_file {settings.oauth_token_file}"
        )
        return (
            f"IMAP XOAUTH2 login for {who} was refused (server said: {said}). The access token "
            f"from {source} is expired, revoked or lacks the mail scope. Sign in again to get "
            f"a new token (Gmail: scope https://mail.google.com/; Microsoft 365: scope "
            f"https://outlook.office365.com/IMAP.AccessAsUser.All, and IMAP must be enabled for "
            f"the mailbox), and check that username is the mailbox's full address."
        )
    where = (
        f"environment variable {settings.password_env}"
        if settings.password_env
        else f"file {settings.password_file}"
    )
    return (
        f"IMAP login for {who} was refused (server said: {said}). Check [mailbox] username and "
        f"the password in {where}. Gmail and Microsoft 365 refuse plain passwords: use an app "
        f'password, or auth = "xoauth2".'
    )
