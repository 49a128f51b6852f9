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

The package, by what changes for which reason: `fields` (what a setting accepts), `sections`
(the models and `Settings`), `loading` (which file, reading it, secrets) and `errors` (the
sentences a bad config gets). Import from here: `from mailbot.config import load, Settings`.
"""

from mailbot.config.errors import ConfigError
from mailbot.config.loading import (
    CONFIG_ENV,
    DEFAULT_CONFIG_NAMES,
    DEMO_CONFIG_NAME,
    find_config,
    from_dict,
    load,
    secret,
)
from mailbot.config.sections import (
    SECTIONS,
    MailboxSettings,
    OrdersSettings,
    OutboxSettings,
    PolicySettings,
    ProductSettings,
    SecuritySettings,
    Settings,
    SigningSettings,
    StaffSettings,
    StoreSettings,
    TemplatesSettings,
    WebSettings,
)

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG_NAMES",
    "DEMO_CONFIG_NAME",
    "SECTIONS",
    "ConfigError",
    "MailboxSettings",
    "OrdersSettings",
    "OutboxSettings",
    "PolicySettings",
    "ProductSettings",
    "SecuritySettings",
    "Settings",
    "SigningSettings",
    "StaffSettings",
    "WebSettings",
    "StoreSettings",
    "TemplatesSettings",
    "find_config",
    "from_dict",
    "load",
    "secret",
]
