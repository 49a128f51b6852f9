"""TOML config -> frozen Settings, validated when it is loaded.

Each TOML section is a pydantic model (strict types, unknown keys refused, frozen). A config
that cannot work stops at load with one ConfigError naming the file, the section and key, the
value given and what is allowed, instead of failing later on every mail.

Every relative path is taken relative to the config file's folder, so a config works from any
working directory. Secrets are never read from the file itself: a section names an environment
variable (`*_env`) or a file (`*_file`) and `secret()` resolves it when an adapter connects.

The section models can also be built in code (tests, adapters): types and ranges are checked
there too, while the rules that look at the file system or tie settings together (a Maildir
folder that exists, "kind = csv needs path") are checked when a config is loaded.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tomllib
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from mailbot.core.errors import SetupError
from mailbot.core.model import Policy

DEFAULT_CONFIG_NAMES = ("mailbot.toml", "config.example.toml")
CONFIG_ENV = "MAILBOT_CONFIG"  # names the config file when --config is not given
DEMO_CONFIG_NAME = DEFAULT_CONFIG_NAMES[-1]


class ConfigError(SetupError):
    """A config that cannot work; the message says what to change."""


# -- what a setting accepts -----------------------------------------------------------------


class Expect:
    """Annotated metadata: how an error message describes what a setting accepts."""

    def __init__(self, text: str) -> None:
        self.text = text


class Note:
    """Annotated metadata: a remark added to the generated description, e.g. "0 = never"."""

    def __init__(self, text: str) -> None:
        self.text = text


def _refuse(kind: str) -> PydanticCustomError:
    # The message is never shown: errors are described from the field (see _expected).
    return PydanticCustomError(kind, "invalid value")


def _path(value: Any, info: ValidationInfo, *, optional: bool) -> Path | None:
    if value is None or (optional and value == ""):
        return None
    if isinstance(value, Path):
        path = value
    elif isinstance(value, str) and value:
        path = Path(value)
    else:
        raise _refuse("path_type")
    base = _context(info).get("base_dir")
    return (Path(base) / path).resolve() if base is not None else path


def _optional_path(value: Any, info: ValidationInfo) -> Path | None:
    return _path(value, info, optional=True)


def _required_path(value: Any, info: ValidationInfo) -> Path:
    path = _path(value, info, optional=False)
    assert path is not None
    return path


def _names(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date) and not isinstance(value, datetime):
        return value  # TOML's own date literal: since = 2024-01-31
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise _refuse("date_type")


# One bare address: "Name <a@b>" and lists are refused (the name goes in from_name).
_ADDRESS = re.compile(r"[^@\s<>\"(),;:]+@[^@\s<>\"(),;:]+")


def _address(value: str) -> str:
    if not _ADDRESS.fullmatch(value):
        raise _refuse("address")
    return value


def _optional_address(value: str) -> str:
    return _address(value) if value else value


def _link(value: str) -> str:
    if value and not re.fullmatch(r"https?://\S+", value):
        raise _refuse("link")
    return value


def _product_code(value: str) -> str:
    if not re.fullmatch(r"[A-Z0-9]{2,8}", value):
        raise _refuse("product_code")
    return value


OptionalPath = Annotated[
    Path | None, BeforeValidator(_optional_path), Expect('a path in quotes (or "" for none)')
]
RequiredPath = Annotated[Path, BeforeValidator(_required_path), Expect("a path in quotes")]
Names = Annotated[
    tuple[str, ...],
    BeforeValidator(_names),
    Expect('a list of strings, e.g. ["a", "b"] (or [] for none)'),
]
IsoDate = Annotated[
    date | None, BeforeValidator(_iso_date), Expect('a date "YYYY-MM-DD", e.g. "2024-01-31"')
]
Address = Annotated[
    str,
    AfterValidator(_address),
    Expect(
        'an email address in quotes, e.g. "support@example.com" '
        "(the display name goes in from_name)"
    ),
]
OptionalAddress = Annotated[
    str,
    AfterValidator(_optional_address),
    Expect('an email address in quotes, e.g. "team@example.com", or "" for none'),
]
Link = Annotated[
    str, AfterValidator(_link), Expect('a link starting with https:// (or "" for none)')
]
Port = Annotated[int, Field(ge=1, le=65535)]
Seconds = Annotated[int, Field(ge=1)]
EnvName = Annotated[str, Expect('the name of an environment variable in quotes (or "" for none)')]
NonEmpty = Annotated[str, Field(min_length=1)]
Folder = NonEmpty
Security = Literal["tls", "starttls", "none"]


def _context(info: ValidationInfo) -> dict[str, Any]:
    return info.context if isinstance(info.context, dict) else {}


def _rule(key: str, value: Any, problem: str) -> PydanticCustomError:
    """A rule between settings or about the file system, broken; the message names `key`.

    `problem` follows "[section] key = value": ": the file ... does not exist" or
    " needs path = ...".
    """
    return PydanticCustomError(
        "mailbot_rule", "{problem}", {"key": key, "value": value, "problem": problem}
    )


def _must_exist(path: Path, key: str, what: str, *, folder: bool = False) -> None:
    if (folder and path.is_dir()) or (not folder and path.is_file()):
        return
    if path.exists():
        problem = f": {path} is not a {'folder' if folder else 'file'}"
    else:
        problem = f": {what} {path} does not exist"
    raise _rule(key, str(path), problem)


class _Section(BaseModel):
    """One TOML section: exact types (TOML already gives real ones), no unknown keys."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


# -- the sections -----------------------------------------------------------------------------


class ProductSettings(_Section):
    name: NonEmpty = "Amphis Customer"
    code: Annotated[
        str,
        AfterValidator(_product_code),
        Expect('2-8 upper-case letters or digits in quotes, e.g. "AMC"'),
    ] = "AMC"
    edition: Annotated[int, Field(ge=0, le=255)] = 1
    license_days: Annotated[int, Field(ge=0, le=36500), Note("0 = perpetual")] = 0


class MailboxSettings(_Section):
    kind: Literal["maildir", "imap"] = "maildir"
    path: OptionalPath = None  # maildir
    host: str = "127.0.0.1"
    port: Port = 993
    username: str = ""
    password_env: EnvName = ""
    password_file: OptionalPath = None
    security: Security = "tls"
    auth: Literal["password", "xoauth2"] = "password"
    oauth_token_file: OptionalPath = None
    oauth_token_command: str = ""
    folder: Folder = "INBOX"
    processed_folder: Folder = "mailbot/processed"
    escalated_folder: Folder = "mailbot/escalated"
    ignored_folder: Folder = "mailbot/ignored"
    move: bool = True  # False: only flag/keyword processed mail
    sent_folder: str = ""  # APPEND a copy of each reply here when set
    idle: bool = True
    poll_seconds: Seconds = 60  # full sweep interval (and the poll interval without IDLE)
    timeout_seconds: Seconds = 30
    since: IsoDate = None  # mail older than this day is left alone

    @model_validator(mode="after")
    def check_at_load(self, info: ValidationInfo) -> MailboxSettings:
        if not _context(info).get("check"):
            return self
        if self.kind == "maildir":
            if self.path is None:
                raise _rule("kind", self.kind, ' needs path = "folder"')
            # Whether the folder exists is checked by `run` and `doctor`, which need it, not
            # at load: `mailbot serial new` on a fresh clone has no mailbox yet. Something
            # else in its place is wrong for every command.
            if self.path.exists():
                _must_exist(self.path, "path", "the Maildir folder", folder=True)
        elif self.auth == "password":
            if self.password_file is not None:
                _must_exist(self.password_file, "password_file", "the password file")
        elif not self.oauth_token_command:
            if self.oauth_token_file is None:
                raise _rule("auth", self.auth, " needs oauth_token_command or oauth_token_file")
            _must_exist(self.oauth_token_file, "oauth_token_file", "the token file")
        return self


class OutboxSettings(_Section):
    kind: Literal["directory", "smtp"] = "directory"
    path: OptionalPath = None  # directory
    from_address: Address = "support@example.com"
    from_name: str = ""
    staff_address: OptionalAddress = ""
    host: str = "127.0.0.1"
    port: Port = 587
    username: str = ""
    password_env: EnvName = ""
    password_file: OptionalPath = None
    security: Security = "starttls"
    timeout_seconds: Seconds = 30
    max_attempts: Annotated[int, Field(ge=1)] = 8  # temporary failures before giving up

    @model_validator(mode="after")
    def check_at_load(self, info: ValidationInfo) -> OutboxSettings:
        if not _context(info).get("check"):
            return self
        if self.kind == "directory" and self.path is None:
            raise _rule("kind", self.kind, ' needs path = "folder"')
        if self.kind == "smtp" and self.password_file is not None:
            _must_exist(self.password_file, "password_file", "the password file")
        return self


class OrdersSettings(_Section):
    kind: Literal["csv", "stripe"] = "csv"
    path: OptionalPath = None  # csv
    api_key_env: EnvName = "STRIPE_API_KEY"
    api_key_file: OptionalPath = None
    api_base: Link = ""  # tests only: a local Stripe-compatible server
    price_ids: Names = ()
    product_ids: Names = ()
    payment_link: Link = ""
    payment_expiry_days: Annotated[int, Field(ge=1)] = 14
    sync_minutes: Annotated[int, Field(ge=1)] = 5
    full_resync_hours: Annotated[int, Field(ge=0), Note("0 = never")] = 24
    webhook_secret_env: EnvName = ""

    @model_validator(mode="after")
    def check_at_load(self, info: ValidationInfo) -> OrdersSettings:
        if not _context(info).get("check"):
            return self
        if self.kind == "csv":
            if self.path is None:
                raise _rule("kind", self.kind, ' needs path = "file.csv"')
            _must_exist(self.path, "path", "the orders file")
        elif self.api_key_file is not None:
            _must_exist(self.api_key_file, "api_key_file", "the key file")
        return self


class SecuritySettings(_Section):
    authserv_id: str = ""
    require_dmarc_pass: bool = False


class PolicySettings(_Section):
    transfers_per_seat: Annotated[int, Field(ge=0)] = 2
    transfer_window_days: Annotated[int, Field(ge=1)] = 365
    max_replies_per_hour: Annotated[int, Field(ge=0)] = 10
    max_serials_per_mail: Annotated[int, Field(ge=1)] = 100
    max_message_bytes: Annotated[
        int, Field(ge=1024, le=1024**3), Note("bytes; 10485760 is 10 MiB")
    ] = 10 * 1024 * 1024
    acknowledge_escalations: bool = True


class StaffSettings(_Section):
    notify: Literal["immediate", "digest", "off"] = "immediate"
    digest_minutes: Annotated[int, Field(ge=1)] = 60


class SigningSettings(_Section):
    private_key: RequiredPath = Field(Path("data/keys/signing.pem"), validate_default=True)
    # A folder of *.pub that keep verifying after a rotation.
    public_keys: RequiredPath = Field(Path("data/keys/public"), validate_default=True)
    passphrase_env: EnvName = ""


class StoreSettings(_Section):
    path: RequiredPath = Field(Path("data/mailbot.db"), validate_default=True)


class TemplatesSettings(_Section):
    path: OptionalPath = None  # overrides of the shipped templates

    @model_validator(mode="after")
    def check_at_load(self, info: ValidationInfo) -> TemplatesSettings:
        if _context(info).get("check") and self.path is not None:
            _must_exist(self.path, "path", "the templates folder", folder=True)
        return self


SECTIONS: dict[str, type[_Section]] = {
    "product": ProductSettings,
    "mailbox": MailboxSettings,
    "outbox": OutboxSettings,
    "orders": OrdersSettings,
    "security": SecuritySettings,
    "policy": PolicySettings,
    "staff": StaffSettings,
    "signing": SigningSettings,
    "store": StoreSettings,
    "templates": TemplatesSettings,
}


class _ConfigFile(BaseModel):
    """The whole TOML document; every section present (from_dict fills in empty ones)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    product: ProductSettings
    mailbox: MailboxSettings
    outbox: OutboxSettings
    orders: OrdersSettings
    security: SecuritySettings
    policy: PolicySettings
    staff: StaffSettings
    signing: SigningSettings
    store: StoreSettings
    templates: TemplatesSettings


class Settings(BaseModel):
    """Everything mailbot needs, as loaded; paths are absolute when it came from a file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_dir: Path
    config_path: Path | None = None
    product: ProductSettings = Field(default_factory=ProductSettings)
    mailbox: MailboxSettings = Field(default_factory=MailboxSettings)
    outbox: OutboxSettings = Field(default_factory=OutboxSettings)
    orders: OrdersSettings = Field(default_factory=OrdersSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    policy: PolicySettings = Field(default_factory=PolicySettings)
    staff: StaffSettings = Field(default_factory=StaffSettings)
    signing: SigningSettings = Field(default_factory=SigningSettings)
    store_path: Path = Path("data/mailbot.db")
    templates_dir: Path | None = None  # overrides of the shipped templates
    # True when load(None) found neither MAILBOT_CONFIG nor ./mailbot.toml and took the demo's
    # config.example.toml; the CLI says so on stderr (the library never prints).
    is_demo_fallback: bool = False

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


# -- loading ----------------------------------------------------------------------------------


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
        parsed = _ConfigFile.model_validate(
            document, context={"base_dir": Path(base_dir), "check": True}
        )
    except ValidationError as exc:
        raise ConfigError(_describe(exc, document, shown)) from None
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
        signing=parsed.signing,
        store_path=parsed.store.path,
        templates_dir=parsed.templates.path,
        is_demo_fallback=demo,
    )


# -- error text ---------------------------------------------------------------------------------

_SECRET_INLINE = {"password", "api_key", "secret", "token", "webhook_secret", "passphrase"}


def _describe(exc: ValidationError, document: dict[str, Any], shown: str) -> str:
    """pydantic's errors as sentences, one a line: the first one stands alone."""
    lines: list[str] = []
    for error in exc.errors(include_url=False):
        line = f"{shown}: {_sentence(error, document)}"
        if line not in lines:
            lines.append(line)
    # An inline secret is the most urgent thing to fix: it comes first.
    lines.sort(key=lambda line: "secrets are not read" not in line)
    return "\n".join(lines)


def _sentence(error: Any, document: dict[str, Any]) -> str:
    loc = tuple(error["loc"])
    kind = error["type"]
    section = str(loc[0]) if loc else ""
    model = SECTIONS.get(section)
    if model is None:  # a key at the top of the file
        value = document.get(section)
        if isinstance(value, dict):
            return (
                f"there is no section [{section}]{_did_you_mean(section, SECTIONS)}; "
                f"the sections are {', '.join(f'[{s}]' for s in SECTIONS)}"
            )
        return (
            f"{section} = {_show(value)} is not in a section; settings go under a "
            f"[section] heading such as [{next(iter(SECTIONS))}]"
        )
    raw = document.get(section)
    if len(loc) == 1:
        if kind == "mailbot_rule":
            ctx = error["ctx"]
            key = ctx["key"]
            given = raw.get(key, ctx["value"]) if isinstance(raw, dict) else ctx["value"]
            return f"[{section}] {key} = {_show(given)}{ctx['problem']}"
        return f"{section} = {_show(raw)}: expected a table of settings, [{section}]"
    key = str(loc[1])
    if kind == "extra_forbidden":
        if key in _SECRET_INLINE:
            return _inline_secret(section, key, model)
        known = ", ".join(model.model_fields)
        return (
            f"[{section}] has no setting {_show(key)}{_did_you_mean(key, model.model_fields)}; "
            f"its settings are: {known}"
        )
    given = raw.get(key, error.get("input")) if isinstance(raw, dict) else error.get("input")
    field = model.model_fields.get(key)
    allowed = _expected(field) if field is not None else error["msg"]
    return f"[{section}] {key} = {_show(given)}: expected {allowed}"


def _inline_secret(section: str, key: str, model: type[_Section]) -> str:
    names = [n for n in model.model_fields if n.endswith(("_env", "_file"))]
    mine = [n for n in names if n.startswith(key) or key in n]
    names = mine or names
    if names:
        where = " or ".join(names)
        hint = f" Name an environment variable or a file holding it instead: {where}."
    else:
        hint = (
            f" Put it in an environment variable and set {key}_env, or in a file and set "
            f"{key}_file."
        )
    return f"[{section}] {key}: secrets are not read from the config file.{hint}"


def _did_you_mean(word: str, known: Any) -> str:
    close = difflib.get_close_matches(word, list(known), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _expected(field: FieldInfo) -> str:
    """What a setting accepts, in words, from its annotation and constraints."""
    notes = [m.text for m in field.metadata if isinstance(m, Note)]
    for m in field.metadata:
        if isinstance(m, Expect):
            return m.text
    annotation = field.annotation
    if get_origin(annotation) in (Union, type(int | None)):
        annotation = next(a for a in get_args(annotation) if a is not type(None))
    if get_origin(annotation) is Literal:
        return "one of " + ", ".join(_show(a) for a in get_args(annotation))
    if annotation is bool:
        return "true or false"
    if annotation is str:
        if any(getattr(m, "min_length", 0) for m in field.metadata):
            return "a non-empty string in quotes"
        return 'a string in quotes (or "" for none)'
    if annotation in (int, float):
        # Field(ge=..., le=...) is kept as annotated_types.Ge / Le objects in the metadata.
        low = next((m.ge for m in field.metadata if hasattr(m, "ge")), None)
        high = next((m.le for m in field.metadata if hasattr(m, "le")), None)
        what = "a whole number" if annotation is int else "a number"
        if low is not None and high is not None:
            text = f"{what} from {low} to {high}"
        elif low is not None:
            notes.insert(0, f"{low} or more")
            text = what
        elif high is not None:
            notes.insert(0, f"{high} or less")
            text = what
        else:
            text = what
        return f"{text} ({'; '.join(notes)})" if notes else text
    return "a valid value"


def _show(value: Any, limit: int = 60) -> str:
    """A value as it would be written in TOML, shortened."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, int | float):
        text = repr(value)
    elif isinstance(value, date | datetime):
        text = value.isoformat()
    elif isinstance(value, list | tuple):
        text = "[" + ", ".join(_show(v, limit) for v in value) + "]"
    elif isinstance(value, dict):
        text = "{" + ", ".join(f"{k} = {_show(v, limit)}" for k, v in value.items()) + "}"
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
