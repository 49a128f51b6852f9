"""The config is checked when it is loaded: types, values, ranges, unknown keys, paths to read.

A bad setting stops mailbot with one sentence naming the file, the section and key, the value
given and what is allowed, never later on every mail and never as a pydantic dump.
"""

from __future__ import annotations

import copy
import os
import shutil
import tomllib
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from mailbot import config
from mailbot.cli import cli
from mailbot.config import ConfigError, MailboxSettings, Settings, from_dict, load
from tests.apps import REPO, config_data, prepare_site, run_command, write_config

NOTICE = "using the demo config ./config.example.toml"


@pytest.fixture(autouse=True)
def _no_config_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(config.CONFIG_ENV, raising=False)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A config folder with what a config reads: the Maildir and the orders file."""
    base = tmp_path / "site"
    base.mkdir()
    prepare_site(base, config_data())
    shutil.copy(REPO / "data" / "demo" / "orders.csv", base / "orders.csv")
    return base


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return str(value)


def write_toml(base: Path, data: dict[str, dict[str, Any]], name: str = "mailbot.toml") -> Path:
    lines = []
    for section, values in data.items():
        lines.append(f"[{section}]")
        lines += [f"{k} = {toml_value(v)}" for k, v in values.items()]
    path = base / name
    path.write_text("\n".join(lines) + "\n")
    return path


def with_setting(section: str, key: str, value: Any) -> dict[str, dict[str, Any]]:
    data = copy.deepcopy(config_data())
    data.setdefault(section, {})[key] = value
    return data


def refusal(base: Path, data: dict[str, dict[str, Any]]) -> str:
    """The message of the ConfigError that loading `data` from base/mailbot.toml raises."""
    path = write_toml(base, data)
    with pytest.raises(ConfigError) as caught:
        load(path)
    message = str(caught.value)
    assert "Traceback" not in message and "pydantic" not in message
    assert "errors.pydantic.dev" not in message and "Input should" not in message
    return message


# -- a bad value in every section ---------------------------------------------------------------

BAD_VALUES = [
    # section, key, value as written in TOML, what the message says is allowed
    ("product", "code", "amc", '2-8 upper-case letters or digits in quotes, e.g. "AMC"'),
    ("product", "edition", "1", "a whole number from 0 to 255"),
    ("product", "license_days", -1, "a whole number from 0 to 36500 (0 = perpetual)"),
    ("mailbox", "port", 99999, "a whole number from 1 to 65535"),
    ("mailbox", "security", "ssl", 'one of "tls", "starttls", "none"'),
    ("mailbox", "auth", "oauth", 'one of "password", "xoauth2"'),
    ("mailbox", "idle", "yes", "true or false"),
    ("mailbox", "username", 5, "a string in quotes"),
    ("mailbox", "poll_seconds", 0, "a whole number (1 or more)"),
    ("mailbox", "folder", "", "a non-empty string in quotes"),
    ("outbox", "kind", "sendmail", 'one of "directory", "smtp"'),
    ("outbox", "from_address", "support", "an email address"),
    ("outbox", "staff_address", "Team <team@amphis.example>", "an email address"),
    ("outbox", "port", "587", "a whole number from 1 to 65535"),
    ("outbox", "max_attempts", 0, "a whole number (1 or more)"),
    ("orders", "kind", "shopify", 'one of "csv", "stripe"'),
    ("orders", "price_ids", "price_1", "a list of strings"),
    ("orders", "sync_minutes", 0, "a whole number (1 or more)"),
    ("orders", "full_resync_hours", -1, "a whole number (0 or more; 0 = never)"),
    ("orders", "payment_link", "buy.stripe.com/x", "a link starting with https://"),
    ("security", "require_dmarc_pass", "yes", "true or false"),
    ("security", "authserv_id", 5, "a string in quotes"),
    ("policy", "max_replies_per_hour", "ten", "a whole number (0 or more)"),
    ("policy", "transfers_per_seat", -1, "a whole number (0 or more)"),
    ("policy", "max_message_bytes", 10, "a whole number from 1024 to 1073741824"),
    ("policy", "acknowledge_escalations", 1, "true or false"),
    ("staff", "notify", "daily", 'one of "immediate", "digest", "off"'),
    ("staff", "digest_minutes", 0, "a whole number (1 or more)"),
    ("staff", "answer_within_hours", 0, "a whole number from 1 to 2160"),
    ("web", "port", 70000, "a whole number from 0 to 65535"),
    ("web", "support_sees_amounts", "no", "true or false"),
    ("staff", "subaddress_separator", ".", 'one of "+", "-"'),
    ("staff", "reply_address", "support", "an email address"),
    ("signing", "private_key", 5, "a path in quotes"),
    ("signing", "passphrase_env", True, "the name of an environment variable"),
    ("store", "path", "", "a path in quotes"),
    ("templates", "path", 5, "a path in quotes"),
    ("webhooks", "url", "ftp://hooks.example", "a link starting with https://"),
    ("webhooks", "timeout_seconds", 0, "a whole number from 1 to 60"),
]


def test_every_section_has_a_bad_value_case() -> None:
    assert {case[0] for case in BAD_VALUES} == set(config.SECTIONS)


@pytest.mark.parametrize(
    ("section", "key", "value", "allowed"), BAD_VALUES, ids=[f"{c[0]}.{c[1]}" for c in BAD_VALUES]
)
def test_a_bad_value_is_refused_naming_section_key_value_and_what_is_allowed(
    site: Path, section: str, key: str, value: Any, allowed: str
) -> None:
    message = refusal(site, with_setting(section, key, value))
    assert message.startswith(
        f"{site / 'mailbot.toml'}: [{section}] {key} = {toml_value(value)}: expected "
    )
    assert allowed in message
    assert "\n" not in message  # one problem, one line


def test_an_unknown_webhook_event_is_refused_naming_the_known_ones(site: Path) -> None:
    message = refusal(site, with_setting("webhooks", "events", ["license.issued", "licence.sent"]))
    assert "[webhooks] events" in message
    assert "licence.sent is not an event mailbot sends" in message
    assert "license.renewed" in message  # the list of known ones


def test_the_two_settings_that_used_to_break_every_mail(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(site)
    write_toml(site, with_setting("policy", "max_replies_per_hour", "ten"))
    with pytest.raises(ConfigError) as caught:
        load("mailbot.toml")
    assert str(caught.value) == (
        'mailbot.toml: [policy] max_replies_per_hour = "ten": expected a whole number (0 or more)'
    )

    message = refusal(site, with_setting("staff", "notify", "daily"))
    assert message.endswith(
        '[staff] notify = "daily": expected one of "immediate", "digest", "off"'
    )


def test_no_silent_coercion(site: Path) -> None:
    for section, key, value in [
        ("policy", "max_replies_per_hour", "10"),
        ("policy", "max_replies_per_hour", 10.0),
        ("policy", "max_replies_per_hour", True),
        ("security", "require_dmarc_pass", "true"),
        ("security", "require_dmarc_pass", 0),
        ("outbox", "from_name", 5),
        ("orders", "price_ids", ["price_1", 2]),
    ]:
        message = refusal(site, with_setting(section, key, value))
        assert f"[{section}] {key} = {toml_value(value)}: expected" in message


def test_several_problems_are_listed_one_a_line_first_line_alone(site: Path) -> None:
    data = with_setting("policy", "max_replies_per_hour", "ten")
    data["staff"] = {"notify": "daily"}
    data["mailbox"]["port"] = 0
    lines = refusal(site, data).splitlines()
    assert len(lines) == 3
    assert all(line.startswith(f"{site / 'mailbot.toml'}: [") for line in lines)
    assert any("[staff] notify" in line for line in lines)
    assert any("[mailbox] port = 0" in line for line in lines)


# -- unknown keys and sections ------------------------------------------------------------------


@pytest.mark.parametrize("section", list(config.SECTIONS))
def test_an_unknown_key_is_refused_in_every_section(site: Path, section: str) -> None:
    message = refusal(site, with_setting(section, "colour", "blue"))
    assert f'[{section}] has no setting "colour"' in message
    assert "its settings are:" in message
    assert "blue" not in message  # the value of an unknown key might be a secret


def test_a_misspelt_key_gets_a_suggestion(site: Path) -> None:
    message = refusal(site, with_setting("store", "paht", "x.db"))
    assert '[store] has no setting "paht" (did you mean path?)' in message
    message = refusal(site, with_setting("policy", "max_reply_per_hour", 3))
    assert "did you mean max_replies_per_hour?" in message


def test_an_unknown_section_is_refused(site: Path) -> None:
    data = config_data()
    data["polcy"] = {"max_replies_per_hour": 3}
    message = refusal(site, data)
    assert "there is no section [polcy] (did you mean policy?)" in message
    assert "[templates]" in message  # the sections there are


def test_a_setting_outside_any_section_is_refused(site: Path) -> None:
    path = write_toml(site, config_data())
    path.write_text('kind = "imap"\n' + path.read_text())
    with pytest.raises(ConfigError, match=r'kind = "imap" is not in a section'):
        load(path)


def test_a_section_that_is_not_a_table_is_refused(site: Path) -> None:
    data: dict[str, Any] = config_data()
    data["policy"] = 5
    with pytest.raises(ConfigError, match=r"policy = 5: expected a table of settings, \[policy\]"):
        from_dict(data, site)


# -- secrets ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "key", "instead"),
    [
        ("mailbox", "password", "password_env or password_file"),
        ("outbox", "password", "password_env or password_file"),
        ("orders", "api_key", "api_key_env or api_key_file"),
        ("orders", "webhook_secret", "webhook_secret_env"),
        ("signing", "passphrase", "passphrase_env"),
        ("mailbox", "token", "oauth_token_file"),
        ("orders", "secret", "webhook_secret_env"),
    ],
)
def test_inline_secrets_are_refused_with_what_to_do(
    site: Path, section: str, key: str, instead: str
) -> None:
    data = with_setting(section, key, "hunter2")
    data["policy"] = {"max_replies_per_hour": "ten"}  # the secret is still named first
    message = refusal(site, data)
    first = message.splitlines()[0]
    assert f"[{section}] {key}: secrets are not read from the config file." in first
    assert instead in first
    assert "hunter2" not in message


# -- paths that must exist ----------------------------------------------------------------------


def test_a_missing_orders_file_is_refused(site: Path) -> None:
    (site / "orders.csv").unlink()
    message = refusal(site, config_data())
    assert message == (
        f'{site / "mailbot.toml"}: [orders] path = "orders.csv": the orders file '
        f"{site / 'orders.csv'} does not exist"
    )


def test_a_missing_maildir_loads_for_commands_that_need_no_mailbox(site: Path) -> None:
    """`run` and `doctor` refuse it (tests/cli/test_doctor.py); `serial new` must not."""
    path = write_toml(site, with_setting("mailbox", "path", "mail/typo"))
    assert load(path).mailbox.path == site / "mail" / "typo"


def test_a_missing_templates_folder_is_refused(site: Path) -> None:
    message = refusal(site, with_setting("templates", "path", "my-templates"))
    assert (
        f'[templates] path = "my-templates": the templates folder {site / "my-templates"}'
        in message
    )
    (site / "my-templates").mkdir()
    settings = load(site / "mailbot.toml")
    assert settings.templates_dir == site / "my-templates"


def test_a_file_where_a_folder_belongs_is_refused(site: Path) -> None:
    message = refusal(site, with_setting("mailbox", "path", "orders.csv"))
    assert f'[mailbox] path = "orders.csv": {site / "orders.csv"} is not a folder' in message


@pytest.mark.parametrize(
    ("section", "settings", "key"),
    [
        ("mailbox", {"kind": "imap", "password_file": "imap-password"}, "password_file"),
        (
            "mailbox",
            {"kind": "imap", "auth": "xoauth2", "oauth_token_file": "token.json"},
            "oauth_token_file",
        ),
        ("outbox", {"kind": "smtp", "password_file": "smtp-password"}, "password_file"),
        ("orders", {"kind": "stripe", "api_key_file": "stripe-key"}, "api_key_file"),
    ],
)
def test_missing_secret_files_are_refused(
    site: Path, section: str, settings: dict[str, Any], key: str
) -> None:
    data = config_data()
    data[section].update(settings)
    message = refusal(site, data)
    assert f'[{section}] {key} = "{settings[key]}"' in message
    assert f"{site / settings[key]} does not exist" in message
    (site / settings[key]).write_text("secret\n")
    load(site / "mailbot.toml")


def test_what_mailbot_creates_need_not_exist(site: Path) -> None:
    data = config_data(
        outbox={"path": "new/outbox"},
        store={"path": "state/db/mailbot.db"},
        signing={"private_key": "new-keys/signing.pem", "public_keys": "new-keys/public"},
    )
    settings = load(write_toml(site, data))
    assert settings.store_path == site / "state" / "db" / "mailbot.db"
    assert settings.outbox.path == site / "new" / "outbox"
    assert settings.signing.private_key == site / "new-keys" / "signing.pem"


def test_a_path_another_kind_would_read_is_not_checked(site: Path) -> None:
    # [orders] path belongs to kind = "csv"; with Stripe it is not read, so not required.
    data = config_data(
        orders={"kind": "stripe", "path": "old-orders.csv"},
        mailbox={"kind": "imap", "path": "no-maildir"},
    )
    settings = load(write_toml(site, data))
    assert settings.orders.kind == "stripe" and settings.mailbox.kind == "imap"


@pytest.mark.parametrize(
    ("section", "settings", "message"),
    [
        ("mailbox", {"kind": "maildir", "path": ""}, '[mailbox] kind = "maildir" needs path'),
        ("outbox", {"kind": "directory", "path": ""}, '[outbox] kind = "directory" needs path'),
        ("orders", {"kind": "csv", "path": ""}, '[orders] kind = "csv" needs path'),
        (
            "mailbox",
            {"kind": "imap", "auth": "xoauth2"},
            '[mailbox] auth = "xoauth2" needs oauth_token_command or oauth_token_file',
        ),
    ],
)
def test_settings_that_need_another_one(
    site: Path, section: str, settings: dict[str, Any], message: str
) -> None:
    data = config_data()
    data[section].update(settings)
    assert message in refusal(site, data)


# -- [mailbox] since ----------------------------------------------------------------------------


def test_since_is_an_optional_iso_date(site: Path) -> None:
    assert load(write_toml(site, config_data())).mailbox.since is None
    settings = load(write_toml(site, with_setting("mailbox", "since", "2024-01-31")))
    assert settings.mailbox.since == date(2024, 1, 31)
    # TOML's own date literal means the same.
    path = write_toml(site, config_data())
    path.write_text(path.read_text().replace("[mailbox]\n", "[mailbox]\nsince = 2024-01-31\n"))
    assert load(path).mailbox.since == date(2024, 1, 31)


@pytest.mark.parametrize("value", ["31.01.2024", "2024-02-30", "2024-1-31", "yesterday", 20240131])
def test_a_bad_since_is_refused(site: Path, value: Any) -> None:
    message = refusal(site, with_setting("mailbox", "since", value))
    assert f'[mailbox] since = {toml_value(value)}: expected a date "YYYY-MM-DD"' in message


def test_since_is_a_day_not_a_moment(site: Path) -> None:
    path = write_toml(site, config_data())
    path.write_text(
        path.read_text().replace("[mailbox]\n", "[mailbox]\nsince = 2024-01-31T08:00:00\n")
    )
    with pytest.raises(ConfigError, match=r"\[mailbox\] since = 2024-01-31T08:00:00: expected"):
        load(path)


# -- the loaded settings ------------------------------------------------------------------------


def test_relative_paths_are_taken_from_the_config_folder(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_toml(
        site,
        config_data(
            orders={"kind": "csv", "path": "orders.csv", "price_ids": ["price_1", "price_2"]}
        ),
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    settings = load(os.path.relpath(path, elsewhere))
    assert settings.base_dir == site and settings.config_path == path
    assert settings.mailbox.path == site / "maildir"
    assert settings.orders.path == site / "orders.csv"
    assert settings.orders.price_ids == ("price_1", "price_2")
    assert settings.store_path == site / "mailbot.db"
    assert settings.signing.public_keys == site / "keys" / "public"
    assert settings.is_demo_fallback is False


def test_settings_are_frozen_and_copied_with_model_copy(site: Path) -> None:
    settings = load(write_toml(site, config_data()))
    with pytest.raises(ValidationError):
        settings.mailbox.port = 1  # type: ignore[misc]
    moved = settings.mailbox.model_copy(update={"move": False})
    assert moved.move is False and settings.mailbox.move is True
    assert settings.decision_policy().max_replies_per_hour == 10


def test_sections_built_in_code_check_their_types_too() -> None:
    with pytest.raises(ValidationError):
        MailboxSettings(port="993")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        MailboxSettings(colour="blue")  # type: ignore[call-arg]
    assert Settings(base_dir=Path("/srv")).store_path == Path("data/mailbot.db")


def test_the_example_config_is_valid_and_documents_since(tmp_path: Path) -> None:
    text = (REPO / "config.example.toml").read_text()
    (tmp_path / "data" / "run" / "maildir").mkdir(parents=True, exist_ok=True)
    (tmp_path / "data" / "demo").mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "data" / "demo" / "orders.csv", tmp_path / "data" / "demo")
    (tmp_path / "config.example.toml").write_text(text)
    assert load(tmp_path / "config.example.toml").mailbox.since is None
    since = [line for line in text.splitlines() if line.startswith("# since = ")]
    assert len(since) == 1
    uncommented = text.replace(since[0], since[0][2:])
    assert tomllib.loads(uncommented)["mailbox"]["since"]
    (tmp_path / "config.example.toml").write_text(uncommented)
    assert isinstance(load(tmp_path / "config.example.toml").mailbox.since, date)


# -- finding the config -------------------------------------------------------------------------


def test_mailbot_config_is_honoured(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    named = write_toml(site, config_data(), name="production.toml")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    write_toml(cwd, config_data(product={"code": "XYZ"}))  # ./mailbot.toml loses to the variable
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("MAILBOT_CONFIG", str(named))
    settings = load(None)
    assert settings.config_path == named and settings.product.code == "AMC"
    assert settings.is_demo_fallback is False


def test_mailbot_config_naming_a_missing_file_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_toml(tmp_path, config_data())  # not taken instead
    monkeypatch.setenv("MAILBOT_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError) as caught:
        load(None)
    assert "MAILBOT_CONFIG" in str(caught.value) and "nope.toml" in str(caught.value)


def test_config_discovery_order_and_the_demo_fallback(
    site: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(site)
    write_toml(site, config_data(product={"code": "DEMO"}), name="config.example.toml")
    demo = load(None)
    assert demo.is_demo_fallback and demo.product.code == "DEMO"
    assert capsys.readouterr() == ("", "")  # the library says nothing; the CLI does
    assert load("config.example.toml").is_demo_fallback is False  # named: not a fallback
    write_toml(site, config_data())
    found = load(None)
    assert found.config_path == site / "mailbot.toml" and not found.is_demo_fallback


def test_no_config_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="no config found.*MAILBOT_CONFIG"):
        load(None)


# -- the command line ---------------------------------------------------------------------------


def serial_prefix(result: Any) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout.split("-", 1)[0]


def test_config_option_beats_mailbot_config(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    by_env = write_toml(site, config_data(product={"code": "ENV"}), name="env.toml")
    by_option = write_toml(site, config_data(product={"code": "OPT"}), name="opt.toml")
    monkeypatch.setenv("MAILBOT_CONFIG", str(by_env))
    runner = CliRunner()
    assert serial_prefix(runner.invoke(cli, ["serial", "new"])) == "ENV"
    assert serial_prefix(runner.invoke(cli, ["--config", str(by_option), "serial", "new"])) == "OPT"
    assert serial_prefix(runner.invoke(cli, ["serial", "new", "--config", str(by_option)])) == "OPT"


def test_the_demo_fallback_is_said_once_on_stderr(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(site)
    write_toml(site, config_data(product={"code": "DEMO"}), name="config.example.toml")
    runner = CliRunner()
    result = runner.invoke(cli, ["serial", "new", "--count", "2"])
    assert serial_prefix(result) == "DEMO"
    assert result.stderr.count(NOTICE) == 1
    assert result.stderr.strip() == (
        "mailbot: no --config, MAILBOT_CONFIG or ./mailbot.toml; "
        "using the demo config ./config.example.toml"
    )
    assert NOTICE not in result.stdout  # scripts reading stdout get only the serials

    named = runner.invoke(cli, ["--config", "config.example.toml", "serial", "new"])
    assert serial_prefix(named) == "DEMO" and named.stderr == ""
    monkeypatch.setenv("MAILBOT_CONFIG", str(site / "config.example.toml"))
    by_env = runner.invoke(cli, ["serial", "new"])
    assert serial_prefix(by_env) == "DEMO" and by_env.stderr == ""
    monkeypatch.delenv("MAILBOT_CONFIG")
    write_toml(site, config_data())
    real = runner.invoke(cli, ["serial", "new"])
    assert serial_prefix(real) == "AMC" and real.stderr == ""


def test_the_demo_fallback_is_said_once_for_a_whole_command(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Commands that do real work on the demo config say so once each, too."""
    monkeypatch.chdir(site)
    write_toml(site, config_data(), name="config.example.toml")
    runner = CliRunner()
    keys = runner.invoke(cli, ["keys", "init"])
    assert keys.exit_code == 0 and keys.stderr.count(NOTICE) == 1
    result = runner.invoke(cli, ["run", "--once"])
    assert result.exit_code == 0, result.output
    assert result.stderr.count(NOTICE) == 1


def test_a_config_error_is_printed_verbatim(site: Path) -> None:
    """Rich must not read "[orders]" as markup, nor fold the sentence at the terminal width."""
    path = write_config(site, orders={"path": "no/such/orders-file-with-a-long-name.csv"})
    out = run_command(path, "run", "--once", env={"MAILBOT_CONFIG": None, "COLUMNS": "50"})
    assert out.returncode == 2
    assert out.stderr.splitlines() == [
        f'error: {path}: [orders] path = "no/such/orders-file-with-a-long-name.csv": the orders '
        f"file {site / 'no/such/orders-file-with-a-long-name.csv'} does not exist"
    ]


def test_cli_errors_keep_their_brackets(site: Path) -> None:
    path = write_toml(site, with_setting("staff", "notify", "daily"))
    result = CliRunner().invoke(cli, ["--config", str(path), "serial", "new"])
    assert result.exit_code == 2
    assert result.stderr == (
        f'error: {path}: [staff] notify = "daily": expected one of "immediate", "digest", "off"\n'
    )


def test_signing_defaults_are_relative_to_the_config_folder(tmp_path: Path) -> None:
    data = config_data()
    data["signing"] = {"passphrase_env": "MAILBOT_TEST_PASSPHRASE"}
    prepare_site(tmp_path, data)
    (tmp_path / "orders.csv").write_text("order_id,email,name,seats,status,created\n")
    settings = from_dict(data, tmp_path)
    assert settings.signing.private_key == tmp_path / "data" / "keys" / "signing.pem"
    assert settings.signing.public_keys == tmp_path / "data" / "keys" / "public"


def test_a_secret_file_other_users_can_read_is_refused(tmp_path: Path) -> None:
    """As the signing key: a password any user of the machine can read is no secret."""
    from mailbot.config import secret

    path = tmp_path / "imap.password"
    path.write_text("hunter2\n")
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="readable by other users") as caught:
        secret("", path, "the IMAP password")
    assert "hunter2" not in str(caught.value) and "chmod o-rwx" in str(caught.value)
    path.chmod(0o640)  # root:mailbot 0640 is fine
    assert secret("", path, "the IMAP password") == "hunter2"
