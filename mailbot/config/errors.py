"""`ConfigError`, and how pydantic's validation errors become one sentence per problem.

Each sentence names the file, the section and key, the value as written in TOML and what is
allowed (from the field's `Expect`/`Note` metadata or its type and range), suggests the nearest
known name for a typo, and puts a secret written into the file first. Apart from loading because
it is the one part that knows pydantic's error shapes.
"""

from __future__ import annotations

import difflib
import json
from datetime import date, datetime
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import ValidationError
from pydantic.fields import FieldInfo

from mailbot.config.fields import Expect, Note, Section
from mailbot.config.sections import SECTIONS
from mailbot.core.errors import SetupError


class ConfigError(SetupError):
    """A config that cannot work; the message says what to change."""


_SECRET_INLINE = {"password", "api_key", "secret", "token", "webhook_secret", "passphrase"}


def describe(exc: ValidationError, document: dict[str, Any], shown: str) -> str:
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


def _inline_secret(section: str, key: str, model: type[Section]) -> str:
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
