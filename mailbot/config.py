"""TOML config -> frozen Settings.

Every relative path is taken relative to the config file's folder, so a config works from any
working directory. Secrets are never read from the file itself: a section names an environment
variable (`*_env`) or a file (`*_file`) and `secret()` resolves it when an adapter connects.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from .model import Policy

DEFAULT_CONFIG_NAMES = ("mailbot.toml", "config.example.toml")


class ConfigError(Exception):
    """A config that cannot work; the message says what to change."""


@dataclass(frozen=True)
class ProductSettings:
    name: str = "Amphis Customer"
    code: str = "AMC"
    edition: int = 1
    license_days: int = 0  # 0 = perpetual


@dataclass(frozen=True)
class MailboxSettings:
    kind: str = "maildir"
    path: Path | None = None  # maildir
    host: str = "127.0.0.1"
    port: int = 993
    username: str = ""
    password_env: str = ""
    password_file: Path | None = None
    security: str = "tls"  # "tls" | "starttls" | "none"
    auth: str = "password"  # "password" | "xoauth2"
    oauth_token_file: Path | None = None
    oauth_token_command: str = ""
    folder: str = "INBOX"
    processed_folder: str = "mailbot/processed"
    escalated_folder: str = "mailbot/escalated"
    ignored_folder: str = "mailbot/ignored"
    move: bool = True  # False: only flag/keyword processed mail
    sent_folder: str = ""  # APPEND a copy of each reply here when set
    idle: bool = True
    poll_seconds: int = 60  # full sweep interval (and the poll interval without IDLE)
    timeout_seconds: int = 30
    since: date | None = None  # mail received before this day is left alone


@dataclass(frozen=True)
class OutboxSettings:
    kind: str = "directory"
    path: Path | None = None  # directory
    from_address: str = "support@example.com"
    from_name: str = ""
    staff_address: str = ""
    host: str = "127.0.0.1"
    port: int = 587
    username: str = ""
    password_env: str = ""
    password_file: Path | None = None
    security: str = "starttls"
    timeout_seconds: int = 30
    max_attempts: int = 8  # temporary failures before the row is given up and escalated


@dataclass(frozen=True)
class OrdersSettings:
    kind: str = "csv"
    path: Path | None = None  # csv
    api_key_env: str = "STRIPE_API_KEY"
    api_key_file: Path | None = None
    api_base: str = ""  # tests only: a local Stripe-compatible server
    price_ids: tuple[str, ...] = ()
    product_ids: tuple[str, ...] = ()
    payment_link: str = ""
    payment_expiry_days: int = 14
    sync_minutes: int = 5
    full_resync_hours: int = 24
    webhook_secret_env: str = ""


@dataclass(frozen=True)
class SecuritySettings:
    authserv_id: str = ""
    require_dmarc_pass: bool = False


@dataclass(frozen=True)
class PolicySettings:
    transfers_per_seat: int = 2
    transfer_window_days: int = 365
    max_replies_per_hour: int = 10
    max_serials_per_mail: int = 100
    max_message_bytes: int = 10 * 1024 * 1024
    acknowledge_escalations: bool = True


@dataclass(frozen=True)
class StaffSettings:
    notify: str = "immediate"  # "immediate" | "digest" | "off"
    digest_minutes: int = 60


@dataclass(frozen=True)
class SigningSettings:
    private_key: Path = Path("data/keys/signing.pem")
    public_keys: Path = Path("data/keys/public")  # folder of *.pub that keep verifying
    passphrase_env: str = ""


@dataclass(frozen=True)
class Settings:
    base_dir: Path
    config_path: Path | None = None
    product: ProductSettings = field(default_factory=ProductSettings)
    mailbox: MailboxSettings = field(default_factory=MailboxSettings)
    outbox: OutboxSettings = field(default_factory=OutboxSettings)
    orders: OrdersSettings = field(default_factory=OrdersSettings)
    security: SecuritySettings = field(default_factory=SecuritySettings)
    policy: PolicySettings = field(default_factory=PolicySettings)
    staff: StaffSettings = field(default_factory=StaffSettings)
    signing: SigningSettings = field(default_factory=SigningSettings)
    store_path: Path = Path("data/mailbot.db")
    templates_dir: Path | None = None  # overrides of the shipped templates

    def decision_policy(self) -> Policy:
        ours = {self.outbox.from_address.lower()}
        if self.outbox.staff_address:
            ours.add(self.outbox.staff_address.lower())
        if self.mailbox.username and "@" in self.mailbox.username:
            ours.add(self.mailbox.username.lower())
        return Policy(
            product_code=self.product.code,
            our_addresses=frozenset(ours),
            payment_link=self.orders.payment_link,
            transfers_per_seat=self.policy.transfers_per_seat,
            transfer_window_days=self.policy.transfer_window_days,
            max_replies_per_hour=self.policy.max_replies_per_hour,
            max_serials_per_mail=self.policy.max_serials_per_mail,
            require_dmarc_pass=self.security.require_dmarc_pass,
            authserv_id=self.security.authserv_id,
            acknowledge_escalations=self.policy.acknowledge_escalations,
        )


_PATH_FIELDS = {
    "path",
    "password_file",
    "oauth_token_file",
    "api_key_file",
    "private_key",
    "public_keys",
}
_SECRET_INLINE = {"password", "api_key", "secret", "token", "webhook_secret", "passphrase"}


def _section(cls: type, raw: dict[str, Any], base: Path, name: str) -> Any:
    known = {f for f in cls.__dataclass_fields__}
    for key in raw:
        if key in _SECRET_INLINE:
            raise ConfigError(
                f"[{name}] {key}: secrets are not read from the config file. "
                f"Put it in an environment variable and set {key}_env, or in a file and set "
                f"{key}_file."
            )
        if key not in known:
            raise ConfigError(f"[{name}] has no setting {key!r}; known: {', '.join(sorted(known))}")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key in _PATH_FIELDS and value not in (None, ""):
            value = (base / str(value)).resolve()
        elif key in _PATH_FIELDS:
            value = None
        elif isinstance(value, list):
            value = tuple(value)
        values[key] = value
    try:
        return cls(**values)
    except TypeError as exc:  # pragma: no cover - guarded by the key check above
        raise ConfigError(f"[{name}]: {exc}") from exc


def load(path: Path | str | None = None) -> Settings:
    """Read a config file; with no path, ./mailbot.toml then ./config.example.toml."""
    if path is None:
        for name in DEFAULT_CONFIG_NAMES:
            if Path(name).exists():
                path = Path(name)
                break
        else:
            raise ConfigError(
                "no config found: pass --config PATH, or create mailbot.toml "
                "(copy config.example.toml and edit it)"
            )
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    return from_dict(data, path.resolve().parent, config_path=path.resolve())


def from_dict(data: dict[str, Any], base_dir: Path, config_path: Path | None = None) -> Settings:
    sections = {
        "product": ProductSettings,
        "mailbox": MailboxSettings,
        "outbox": OutboxSettings,
        "orders": OrdersSettings,
        "security": SecuritySettings,
        "policy": PolicySettings,
        "staff": StaffSettings,
        "signing": SigningSettings,
    }
    unknown = set(data) - set(sections) - {"store", "templates"}
    if unknown:
        raise ConfigError(f"unknown config section(s): {', '.join(sorted(unknown))}")
    # The key paths' defaults are relative like any configured path: resolve them against the
    # config folder even when [signing] sets only some of its keys.
    defaults: dict[str, dict[str, Any]] = {
        "signing": {"private_key": "data/keys/signing.pem", "public_keys": "data/keys/public"},
    }
    kwargs: dict[str, Any] = {}
    for name, cls in sections.items():
        raw = {**defaults.get(name, {}), **dict(data.get(name, {}))}
        kwargs[name] = _section(cls, raw, base_dir, name)
    store = data.get("store", {})
    store_path = base_dir / store.get("path", "data/mailbot.db")
    templates = data.get("templates", {})
    templates_dir = base_dir / templates["path"] if templates.get("path") else None
    settings = Settings(
        base_dir=base_dir,
        config_path=config_path,
        store_path=store_path.resolve(),
        templates_dir=templates_dir,
        **kwargs,
    )
    _validate(settings)
    return settings


def _validate(s: Settings) -> None:
    if s.mailbox.kind not in ("maildir", "imap"):
        raise ConfigError('[mailbox] kind must be "maildir" or "imap"')
    if s.mailbox.kind == "maildir" and s.mailbox.path is None:
        raise ConfigError("[mailbox] kind = \"maildir\" needs path = \"folder\"")
    if s.outbox.kind not in ("directory", "smtp"):
        raise ConfigError('[outbox] kind must be "directory" or "smtp"')
    if s.outbox.kind == "directory" and s.outbox.path is None:
        raise ConfigError("[outbox] kind = \"directory\" needs path = \"folder\"")
    if s.orders.kind not in ("csv", "stripe"):
        raise ConfigError('[orders] kind must be "csv" or "stripe"')
    if s.orders.kind == "csv" and s.orders.path is None:
        raise ConfigError("[orders] kind = \"csv\" needs path = \"file.csv\"")
    for section in (s.mailbox, s.outbox):
        if section.security not in ("tls", "starttls", "none"):
            raise ConfigError('security must be "tls", "starttls" or "none"')
    if "@" not in s.outbox.from_address:
        raise ConfigError("[outbox] from_address must be an email address")
    code = s.product.code
    if not (code.isascii() and code.isalnum() and code.upper() == code and 2 <= len(code) <= 8):
        raise ConfigError("[product] code must be 2-8 upper-case letters or digits, e.g. \"AMC\"")


def secret(env_name: str, file_path: Path | None, what: str) -> str:
    """Resolve a secret from an environment variable or a file; say what to do when missing."""
    if env_name:
        value = os.environ.get(env_name)
        if value:
            return value.strip()
    if file_path is not None:
        try:
            return file_path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{what}: cannot read {file_path}: {exc.strerror}") from None
    where = f"environment variable {env_name}" if env_name else "no *_env or *_file setting"
    raise ConfigError(f"{what} is not set ({where}); set it before starting mailbot")
