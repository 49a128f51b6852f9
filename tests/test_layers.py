"""The floors hold: no import runs back up a floor (the import-linter contracts in pyproject.toml)
and no module imports itself round a circle. Both checks are shown to fail on a copy of the
package with one bad import added, so they cannot pass by not looking."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Set
from pathlib import Path

import grimp

REPO = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def import_graph(package: str = "mailbot") -> dict[str, set[str]]:
    """module -> the modules of the package it imports (at module level or in a function)."""
    graph = grimp.build_graph(package)
    return {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}


def circles(graph: Mapping[str, Set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), i.e. the circles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _without_package_inits(graph: Mapping[str, Set[str]]) -> dict[str, set[str]]:
    # `import mailbot.cli.root` imports the package `mailbot.cli` first, whose __init__ adds
    # the command modules that import cli.root: that is how Python packages work, not a circle
    # of ours. Imports *of* a package's __init__ by its own submodules are left out.
    return {m: {t for t in targets if not m.startswith(t + ".")} for m, targets in graph.items()}


def test_the_circle_finder_finds_circles() -> None:
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_no_import_circles() -> None:
    assert circles(_without_package_inits(import_graph())) == []


def test_no_upward_imports() -> None:
    result = subprocess.run(
        [str(LINT_IMPORTS)], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_an_upward_import_or_a_circle_would_be_caught(tmp_path: Path) -> None:
    """Add `import mailbot.cli` to the core's model in a copy of the package: the floors
    contract breaks and a circle appears."""
    copy = tmp_path / "copy"
    shutil.copytree(
        REPO / "mailbot", copy / "mailbot", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(REPO / "pyproject.toml", copy / "pyproject.toml")
    model = copy / "mailbot" / "core" / "model.py"
    model.write_text(model.read_text() + "\n\ndef _upward() -> None:\n    import mailbot.cli\n")
    env = {**os.environ, "PYTHONPATH": str(copy)}
    result = subprocess.run(
        [str(LINT_IMPORTS)], cwd=copy, capture_output=True, text=True, timeout=120, env=env
    )
    assert result.returncode != 0
    assert "mailbot.core is not allowed to import mailbot.cli" in result.stdout
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, tests.test_layers as t; "
            "print(json.dumps(t.circles(t._without_package_inits(t.import_graph()))))",
        ],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=120,
        env={**env, "PYTHONPATH": f"{copy}{os.pathsep}{REPO}"},
    )
    assert probe.returncode == 0, probe.stderr
    assert "mailbot.core.model" in probe.stdout
