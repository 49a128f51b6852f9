"""XOAUTH2 access tokens for the IMAP login (Gmail, Microsoft 365): where they come from, and
how an expiring one is refreshed.

A token comes from one of:

- `oauth_token_command`: a program that prints a current token (for example
  `oama access me@example.com` or `gcloud auth print-access-token`); it keeps its own refresh
  logic. Split with shlex, run without a shell. Its output is either the bare token or JSON
  with `access_token`.
- `oauth_token_file`: JSON `{"access_token", "expires_at", "refresh_token", "token_uri",
  "client_id", "client_secret"}` (google-auth's `token`/`expiry` spellings are read too), or a
  bare token. When the token is about to expire and the file holds what a refresh needs, it is
  refreshed at `token_uri` and the file rewritten atomically (same keys, new values).

Everything that can be pure is: parsing, the expiry test, the refresh request and applying its
answer are plain functions over values; `TokenSource` only adds the file, the clock, the
subprocess and the HTTP POST, each injectable. Passwords are read in `connection.py`.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mailbot.config import ConfigError, MailboxSettings

# Refresh this long before the provider's expiry, so a token never dies during a long IDLE login.
REFRESH_MARGIN_SECONDS = 300
COMMAND_TIMEOUT_SECONDS = 60
HTTP_TIMEOUT_SECONDS = 30


class TokenError(Exception):
    """No usable access token; the message says what to do."""


@dataclass(frozen=True)
class OAuthToken:
    """An access token and what is needed to refresh it, as read from a token file."""

    access_token: str
    expires_at: float | None = None  # epoch seconds; None = unknown (use until refused)
    refresh_token: str = ""
    token_uri: str = ""
    client_id: str = ""
    client_secret: str = ""
    bare: bool = False  # the file held only the token: written back the same way
    # The file's JSON as read, so a rewrite keeps keys we do not know about.
    document: Mapping[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:  # never let a token reach a log through repr()
        return f"OAuthToken(expires_at={self.expires_at!r}, refreshable={self.refreshable})"

    @property
    def refreshable(self) -> bool:
        """Whether the file holds what an OAuth refresh needs (refresh token, URI, client)."""
        return bool(self.refresh_token and self.token_uri and self.client_id)


def _expiry(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise TokenError("expires_at must be a number of seconds or an ISO 8601 time")
    if isinstance(value, (int, float)):
        seconds = float(value)
        return seconds / 1000 if seconds > 1e11 else seconds  # some tools write milliseconds
    if isinstance(value, str):
        text = value.strip()
        try:
            return _expiry(float(text))
        except ValueError:
            pass
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise TokenError(
                f"expires_at {value!r} is neither epoch seconds nor ISO 8601"
            ) from None
        if parsed.tzinfo is None:  # google-auth writes naive UTC
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    raise TokenError("expires_at must be a number of seconds or an ISO 8601 time")


def parse_token_text(text: str) -> OAuthToken:
    """Parse a token file's text (or a token command's output)."""
    stripped = text.strip()
    if not stripped:
        raise TokenError("the token is empty")
    if not stripped.startswith(("{", "[")):
        return OAuthToken(access_token=stripped.splitlines()[0].strip(), bare=True)
    try:
        doc = json.loads(stripped)
    except json.JSONDecodeError as exc:
        raise TokenError(f"the token JSON is not valid ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(doc, dict):
        raise TokenError("the token JSON must be an object")
    access = doc.get("access_token", doc.get("token")) or ""
    if not isinstance(access, str):
        raise TokenError("access_token must be a string")
    expires = _expiry(doc.get("expires_at", doc.get("expiry")))
    token = OAuthToken(
        access_token=access,
        expires_at=expires,
        refresh_token=str(doc.get("refresh_token") or ""),
        token_uri=str(doc.get("token_uri") or doc.get("token_endpoint") or ""),
        client_id=str(doc.get("client_id") or ""),
        client_secret=str(doc.get("client_secret") or ""),
        document=doc,
    )
    if not token.access_token and not token.refreshable:
        raise TokenError(
            "the token JSON has no access_token, and no refresh_token + token_uri + client_id "
            "to get one"
        )
    return token


def needs_refresh(token: OAuthToken, now: float, margin: float = REFRESH_MARGIN_SECONDS) -> bool:
    """Whether to refresh before use: no access token, or its expiry is within the margin."""
    if not token.access_token:
        return True
    return token.expires_at is not None and now >= token.expires_at - margin


def refresh_request(token: OAuthToken) -> tuple[str, bytes]:
    """The OAuth 2.0 refresh (RFC 6749 section 6): URL and form body."""
    if not token.refreshable:
        raise TokenError(
            "the token cannot be refreshed: it needs refresh_token, token_uri and client_id"
        )
    parsed = urllib.parse.urlsplit(token.token_uri)
    loopback = parsed.hostname in ("127.0.0.1", "localhost", "::1")
    if parsed.scheme != "https" and not (parsed.scheme == "http" and loopback):
        raise TokenError(f"token_uri must be an https URL, not {token.token_uri!r}")
    form = {
        "grant_type": "refresh_token",
        "refresh_token": token.refresh_token,
        "client_id": token.client_id,
    }
    if token.client_secret:
        form["client_secret"] = token.client_secret
    return token.token_uri, urllib.parse.urlencode(form).encode("ascii")


def apply_refresh(token: OAuthToken, response: Mapping[str, Any], now: float) -> OAuthToken:
    """The token after a refresh answer; providers may rotate the refresh token (Microsoft)."""
    if "error" in response:
        error = str(response.get("error"))
        described = str(response.get("error_description") or "").splitlines()[0:1]
        detail = f"{error}: {described[0]}" if described else error
        if error in ("invalid_grant", "unauthorized_client", "invalid_client"):
            raise TokenError(
                f"the provider refused the refresh token ({detail}). Sign in again to get a "
                f"new refresh token and write it to the token file."
            )
        raise TokenError(f"the token refresh failed ({detail}); mailbot will try again")
    access = response.get("access_token")
    if not isinstance(access, str) or not access:
        raise TokenError("the token refresh answer has no access_token")
    expires_in = response.get("expires_in")
    expires_at: float | None
    try:
        expires_at = now + float(expires_in) if expires_in is not None else None
    except (TypeError, ValueError):
        expires_at = None
    return replace(
        token,
        access_token=access,
        expires_at=expires_at,
        refresh_token=str(response.get("refresh_token") or token.refresh_token),
    )


def dump_token(token: OAuthToken) -> str:
    """The file text for a token, keeping the spelling and the unknown keys of the original."""
    if token.bare:
        return token.access_token + "\n"
    doc = dict(token.document)
    doc["token" if "token" in doc and "access_token" not in doc else "access_token"] = (
        token.access_token
    )
    expiry_key = "expiry" if "expiry" in doc and "expires_at" not in doc else "expires_at"
    if token.expires_at is None:
        doc.pop(expiry_key, None)  # an old expiry would be wrong for the new token
    elif expiry_key == "expiry":
        when = datetime.fromtimestamp(token.expires_at, UTC)
        doc["expiry"] = when.isoformat().replace("+00:00", "Z")
    else:
        doc["expires_at"] = math.floor(token.expires_at)
    if token.refresh_token:
        doc["refresh_token"] = token.refresh_token
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def write_atomically(path: Path, text: str) -> None:
    """Replace path with text so a reader sees the old file or the new one, never half."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def http_post_form(url: str, body: bytes, timeout: float = HTTP_TIMEOUT_SECONDS) -> dict[str, Any]:
    """POST a form and return the JSON answer; OAuth errors come back as JSON with 400."""
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            payload = answer.read()
    except urllib.error.HTTPError as exc:
        payload = exc.read()
        exc.close()
        if not payload:
            raise TokenError(f"the token endpoint answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TokenError(f"cannot reach the token endpoint {url}: {reason}") from None
    try:
        doc = json.loads(payload)
    except json.JSONDecodeError:
        raise TokenError("the token endpoint did not answer JSON") from None
    if not isinstance(doc, dict):
        raise TokenError("the token endpoint did not answer a JSON object")
    return doc


# The seams TokenSource takes, so tests need neither a token program nor a token endpoint:
Runner = Callable[[list[str]], subprocess.CompletedProcess[str]]  # runs the token command
Poster = Callable[[str, bytes], Mapping[str, Any]]  # POSTs a form, returns the JSON answer


def _run_command(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_SECONDS, check=False
    )


class TokenSource:
    """Hands out a current XOAUTH2 access token for one mailbox's settings."""

    def __init__(
        self,
        settings: MailboxSettings,
        *,
        now: Callable[[], float] = time.time,
        run: Runner = _run_command,
        post: Poster = http_post_form,
    ) -> None:
        if not settings.oauth_token_command and settings.oauth_token_file is None:
            raise ConfigError(
                '[mailbox] auth = "xoauth2" needs oauth_token_command or oauth_token_file'
            )
        self._settings = settings
        self._now = now
        self._run = run
        self._post = post

    @property
    def can_refresh(self) -> bool:
        """Whether a refused token is worth a second try with a fresh one."""
        if self._settings.oauth_token_command:
            return True  # the command may hand out a newer token when asked again
        try:
            return self._read_file().refreshable
        except TokenError:
            return False

    def access_token(self, *, force_refresh: bool = False) -> str:
        """A current access token; `force_refresh` after the server refused the last one."""
        if self._settings.oauth_token_command:
            return self._from_command()
        return self._from_file(force_refresh)

    def _from_command(self) -> str:
        command = self._settings.oauth_token_command
        try:
            argv = shlex.split(command)
        except ValueError as exc:
            raise TokenError(f"oauth_token_command cannot be split: {exc}") from None
        if not argv:
            raise TokenError("oauth_token_command is empty")
        try:
            done = self._run(argv)
        except FileNotFoundError:
            raise TokenError(f"oauth_token_command: program {argv[0]!r} not found") from None
        except subprocess.TimeoutExpired:
            raise TokenError(
                f"oauth_token_command did not finish within {COMMAND_TIMEOUT_SECONDS} s"
            ) from None
        if done.returncode != 0:
            first = (done.stderr or "").strip().splitlines()[:1]
            said = f": {first[0][:200]}" if first else ""
            raise TokenError(
                f"oauth_token_command exited with status {done.returncode}{said}. Run it by "
                f"hand to see why; you may have to sign in again."
            )
        token = parse_token_text(done.stdout or "")
        if not token.access_token:
            raise TokenError("oauth_token_command printed no access token")
        return token.access_token

    def _read_file(self) -> OAuthToken:
        path = self._settings.oauth_token_file
        assert path is not None
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise TokenError(f"cannot read oauth_token_file {path}: {exc.strerror}") from None
        try:
            return parse_token_text(text)
        except TokenError as exc:
            raise TokenError(f"oauth_token_file {path}: {exc}") from None

    def _from_file(self, force_refresh: bool) -> str:
        token = self._read_file()
        now = self._now()
        if not (force_refresh or needs_refresh(token, now)):
            return token.access_token
        if not token.refreshable:
            if token.access_token and not force_refresh:
                return token.access_token  # expired by its own word; let the server decide
            raise TokenError(
                f"the access token in {self._settings.oauth_token_file} was refused or has "
                f"expired, and the file has no refresh_token/token_uri/client_id to renew it. "
                f"Write a current token to the file, or add those fields."
            )
        url, body = refresh_request(token)
        fresh = apply_refresh(token, self._post(url, body), now)
        path = self._settings.oauth_token_file
        assert path is not None
        write_atomically(path, dump_token(fresh))
        return fresh.access_token
