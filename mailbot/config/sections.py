"""The config's sections, one pydantic model each, and `Settings`, everything mailbot needs.

Strict types, unknown keys refused, frozen. The models can be built in code (tests, adapters):
types and ranges are checked there too, while the rules that look at the file system or tie
settings together (a Maildir folder that exists, "kind = csv needs path") run only when a config
is loaded (the validation context's "check"; see `loading.py`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from mailbot.config.fields import (
    Address,
    EnvName,
    Folder,
    IsoDate,
    Link,
    Names,
    NonEmpty,
    Note,
    OptionalAddress,
    OptionalPath,
    Port,
    ProductCode,
    RequiredPath,
    Seconds,
    Section,
    Security,
    context_of,
    must_exist,
    rule,
)
from mailbot.config.webhooks import WebhooksSettings
from mailbot.core.model import Policy

# -- the sections -----------------------------------------------------------------------------


class ProductSettings(Section):
    name: NonEmpty = "Amphis Customer"
    code: ProductCode = "AMC"
    edition: Annotated[int, Field(ge=0, le=255)] = 1
    license_days: Annotated[int, Field(ge=0, le=36500), Note("0 = perpetual")] = 0
    # Subscriptions and orders with an `expires` (issue 13): their licenses stay valid this
    # many days past the paid term, so a renewal paid a little late never locks anyone out.
    subscription_grace_days: Annotated[int, Field(ge=0, le=365)] = 7


class MailboxSettings(Section):
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
        if not context_of(info).get("check"):
            return self
        if self.kind == "maildir":
            if self.path is None:
                raise rule("kind", self.kind, ' needs path = "folder"')
            # Whether the folder exists is checked by `run` and `doctor`, which need it, not
            # at load: `mailbot serial new` on a fresh clone has no mailbox yet. Something
            # else in its place is wrong for every command.
            if self.path.exists():
                must_exist(self.path, "path", "the Maildir folder", folder=True)
        elif self.auth == "password":
            if self.password_file is not None:
                must_exist(self.password_file, "password_file", "the password file")
        elif not self.oauth_token_command:
            if self.oauth_token_file is None:
                raise rule("auth", self.auth, " needs oauth_token_command or oauth_token_file")
            must_exist(self.oauth_token_file, "oauth_token_file", "the token file")
        return self


class OutboxSettings(Section):
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
    connections: Annotated[int, Field(ge=1, le=16)] = 2  # SMTP connections a batch uses at most

    @model_validator(mode="after")
    def check_at_load(self, info: ValidationInfo) -> OutboxSettings:
        if not context_of(info).get("check"):
            return self
        if self.kind == "directory" and self.path is None:
            raise rule("kind", self.kind, ' needs path = "folder"')
        if self.kind == "smtp" and self.password_file is not None:
            must_exist(self.password_file, "password_file", "the password file")
        return self


class OrdersSettings(Section):
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
    # Stripe Subscriptions as orders (issue 13): listed in every re-list (one more request per
    # 100 subscriptions); off for an account that sells seats for good only.
    subscriptions: bool = False

    @model_validator(mode="after")
    def check_at_load(self, info: ValidationInfo) -> OrdersSettings:
        if not context_of(info).get("check"):
            return self
        if self.kind == "csv":
            if self.path is None:
                raise rule("kind", self.kind, ' needs path = "file.csv"')
            must_exist(self.path, "path", "the orders file")
        elif self.api_key_file is not None:
            must_exist(self.api_key_file, "api_key_file", "the key file")
        return self


class SecuritySettings(Section):
    authserv_id: str = ""
    require_dmarc_pass: bool = False


class PolicySettings(Section):
    transfers_per_seat: Annotated[int, Field(ge=0)] = 2
    transfer_window_days: Annotated[int, Field(ge=1)] = 365
    max_replies_per_hour: Annotated[int, Field(ge=0)] = 10
    max_serials_per_mail: Annotated[int, Field(ge=1)] = 100
    max_message_bytes: Annotated[
        int, Field(ge=1024, le=1024**3), Note("bytes; 10485760 is 10 MiB")
    ] = 10 * 1024 * 1024
    acknowledge_escalations: bool = True
    # A sender that answers our mail this many times in a row within a day, bringing nothing
    # new, is a robot in a loop: one escalation, then no more replies for a day.
    loop_after: Annotated[int, Field(ge=1, le=100)] = 3


class StaffSettings(Section):
    notify: Literal["immediate", "digest", "off"] = "immediate"
    digest_minutes: Annotated[int, Field(ge=1)] = 60
    # The queue's target: an open escalation older than this is marked as a breach.
    answer_within_hours: Annotated[int, Field(ge=1, le=24 * 90)] = 24
    # Staff answer a notification from their mail client (docs/reply-by-mail.md): it carries a
    # Reply-To of the support address with a token sub-address, e.g. support+esc-12-...@.
    reply_by_mail: bool = True
    reply_address: OptionalAddress = ""  # the address that reaches our mailbox; "" = from_address
    subaddress_separator: Literal["+", "-"] = "+"  # Postfix/Gmail/Dovecot "+", qmail/Exim "-"


class WebSettings(Section):
    """`mailbot web`, the staff console. Keep it on loopback behind a TLS reverse proxy."""

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8780
    session_hours: Annotated[int, Field(ge=1, le=24 * 30)] = 12
    # Support staff see order amounts only when this is true (finance and admins always do).
    support_sees_amounts: bool = False
    # Addresses of reverse proxies whose X-Forwarded-Proto/For are believed (https there makes
    # the session cookie Secure).
    trusted_proxies: list[str] = Field(default_factory=lambda: ["127.0.0.1"])


class SigningSettings(Section):
    private_key: RequiredPath = Field(Path("data/keys/signing.pem"), validate_default=True)
    # A folder of *.pub that keep verifying after a rotation.
    public_keys: RequiredPath = Field(Path("data/keys/public"), validate_default=True)
    passphrase_env: EnvName = ""


class StoreSettings(Section):
    path: RequiredPath = Field(Path("data/mailbot.db"), validate_default=True)
    # A group of staff who run `mailbot queue ...` as themselves: the database and the reply
    # files become 0640 and that group's (the user running mailbot must be a member). "":
    # 0600, the mailbot user alone.
    group: str = ""

    @model_validator(mode="after")
    def check_at_load(self, info: ValidationInfo) -> StoreSettings:
        if context_of(info).get("check") and self.group:
            import grp

            try:
                grp.getgrnam(self.group)
            except KeyError:
                raise rule(
                    "group", self.group, ": there is no such group on this machine"
                ) from None
        return self


class TemplatesSettings(Section):
    path: OptionalPath = None  # overrides of the shipped templates

    @model_validator(mode="after")
    def check_at_load(self, info: ValidationInfo) -> TemplatesSettings:
        if context_of(info).get("check") and self.path is not None:
            must_exist(self.path, "path", "the templates folder", folder=True)
        return self


SECTIONS: dict[str, type[Section]] = {
    "product": ProductSettings,
    "mailbox": MailboxSettings,
    "outbox": OutboxSettings,
    "orders": OrdersSettings,
    "security": SecuritySettings,
    "policy": PolicySettings,
    "staff": StaffSettings,
    "web": WebSettings,
    "signing": SigningSettings,
    "store": StoreSettings,
    "templates": TemplatesSettings,
    "webhooks": WebhooksSettings,
}


class ConfigFile(BaseModel):
    """The whole TOML document; every section present (from_dict fills in empty ones)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    product: ProductSettings
    mailbox: MailboxSettings
    outbox: OutboxSettings
    orders: OrdersSettings
    security: SecuritySettings
    policy: PolicySettings
    staff: StaffSettings
    web: WebSettings
    signing: SigningSettings
    store: StoreSettings
    templates: TemplatesSettings
    webhooks: WebhooksSettings


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
    web: WebSettings = Field(default_factory=WebSettings)
    signing: SigningSettings = Field(default_factory=SigningSettings)
    webhooks: WebhooksSettings = Field(default_factory=WebhooksSettings)
    store_path: Path = Path("data/mailbot.db")
    store_group: str = ""  # [store] group: staff who may read the state files
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
            loop_after=self.policy.loop_after,
            subscription_grace_days=self.product.subscription_grace_days,
        )
