"""The reply secret: made once, 0600, beside the signing key; refused when others can read it or
it is not ours; the App turns its faults into one sentence."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from mailbot.adapters.private_files import (
    REPLY_SECRET_NAME,
    PrivateFileError,
    load_reply_secret,
    reply_secret_path,
)
from mailbot.adapters.signing import rotate_key
from mailbot.config import ConfigError
from tests.apps import make_app


def test_made_on_first_use_private_and_then_the_same(tmp_path: Path) -> None:
    path = tmp_path / "keys" / REPLY_SECRET_NAME
    secret = load_reply_secret(path)
    assert len(secret) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load_reply_secret(path) == secret
    assert [p.name for p in path.parent.iterdir()] == [REPLY_SECRET_NAME]  # no temp left
    assert load_reply_secret(tmp_path / "other" / REPLY_SECRET_NAME) != secret


def test_refused_when_others_may_read_it_or_it_is_not_a_secret(tmp_path: Path) -> None:
    path = tmp_path / REPLY_SECRET_NAME
    load_reply_secret(path)
    os.chmod(path, 0o644)
    with pytest.raises(PrivateFileError, match="chmod 600"):
        load_reply_secret(path)
    os.chmod(path, 0o600)
    path.write_text("not hex at all\n")
    with pytest.raises(PrivateFileError, match="delete it"):
        load_reply_secret(path)


def test_the_app_keeps_it_beside_the_signing_key(tmp_path: Path) -> None:
    app = make_app(tmp_path / "site")
    secret = app.reply_secret
    assert reply_secret_path(app.settings.signing.private_key).exists()
    assert app.settings.signing.private_key.with_name(REPLY_SECRET_NAME).exists()
    # Its own file: rotating the signing key leaves every reply address valid.
    signing = app.settings.signing
    rotate_key(signing.private_key, signing.public_keys, None)
    assert make_app(tmp_path / "site").reply_secret == secret


def test_a_bad_secret_file_is_one_sentence(tmp_path: Path) -> None:
    app = make_app(tmp_path / "site")
    path = reply_secret_path(app.settings.signing.private_key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("00")
    os.chmod(path, 0o600)
    with pytest.raises(ConfigError, match="too short"):
        _ = app.reply_secret
