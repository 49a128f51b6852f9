"""Every command documents itself: `--help` with an example, and a mention in README.md."""

from __future__ import annotations

import re
from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

from mailbot.cli import cli
from tests.apps import REPO

README = REPO / "README.md"


def command_paths(
    group: click.Group = cli, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[str, ...]]:
    ctx = click.Context(group)
    for name in sorted(group.list_commands(ctx)):
        command = group.get_command(ctx, name)
        if command is None or command.hidden:
            continue
        path = (*prefix, name)
        yield path
        if isinstance(command, click.Group):
            yield from command_paths(command, path)


PATHS = list(command_paths())


def test_the_walk_finds_the_commands() -> None:
    names = {" ".join(p) for p in PATHS}
    assert {
        "run",
        "queue",
        "queue list",
        "queue issue",
        "licenses revoked",
        "report",
        "customer",
    } <= names


@pytest.mark.parametrize("path", PATHS, ids=[" ".join(p) for p in PATHS])
def test_help_has_an_example(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output, f"`mailbot {' '.join(path)} --help` shows no example"
    # The example uses the command it documents.
    assert f"mailbot {' '.join(path)}" in result.output


@pytest.mark.parametrize("path", PATHS, ids=[" ".join(p) for p in PATHS])
def test_readme_mentions_the_command(path: tuple[str, ...]) -> None:
    text = README.read_text(encoding="utf-8")
    pattern = r"mailbot " + r"\s+".join(re.escape(p) for p in path) + r"(?![\w-])"
    assert re.search(pattern, text), f"README.md does not mention `mailbot {' '.join(path)}`"
