"""IMAP credentials, now in `mailbot.adapters.mailboxes.imap`; this module only re-exports them.

XOAUTH2 tokens are in its `oauth` module, the password and the login advice in `connection`.
"""

# Temporary: removed when the package is rewired (issue 9).

from ..adapters.mailboxes.imap.connection import login_failure_advice, password
from ..adapters.mailboxes.imap.oauth import (
    COMMAND_TIMEOUT_SECONDS,
    HTTP_TIMEOUT_SECONDS,
    REFRESH_MARGIN_SECONDS,
    OAuthToken,
    Poster,
    Runner,
    TokenError,
    TokenSource,
    apply_refresh,
    dump_token,
    http_post_form,
    needs_refresh,
    parse_token_text,
    refresh_request,
    write_atomically,
)

__all__ = [
    "COMMAND_TIMEOUT_SECONDS",
    "HTTP_TIMEOUT_SECONDS",
    "REFRESH_MARGIN_SECONDS",
    "OAuthToken",
    "Poster",
    "Runner",
    "TokenError",
    "TokenSource",
    "apply_refresh",
    "dump_token",
    "http_post_form",
    "login_failure_advice",
    "needs_refresh",
    "password",
    "parse_token_text",
    "refresh_request",
    "write_atomically",
]
