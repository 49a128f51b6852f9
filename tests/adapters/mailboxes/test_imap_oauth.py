"""XOAUTH2 token sources (mailbot.adapters.mailboxes.imap.oauth), without a server.

The XOAUTH2 login itself is tested against Dovecot in test_imap_mailbox.py.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from mailbot.adapters.mailboxes.imap.oauth import (
    OAuthToken,
    TokenError,
    TokenSource,
    apply_refresh,
    dump_token,
    needs_refresh,
    parse_token_text,
    refresh_request,
)
from mailbot.config import ConfigError, MailboxSettings


def test_token_parsing() -> None:
    bare = parse_token_text("  ya29.token\n")
    assert (bare.access_token, bare.bare, bare.expires_at) == ("ya29.token", True, None)
    assert dump_token(bare) == "ya29.token\n"
    google = parse_token_text(
        json.dumps(
            {
                "token": "t",
                "expiry": "2030-01-01T00:00:00Z",
                "refresh_token": "r",
                "token_uri": "https://oauth2.googleapis.com/token",
                "client_id": "c",
            }
        )
    )
    assert google.expires_at == datetime(2030, 1, 1, tzinfo=UTC).timestamp()
    assert google.refreshable
    assert parse_token_text('{"access_token": "t", "expires_at": 1700000000000}').expires_at == (
        1700000000.0
    )
    assert "t" not in repr(parse_token_text('{"access_token": "t"}').access_token[1:])
    assert "secret-value" not in repr(parse_token_text('{"access_token": "secret-value"}'))
    broken_texts = (
        "",
        "{",
        '[{"access_token": "t"}]',
        '{"expires_at": 5}',
        '{"access_token": "t", "expires_at": "x"}',
    )
    for broken in broken_texts:
        with pytest.raises(TokenError):
            parse_token_text(broken)


def test_refresh_logic() -> None:
    token = OAuthToken(
        access_token="old",
        expires_at=1000.0,
        refresh_token="r",
        token_uri="https://login.microsoftonline.com/common/oauth2/v2.0/token",
        client_id="c",
        document={"access_token": "old", "expires_at": 1000, "refresh_token": "r", "note": "keep"},
    )
    assert needs_refresh(token, now=600.0) is False
    assert needs_refresh(token, now=701.0) is True  # inside the 5-minute margin
    assert needs_refresh(replace(token, expires_at=None), now=10**10) is False
    assert needs_refresh(replace(token, access_token=""), now=0) is True

    url, body = refresh_request(token)
    assert url == token.token_uri
    assert parse_qs(body.decode()) == {
        "grant_type": ["refresh_token"],
        "refresh_token": ["r"],
        "client_id": ["c"],
    }
    with pytest.raises(TokenError, match="https"):
        refresh_request(replace(token, token_uri="http://example.org/token"))

    fresh = apply_refresh(token, {"access_token": "new", "expires_in": 3599}, now=2000.0)
    assert (fresh.access_token, fresh.expires_at, fresh.refresh_token) == ("new", 5599.0, "r")
    rotated = apply_refresh(token, {"access_token": "n", "refresh_token": "r2"}, now=0)
    assert (rotated.refresh_token, rotated.expires_at) == ("r2", None)
    saved = json.loads(dump_token(fresh))
    assert saved == {
        "access_token": "new",
        "expires_at": 5599,
        "refresh_token": "r",
        "note": "keep",
    }
    assert "expires_at" not in json.loads(dump_token(rotated))
    with pytest.raises(TokenError, match="Sign in again"):
        apply_refresh(token, {"error": "invalid_grant", "error_description": "expired"}, now=0)
    with pytest.raises(TokenError):
        apply_refresh(token, {"token_type": "Bearer"}, now=0)


def test_token_source_refreshes_only_when_needed(tmp_path: Path) -> None:
    path = tmp_path / "token.json"
    path.write_text(
        json.dumps(
            {
                "access_token": "a1",
                "expires_at": 10_000,
                "refresh_token": "r",
                "token_uri": "https://idp.example/token",
                "client_id": "c",
            }
        )
    )
    posts: list[str] = []

    def post(url: str, body: bytes) -> dict[str, Any]:
        posts.append(url)
        return {"access_token": f"a{len(posts) + 1}", "expires_in": 3600}

    clock = [5_000.0]
    settings = MailboxSettings(kind="imap", auth="xoauth2", oauth_token_file=path)
    source = TokenSource(settings, now=lambda: clock[0], post=post)
    assert source.access_token() == "a1" and posts == []
    clock[0] = 9_800.0  # within five minutes of expiry
    assert source.access_token() == "a2" and len(posts) == 1
    assert json.loads(path.read_text())["access_token"] == "a2"
    assert source.access_token(force_refresh=True) == "a3"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["token.json"]  # no temp files left

    bare = tmp_path / "bare"
    bare.write_text("only-a-token\n")
    plain = TokenSource(settings.model_copy(update={"oauth_token_file": bare}), post=post)
    assert plain.access_token() == "only-a-token"
    assert plain.can_refresh is False
    with pytest.raises(TokenError, match="refused or has expired"):
        plain.access_token(force_refresh=True)

    with pytest.raises(ConfigError):
        TokenSource(MailboxSettings(kind="imap", auth="xoauth2"))


def test_token_command_failures_are_explained(tmp_path: Path) -> None:
    settings = MailboxSettings(
        kind="imap",
        auth="xoauth2",
        oauth_token_command=f"{sys.executable} -c 'import sys; sys.exit(\"need to sign in\")'",
    )
    with pytest.raises(TokenError, match=r"status 1: need to sign in"):
        TokenSource(settings).access_token()
    missing = settings.model_copy(update={"oauth_token_command": "/nonexistent/token-helper --x"})
    with pytest.raises(TokenError, match="not found"):
        TokenSource(missing).access_token()
    # No shell: metacharacters are plain arguments.
    echo = settings.model_copy(
        update={
            "oauth_token_command": f"{sys.executable} -c 'import sys; print(sys.argv[1])' '$(id);x'"
        }
    )
    assert TokenSource(echo).access_token() == "$(id);x"
    json_out = settings.model_copy(
        update={
            "oauth_token_command": f'{sys.executable} -c \'print("{{\\"access_token\\": \\"j\\"}}")\''
        }
    )
    assert TokenSource(json_out).access_token() == "j"
