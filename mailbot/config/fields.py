"""What a setting accepts: the value types of the config sections and their checks.

Each annotated type (a path taken relative to the config file, an address, a link, a date...)
carries an `Expect` text, so an error message can say what is allowed in words; `Note` adds a
remark such as "0 = never". `rule` and `must_exist` are for the checks a section makes when a
config is loaded (files that must exist, settings that need each other). Kept apart from the
sections so that adding a setting means reading one short list of models, not the machinery.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
)
from pydantic_core import PydanticCustomError


class Expect:
    """Annotated metadata: how an error message describes what a setting accepts."""

    def __init__(self, text: str) -> None:
        self.text = text


class Note:
    """Annotated metadata: a remark added to the generated description, e.g. "0 = never"."""

    def __init__(self, text: str) -> None:
        self.text = text


def _refuse(kind: str) -> PydanticCustomError:
    # The message is never shown: errors are described from the field (see errors._expected).
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
    base = context_of(info).get("base_dir")
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
ProductCode = Annotated[
    str,
    AfterValidator(_product_code),
    Expect('2-8 upper-case letters or digits in quotes, e.g. "AMC"'),
]
Port = Annotated[int, Field(ge=1, le=65535)]
Seconds = Annotated[int, Field(ge=1)]
EnvName = Annotated[str, Expect('the name of an environment variable in quotes (or "" for none)')]
NonEmpty = Annotated[str, Field(min_length=1)]
Folder = NonEmpty
Security = Literal["tls", "starttls", "none"]


def context_of(info: ValidationInfo) -> dict[str, Any]:
    """The validation context: {"base_dir": ..., "check": True} when a config is loaded."""
    return info.context if isinstance(info.context, dict) else {}


def rule(key: str, value: Any, problem: str) -> PydanticCustomError:
    """A rule between settings or about the file system, broken; the message names `key`.

    `problem` follows "[section] key = value": ": the file ... does not exist" or
    " needs path = ...".
    """
    return PydanticCustomError(
        "mailbot_rule", "{problem}", {"key": key, "value": value, "problem": problem}
    )


def must_exist(path: Path, key: str, what: str, *, folder: bool = False) -> None:
    """Break the rule on `key` unless `path` is an existing file (or folder)."""
    if (folder and path.is_dir()) or (not folder and path.is_file()):
        return
    if path.exists():
        problem = f": {path} is not a {'folder' if folder else 'file'}"
    else:
        problem = f": {what} {path} does not exist"
    raise rule(key, str(path), problem)


class Section(BaseModel):
    """One TOML section: exact types (TOML already gives real ones), no unknown keys."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)
