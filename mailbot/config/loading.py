"""Which config file, reading it, and resolving secrets.

`find_config` picks the file (MAILBOT_CONFIG, ./mailbot.toml, then the demo's
./config.example.toml); `load` reads the TOML and checks it whole, taking relative paths from the
file's folder; `from_dict` does the same for data built in code. `secret` reads a password or key
from the environment variable or file a setting names, when an adapter connects.
"""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mailbot.config.errors import ConfigError, describe
from mailbot.config.sections import SECTIONS, ConfigFile, Settings

DEFAULT_CONFIG_NAMES = ("mailbot.toml", "config.example.toml")
CONFIG_ENV = "MAILBOT_CONFIG"  # names the config file when --config is not given
DEMO_CONFIG_NAME = DEFAULT_CONFIG_NAMES[-1]


def find_config() -> tuple[Path, bool]:
    """The config file load(None) reads, and whether it is the demo fallback.

    MAILBOT_CONFIG, then ./mailbot.toml, then ./config.example.toml (the demo's).
    """
    named = os.environ.get(CONFIG_ENV, "")
    if named:
        path = Path(named)
        if not path.is_file():
            what = "is not a file" if path.exists() else "does not exist"
            raise ConfigError(
                f"the environment variable {CONFIG_ENV} names {named}, which "
                f"{what}; fix the variable or unset it"
            )
        return path, False
    for name in DEFAULT_CONFIG_NAMES:
        if Path(name).is_file():
            return Path(name), name == DEMO_CONFIG_NAME
    raise ConfigError(
        f"no config found: pass --config PATH, set {CONFIG_ENV}, or create mailbot.toml "
        f"(copy config.example.toml and edit it)"
    )


def load(path: Path | str | None = None) -> Settings:
    """Read and check a config file; with no path see find_config()."""
    demo = False
    if path is None:
        path, demo = find_config()
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path} is a folder, not a file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    resolved = path.resolve()
    return _settings(data, resolved.parent, resolved, shown=str(path), demo=demo)


def from_dict(data: dict[str, Any], base_dir: Path, config_path: Path | None = None) -> Settings:
    """Check config data as read from TOML; relative paths are taken from base_dir."""
    shown = str(config_path) if config_path is not None else "config"
    return _settings(data, base_dir, config_path, shown=shown, demo=False)


def _settings(
    data: dict[str, Any], base_dir: Path, config_path: Path | None, *, shown: str, demo: bool
) -> Settings:
    document = {name: {} for name in SECTIONS} | dict(data)
    try:
        parsed = ConfigFile.model_validate(
            document, context={"base_dir": Path(base_dir), "check": True}
        )
    except ValidationError as exc:
        raise ConfigError(describe(exc, document, shown)) from None
    return Settings(
        base_dir=base_dir,
        config_path=config_path,
        product=parsed.product,
        mailbox=parsed.mailbox,
        outbox=parsed.outbox,
        orders=parsed.orders,
        security=parsed.security,
        policy=parsed.policy,
        staff=parsed.staff,
        web=parsed.web,
        signing=parsed.signing,
        webhooks=parsed.webhooks,
        store_path=parsed.store.path,
        store_group=parsed.store.group,
        templates_dir=parsed.templates.path,
        is_demo_fallback=demo,
    )


def secret(env_name: str, file_path: Path | None, what: str) -> str:
    """Resolve a secret from an environment variable or a file; say what to do when missing."""
    if env_name:
        value = os.environ.get(env_name)
        if value:
            return value.strip()
    if file_path is not None:
        try:
            mode = stat.S_IMODE(file_path.stat().st_mode)
            if mode & 0o007:
                # As the signing key: a secret any user of the machine can read is no secret.
                # (Group access stays possible: root:mailbot 0640 is a common deployment.)
                raise ConfigError(
                    f"{what}: {file_path} is readable by other users (mode {mode:04o}); run "
                    f"`chmod o-rwx {file_path}` (0600 or 0640)"
                )
            return file_path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{what}: cannot read {file_path}: {exc.strerror}") from None
    where = f"environment variable {env_name}" if env_name else "no *_env or *_file setting"
    raise ConfigError(f"{what} is not set ({where}); set it before starting mailbot")
