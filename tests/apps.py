"""A complete mailbot on the embedded backends in a temp folder, for end-to-end tests."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from mailbot.adapters.mailboxes.maildir import MaildirMailbox
from mailbot.adapters.signing import init_key
from mailbot.app import App, build
from mailbot.cli import cli
from mailbot.config import Settings, from_dict

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "data" / "demo"
DATA = REPO / "tests" / "data"  # the test mails, the corpus, old schemas, Stripe fixtures


def config_data(**sections: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The test config as plain data: embedded backends in relative folders."""
    data: dict[str, dict[str, Any]] = {
        "product": {"name": "Amphis Customer", "code": "AMC"},
        "mailbox": {"kind": "maildir", "path": "maildir"},
        "outbox": {
            "kind": "directory",
            "path": "outbox",
            "from_address": "support@amphis.example",
            "staff_address": "licensing-team@amphis.example",
        },
        "orders": {"kind": "csv", "path": "orders.csv"},
        "store": {"path": "mailbot.db"},
        "signing": {"private_key": "keys/signing.pem", "public_keys": "keys/public"},
    }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return data


def prepare_site(base: Path, data: dict[str, dict[str, Any]]) -> None:
    """The folders a deployed config reads from and mailbot does not create: a Maildir, as a
    mail server leaves it (new/, cur/, tmp/)."""
    mailbox = data.get("mailbox", {})
    if mailbox.get("kind") == "maildir" and mailbox.get("path"):
        for sub in ("new", "cur", "tmp"):
            (base / mailbox["path"] / sub).mkdir(parents=True, exist_ok=True)


def settings_for(base: Path, **sections: dict[str, Any]) -> Settings:
    data = config_data(**sections)
    prepare_site(base, data)
    return from_dict(data, base)


def make_app(
    base: Path,
    orders_csv: str | None = None,
    overrides: dict[str, Any] | None = None,
    **sections: dict[str, Any],
) -> App:
    """An App over tmp folders; `orders_csv` defaults to the demo orders; `overrides` go to
    app.build (clock, mailbox, sender, ...)."""
    base.mkdir(parents=True, exist_ok=True)
    if orders_csv is None:
        shutil.copy(DEMO / "orders.csv", base / "orders.csv")
    else:
        (base / "orders.csv").write_text(orders_csv)
    settings = settings_for(base, **sections)
    init_key(settings.signing.private_key, settings.signing.public_keys, None)
    return build(settings, **(overrides or {}))


def write_config(base: Path, **sections: dict[str, Any]) -> Path:
    """The same setup as a TOML file, for tests that run the `mailbot` command."""
    import json

    lines = []
    data = config_data(**sections)
    for name, values in data.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    base.mkdir(parents=True, exist_ok=True)
    prepare_site(base, data)
    path = base / "mailbot.toml"
    path.write_text("\n".join(lines) + "\n")
    if not (base / "orders.csv").exists():
        shutil.copy(DEMO / "orders.csv", base / "orders.csv")
    return path


def deliver_demo(mailbox: MaildirMailbox) -> list[Path]:
    """Copy the demo mails into a test Maildir, keeping their names (= arrival order)."""
    paths = []
    for src in sorted((DEMO / "maildir" / "new").iterdir()):
        if src.name.startswith("."):
            continue
        target = mailbox.path / "new" / src.name
        shutil.copy(src, target)
        paths.append(target)
    return paths


@dataclass(frozen=True)
class Ran:
    """What one `mailbot` command did, with the fields of a finished process."""

    returncode: int
    stdout: str
    stderr: str


def run_command(
    config: Path | None, *args: str, env: Mapping[str, str | None] | None = None
) -> Ran:
    """`mailbot --config CONFIG ARGS...` in this process, through click's CliRunner: the same
    exit code and the same stdout and stderr, apart, without the 0.4 s a new interpreter spends
    importing. An unexpected exception fails the test instead of becoming exit code 1 (a real
    process would print its traceback). Tests that must prove a real process (a SIGKILL, signals
    to `mailbot run`, the installed wheel) start one themselves."""
    options = ["--config", str(config)] if config is not None else []
    result = CliRunner().invoke(cli, [*options, *args], env=env, catch_exceptions=False)
    return Ran(result.exit_code, result.stdout, result.stderr)
