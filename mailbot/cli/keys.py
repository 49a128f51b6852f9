"""`mailbot keys`: the Ed25519 signing key."""

from __future__ import annotations

import os

import click

from mailbot.cli import output
from mailbot.cli.root import Failure, config_option, load_settings


@click.group()
def keys() -> None:
    """The Ed25519 signing key.

    \b
    Example:
      mailbot keys init
    """


@keys.command("init")
@config_option
def keys_init() -> None:
    """Create the signing key if absent (mode 0600) and print the public key.

    \b
    Example:
      mailbot keys init --config mailbot.toml
    """
    from mailbot.adapters.signing import KeyFileError, fingerprint, init_key, public_key_text

    s = load_settings().signing
    try:
        created, public = init_key(s.private_key, s.public_keys, _passphrase(s.passphrase_env))
    except KeyFileError as exc:
        raise Failure(str(exc)) from None
    output.line(f"signing key {s.private_key}: {'created' if created else 'already exists'}")
    output.line(fingerprint(public))
    output.line(f"public key (embed in the desktop app): {public_key_text(public)}", wrap=False)


@keys.command("rotate")
@config_option
def keys_rotate() -> None:
    """Sign new licenses with a new key; licenses signed before keep verifying.

    \b
    Example:
      mailbot keys rotate
    """
    from mailbot.adapters.signing import KeyFileError, fingerprint, public_key_text, rotate_key

    s = load_settings().signing
    try:
        public = rotate_key(s.private_key, s.public_keys, _passphrase(s.passphrase_env))
    except KeyFileError as exc:
        raise Failure(str(exc)) from None
    output.line(f"new signing key: {fingerprint(public)}")
    output.line(f"public key (add to the desktop app): {public_key_text(public)}", wrap=False)


def _passphrase(env_name: str) -> bytes | None:
    if not env_name:
        return None
    value = os.environ.get(env_name)
    if not value:
        raise Failure(f"[signing] passphrase_env names {env_name}, which is not set")
    return value.encode()
