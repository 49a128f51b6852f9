"""The one output layer of the command line: everything printed goes through here.

What customers write (subjects, names, addresses, mail text) is data on a staff terminal, never
markup or escape sequences. So the consoles here never interpret Rich markup or emoji codes,
every value printed passes through `safe()` (control characters shown visibly, so an ESC byte
from an encoded-word or a bidi override in a subject cannot move the cursor, recolour the
terminal or reorder a line), and styles are only ever applied by our own code with `Text`.
JSON output escapes the same characters.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from mailbot.core.text import visible


def safe(value: Any) -> str:
    """A value as plain, inert text: control characters shown as \\x1b, \\u202e, ..."""
    return visible("" if value is None else str(value))


def _console(stderr: bool = False) -> Console:
    console = Console(stderr=stderr, markup=False, emoji=False, highlight=False)
    if not console.is_terminal:
        # Piped or in CI logs: rich would assume 80 columns and fold serials mid-way.
        console = Console(stderr=stderr, markup=False, emoji=False, highlight=False, width=140)
    return console


out = _console()
err = _console(stderr=True)


def line(*parts: Any, style: str | None = None, wrap: bool = True) -> None:
    """Print one line made of values (made safe) on standard output."""
    out.print(Text(" ".join(safe(p) for p in parts), style=style or ""), soft_wrap=not wrap)


def styled(*pieces: tuple[Any, str] | Any, wrap: bool = True) -> None:
    """Print one line of pieces, each a value or (value, style)."""
    text = Text()
    for piece in pieces:
        if isinstance(piece, tuple):
            text.append(safe(piece[0]), style=piece[1])
        else:
            text.append(safe(piece))
    out.print(text, soft_wrap=not wrap)


def heading(title: str) -> None:
    out.print(Text("\n" + safe(title), style="bold"))


def rule(title: str) -> None:
    out.rule(Text(safe(title)))


def error(message: str, prefix: str = "error:") -> None:
    """One red line on standard error; the message printed verbatim (brackets and all)."""
    err.print(Text.assemble((prefix, "bold red"), " ", safe(message)), soft_wrap=True)


def notice(message: str) -> None:
    err.print(Text(safe(message)), soft_wrap=True)


# Columns kept whole on a narrow terminal (others fold): ids, states, serials, dates.
_KEEP_WHOLE = {
    "#",
    "age",
    "state",
    "reason",
    "status",
    "when",
    "created",
    "issued",
    "order",
    "serial",
    "serials",
    "check",
    "decision",
    "seats",
    "used",
    "free",
    "refunded",
    "received",
    "revoked",
    "expires",
    "outcome",
    "processed",
    "source",
    "claimed",
}


def table(
    title: str | None,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    styles: Sequence[str | None] | None = None,
) -> Table:
    """A compact table of values (made safe): a rule under the header, no outer frame."""
    t = Table(
        title=Text("\n" + safe(title), style="bold") if title else None,
        title_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
    )
    for name in columns:
        t.add_column(name, overflow="fold", no_wrap=name in _KEEP_WHOLE)
    for i, row in enumerate(rows):
        style = styles[i] if styles is not None else None
        t.add_row(*[v if isinstance(v, Text) else Text(safe(v)) for v in row], style=style)
    return t


def show(renderable: Any) -> None:
    out.print(renderable)


# -- JSON ----------------------------------------------------------------------------------------


def plain(value: Any) -> Any:
    """Dataclasses, enums, datetimes and paths as JSON values; bytes left out."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return None
    return value


_JSON_UNSAFE = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def print_json(value: Any) -> None:
    """JSON for scripts; control characters escaped (json does C0, this does the rest)."""
    out.file.write(_json(value, indent=2) + "\n")


def _json(value: Any, indent: int | None = None) -> str:
    text = json.dumps(plain(value), indent=indent, ensure_ascii=False)
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


class JsonRows:
    """One JSON object whose first member is a list printed a row at a time: a run over a
    long backlog prints as it goes and holds no list of what it printed.

        rows = JsonRows("processed")
        rows.add({...})            # as each result comes
        rows.finish({"sent": 3})   # the other members; the object is complete
    """

    def __init__(self, key: str) -> None:
        self._count = 0
        out.file.write("{\n  " + _json(key) + ": [")
        out.file.flush()

    def add(self, row: Any) -> None:
        out.file.write(("," if self._count else "") + "\n    " + _json(row))
        self._count += 1

    def finish(self, rest: dict[str, Any]) -> None:
        out.file.write("\n  ]" if self._count else "]")
        for key, value in rest.items():
            out.file.write(
                ",\n  " + _json(key) + ": " + _json(value, indent=2).replace("\n", "\n  ")
            )
        out.file.write("\n}\n")
        out.file.flush()
