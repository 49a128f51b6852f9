"""The root `mailbot` group and what every command shares: the config, the App, plain-words
failures (exit 2, never a traceback) and the common options. Command groups live in their own
modules and are added to the group explicitly in `mailbot/cli/__init__.py`."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from mailbot import config as config_mod
from mailbot.app import App, build
from mailbot.cli import output
from mailbot.config import Settings
from mailbot.core.errors import SetupError
from mailbot.services.licenses import LicenseError
from mailbot.services.queue_view import QueueError

F = TypeVar("F", bound=Callable[..., Any])
CONFIG_HELP = (
    "Config file (default: $MAILBOT_CONFIG, then ./mailbot.toml, then the demo's "
    "./config.example.toml)."
)
# SQLite's integers are 64-bit: a longer number is no row of ours, not a crash.
ROW_ID_MAX = 2**63 - 1


class Failure(click.ClickException):
    """A plain-words failure: printed without a traceback, exit 2."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        # Plain text: "[orders] path" is not Rich markup, and a long line is not folded.
        output.error(self.message)


class _Root(click.Group):
    """The root group: a setup fault anywhere below (a damaged store, a template, the key)
    is one sentence and exit 2, whichever command met it."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SetupError as exc:
            raise Failure(str(exc)) from None


@click.group(
    cls=_Root, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.option(
    "--config", "config_path", type=click.Path(path_type=Path), default=None, help=CONFIG_HELP
)
@click.option(
    "--log-level",
    default="warning",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
)
@click.option("--log-json", is_flag=True, help="Log one JSON object per line (for collectors).")
@click.version_option(package_name="mailbot")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, log_level: str, log_json: bool) -> None:
    """mailbot: serial numbers in by mail, signed license strings out.

    \b
    Start here:
      mailbot keys init            create the signing key
      mailbot run --once           process waiting mail, send replies, print a summary
      mailbot queue list           what needs a person
    """
    from mailbot.logs import configure

    configure(log_level, log_json)
    ctx.ensure_object(dict)
    if config_path is not None:
        ctx.obj["config_path"] = config_path


def config_option(func: F) -> F:
    """`--config PATH` on every command (scripts put it after the command name)."""

    def wrapper(ctx: click.Context, /, *args: Any, config_path: Path | None, **kwargs: Any) -> Any:
        if config_path is not None:
            ctx.ensure_object(dict)["config_path"] = config_path
        return ctx.invoke(func, *args, **kwargs)

    functools.update_wrapper(wrapper, func)
    option = click.option(
        "--config", "config_path", type=click.Path(path_type=Path), default=None, help=CONFIG_HELP
    )
    return option(click.pass_context(wrapper))  # type: ignore[return-value]


def json_flag(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON, for scripts.")(func)


def actor_option(func: F) -> F:
    """`--as NAME` on every action: who did it, for the audit trail."""
    return click.option(
        "--as",
        "actor",
        default=None,
        metavar="NAME",
        help="Who is acting, for the audit trail (default: your OS user).",
    )(func)


def load_settings() -> Settings:
    """The config: --config, else MAILBOT_CONFIG, else ./mailbot.toml, else the demo's."""
    ctx = click.get_current_context()
    state = ctx.find_root().ensure_object(dict)
    try:
        settings = config_mod.load(state.get("config_path"))
    except SetupError as exc:
        raise Failure(str(exc)) from None
    if settings.is_demo_fallback and not state.get("demo_notice_shown"):
        state["demo_notice_shown"] = True
        output.notice(
            f"mailbot: no --config, {config_mod.CONFIG_ENV} or ./mailbot.toml; using "
            f"the demo config ./{config_mod.DEMO_CONFIG_NAME}"
        )
    return settings


def open_app(**overrides: Any) -> App:
    """The App for this command's config, closed when the command ends."""
    app = build(load_settings(), **overrides)
    click.get_current_context().call_on_close(app.close)
    return app


@contextmanager
def plain_errors() -> Iterator[None]:
    """Library refusals and setup faults become one sentence and exit 2, never a traceback."""
    try:
        yield
    except (QueueError, LicenseError, SetupError, ValueError) as exc:
        raise Failure(str(exc)) from None


class _RowId(click.ParamType):  # type: ignore[type-arg]
    """A row number as listed ("3" or "#3")."""

    name = "integer"

    def __init__(self, what: str) -> None:
        self.what = what

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        text = str(value).strip().lstrip("#")
        if not text.isdigit() or int(text) > ROW_ID_MAX:
            self.fail(f"{output.safe(value)!r} is not {self.what}", param, ctx)
        return int(text)


ESCALATION_ID = _RowId("an escalation number")
