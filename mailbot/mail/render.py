"""Replies from Jinja2 templates: a text part, an HTML alternative, and the headers that keep
other robots from answering (RFC 3834) and mail clients threading.

Templates ship inside the package (`mailbot/templates/`, package data read through Jinja2's
PackageLoader, so an installed wheel has them); a `[templates] path` in config is searched
first, so a vendor overrides one file without copying the rest. Each customer-facing outcome has
`NAME.txt` and `NAME.html`; the first line of the text template may be `Subject: ...`.
HTML is autoescaped: a serial or a name from a customer's mail cannot inject markup.

A template that is missing, does not parse or does not render is a setup fault, not a fault of
the mail being answered: every mail of that outcome would hit it. `render()` raises
`TemplateProblem` (a `ConfigError`), which stops the run with one sentence while the mail waits.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import Any

import jinja2

from mailbot.config import ConfigError

LOOP_HEADER = "X-Mailbot-Loop"
SMTP_POLICY = compat32.clone(linesep="\r\n")
# Quoted-printable keeps replies readable in a raw .eml file (base64 is the utf-8 default).
_QP_UTF8 = Charset("utf-8")
_QP_UTF8.body_encoding = QP


@dataclass(frozen=True)
class Composed:
    message_id: str  # without angle brackets
    to: str
    subject: str
    raw: bytes


class TemplateProblem(ConfigError):
    """A template that cannot be used; the message names the file and where it comes from."""


class Renderer:
    def __init__(self, override_dir: Path | None = None) -> None:
        self.override_dir = override_dir
        loaders: list[jinja2.BaseLoader] = []
        if override_dir is not None:
            loaders.append(jinja2.FileSystemLoader(str(override_dir)))
        loaders.append(jinja2.PackageLoader("mailbot", "templates"))
        loader = jinja2.ChoiceLoader(loaders)
        self._text = jinja2.Environment(
            loader=loader,
            autoescape=False,
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._html = jinja2.Environment(
            loader=loader,
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def has(self, name: str) -> bool:
        try:
            self._text.get_template(f"{name}.txt")
        except jinja2.TemplateNotFound:
            return False
        return True

    def names(self) -> list[str]:
        return sorted(
            n[: -len(".txt")]
            for n in self._text.list_templates(extensions=["txt"])
            if not n.startswith("_")
        )

    def origin(self, file_name: str) -> str:
        """Where a template file comes from, as an admin would look for it."""
        if self.override_dir is not None and (self.override_dir / file_name).is_file():
            return str(self.override_dir / file_name)
        return f"the shipped template {file_name}"

    def render(self, name: str, context: Mapping[str, Any]) -> tuple[str, str, str | None]:
        """(subject, text, html or None) for template NAME; TemplateProblem when it fails."""
        text = self._render(self._text, f"{name}.txt", context)
        subject = ""
        first, _, rest = text.partition("\n")
        if first.lower().startswith("subject:"):
            subject, text = first.split(":", 1)[1].strip(), rest.lstrip("\n")
        try:
            html: str | None = self._render(self._html, f"{name}.html", context, optional=True)
        except _Absent:
            html = None
        return subject, text, html

    def _render(self, env: jinja2.Environment, file_name: str, context: Mapping[str, Any],
                optional: bool = False) -> str:
        try:
            return env.get_template(file_name).render(context)
        except jinja2.TemplateNotFound as exc:
            if optional and exc.name == file_name:
                raise _Absent from None
            missing = exc.name or file_name
            where = f" (searched {self.override_dir} and the shipped templates)" \
                if self.override_dir is not None else ""
            raise TemplateProblem(f"template {missing} does not exist{where}; "
                                  f"it is needed for {file_name}") from None
        except jinja2.TemplateSyntaxError as exc:
            where = exc.filename or self.origin(exc.name or file_name)
            raise TemplateProblem(f"template {where} does not parse (line {exc.lineno}: "
                                  f"{exc.message}); fix it, or delete the override to use the "
                                  "shipped one") from None
        except jinja2.TemplateError as exc:
            raise TemplateProblem(f"template {self.origin(file_name)} does not render "
                                  f"({type(exc).__name__}: {exc}); fix it, or delete the "
                                  "override to use the shipped one") from None


class _Absent(Exception):
    """An optional template part (the HTML alternative) that does not exist."""


def new_message_id(from_address: str) -> str:
    domain = from_address.rpartition("@")[2] or "mailbot.invalid"
    return f"mailbot.{uuid.uuid4().hex}@{domain}"


def compose(
    *,
    from_address: str,
    from_name: str,
    to: str,
    subject: str,
    text: str,
    html: str | None,
    now: datetime,
    message_id: str,
    in_reply_to: str = "",
    references: Sequence[str] = (),
    automatic: bool = True,
    extra_headers: Mapping[str, str] | None = None,
) -> Composed:
    # Built with the compat32 MIME classes: the modern EmailMessage API re-parses every header
    # through its registry and made composing the slowest step of the whole pipeline.
    text_part = MIMEText(text, "plain", _QP_UTF8)
    msg: Message = text_part
    if html:
        msg = MIMEMultipart("alternative")
        msg.attach(text_part)
        msg.attach(MIMEText(html, "html", _QP_UTF8))
    msg["From"] = formataddr((from_name, from_address), charset="utf-8") if from_name \
        else from_address
    msg["To"] = to
    msg["Subject"] = Header(subject, "utf-8").encode() if not subject.isascii() else subject
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = f"<{message_id}>"
    if in_reply_to:
        msg["In-Reply-To"] = f"<{in_reply_to}>"
        refs = [r for r in references if r][-10:] + [in_reply_to]
        msg["References"] = " ".join(f"<{r}>" for r in dict.fromkeys(refs))
    if automatic:
        # RFC 3834: other robots must not answer us; Exchange reads the second header.
        msg["Auto-Submitted"] = "auto-replied"
        msg["X-Auto-Response-Suppress"] = "All"
    msg[LOOP_HEADER] = from_address
    for name, value in (extra_headers or {}).items():
        msg[name] = value
    return Composed(message_id, to, subject, msg.as_bytes(policy=SMTP_POLICY))


def reply_subject(original: str, fallback: str) -> str:
    if not original:
        return fallback
    if original.lower().startswith(("re:", "aw:", "sv:")):
        return original
    return f"Re: {original}"
