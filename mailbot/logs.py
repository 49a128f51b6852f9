"""Structured logging: one JSON object (or one key=value line) per event.

Fields come from `extra={...}`. Anything that looks like a license string or a secret is cut
down before it is written, as a second line of defence behind the callers' own care.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

from mailbot.core.text import visible

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
# A license string: a product prefix with "1-" and at least a few groups of eight symbols,
# joined by dashes, single spaces, or the line breaks a mail client wraps it with (mid-group too).
_GROUP = r"(?:-[0-9A-Z]{1,8}|-?[ \t]*\r?\n[ \t]*-?[0-9A-Z]{1,8}|[ \t][0-9A-Z]{8}\b)"
_LICENSE = re.compile(rf"\b([A-Z0-9]{{2,8}}1[- ]?[0-9A-Z]{{8}}){_GROUP}{{3,}}", re.I)
# ... or written without its dashes: the prefix and forty or more base32 symbols in one run.
_COMPACT = re.compile(r"\b([A-Z0-9]{2,8}1-?[0-9A-HJKMNP-TV-Z]{8})[0-9A-HJKMNP-TV-Z]{32,}", re.I)
_SECRET_KEYS = ("password", "secret", "token", "api_key", "authorization", "passphrase")


def redact(value: Any) -> Any:
    """A logged value with license strings cut short and control characters made visible."""
    if isinstance(value, str):
        value = _LICENSE.sub(lambda m: m.group(1) + "…", value)
        return visible(_COMPACT.sub(lambda m: m.group(1) + "…", value))
    return value


class _Formatter(logging.Formatter):
    def __init__(self, as_json: bool) -> None:
        super().__init__()
        self.as_json = as_json

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": redact(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key in _STANDARD or key.startswith("_"):
                continue
            if any(s in key.lower() for s in _SECRET_KEYS):
                value = "[redacted]"
            fields[key] = redact(value)
        if record.exc_info:
            fields["error"] = redact(self.formatException(record.exc_info).splitlines()[-1])
        if self.as_json:
            return json.dumps(fields, default=str, ensure_ascii=False)
        head = f"{fields.pop('ts')} {fields.pop('level'):7} {fields.pop('event')}"
        fields.pop("logger")
        rest = " ".join(
            f"{k}={json.dumps(v, default=str, ensure_ascii=False)}" for k, v in fields.items()
        )
        return f"{head} {rest}".rstrip()


_configured: tuple[str, bool] | None = None


def configure(level: str = "info", as_json: bool = False) -> None:
    global _configured
    _configured = (level, as_json)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter(as_json))
    root = logging.getLogger("mailbot")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


def configured() -> tuple[str, bool] | None:
    """The arguments of the last `configure` (for a child process to log the same way)."""
    return _configured
