"""Replies from Jinja2 templates: subject, text and an HTML alternative for a template name.

Templates ship inside the package (`mailbot/templates/`, package data read through Jinja2's
PackageLoader, so an installed wheel has them); a `[templates] path` in config is searched
first, so a vendor overrides one file without copying the rest. Each customer-facing outcome has
`NAME.txt` and `NAME.html`; the first line of the text template may be `Subject: ...`.
HTML is autoescaped: a serial or a name from a customer's mail cannot inject markup.

Languages other than English live in a folder named by their tag (`templates/de/issued.txt`,
and the same in the overrides folder: `path/de/issued.txt`). A reply in German uses `de/NAME`
where it exists (the override first, then the shipped one) and the English `NAME` otherwise, so
a template shipped only in English still answers a German customer, in English. The text and
the HTML of one mail always come from the same language.

A template that is missing, does not parse or does not render is a setup fault, not a fault of
the mail being answered: every mail of that outcome would hit it. `render()` raises
`TemplateProblem` (a `SetupError`), which stops the run with one sentence while the mail waits.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2

from mailbot.core.errors import SetupError
from mailbot.core.language import DEFAULT_LANGUAGE, language_tag

RELOAD_SECONDS = 2.0  # how often a template file is looked at for changes


class TemplateProblem(SetupError):
    """A template that cannot be used; the message names the file and where it comes from."""


class Renderer:
    def __init__(self, override_dir: Path | None = None) -> None:
        self.override_dir = override_dir
        loaders: list[jinja2.BaseLoader] = []
        if override_dir is not None:
            loaders.append(jinja2.FileSystemLoader(str(override_dir)))
        loaders.append(jinja2.PackageLoader("mailbot", "templates"))
        loader = jinja2.ChoiceLoader(loaders)
        # Jinja2 would look at every template file's mtime on every render; we look at most
        # every RELOAD_SECONDS (`_template`), so an edited template still shows up in seconds.
        self._text = jinja2.Environment(
            loader=loader,
            auto_reload=False,
            autoescape=False,
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._html = jinja2.Environment(
            loader=loader,
            auto_reload=False,
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

        self._looked_at = time.monotonic()
        self._languages: frozenset[str] | None = None
        # The templates in use, in front of Jinja2's own cache (whose lookup, under a lock and
        # through the loader's name rules, costs a reply's render a tenth of its time).
        self._loaded: dict[tuple[bool, str], jinja2.Template] = {}

    def _template(self, env: jinja2.Environment, file_name: str) -> jinja2.Template:
        now = time.monotonic()
        if now - self._looked_at >= RELOAD_SECONDS:
            self._looked_at = now
            self._languages = None  # a language folder may have been added to the overrides
            for each in (self._text, self._html):
                # Every template loaded so far, included ones too: one changed file and the
                # next render reads them all again.
                if each.cache is not None and not all(t.is_up_to_date for t in each.cache.values()):
                    each.cache.clear()
                    self._loaded.clear()
        key = (env is self._html, file_name)
        template = self._loaded.get(key)
        if template is None:
            template = self._loaded[key] = env.get_template(file_name)
        return template

    def has(self, name: str) -> bool:
        try:
            self._text.get_template(f"{name}.txt")
        except jinja2.TemplateNotFound:
            return False
        return True

    def names(self) -> list[str]:
        """The English templates a mail can be written from (the ones other languages follow)."""
        return sorted(
            n[: -len(".txt")]
            for n in self._text.list_templates(extensions=["txt"])
            if not n.startswith("_") and "/" not in n
        )

    def languages(self) -> frozenset[str]:
        """The languages there are templates in: English, and every folder named by a language
        tag that holds a text template. Looked up again at most every RELOAD_SECONDS."""
        if self._languages is None:
            found = {DEFAULT_LANGUAGE}
            for name in self._text.list_templates(extensions=["txt"]):
                folder, slash, _ = name.partition("/")
                if slash and language_tag(folder) == folder:
                    found.add(folder)
            self._languages = frozenset(found)
        return self._languages

    def language_of(self, name: str, language: str) -> str:
        """The language template NAME is written in for a reply in LANGUAGE: LANGUAGE when a
        template exists in it, else English."""
        if language == DEFAULT_LANGUAGE or language not in self.languages():
            return DEFAULT_LANGUAGE
        try:
            self._template(self._text, f"{language}/{name}.txt")
        except jinja2.TemplateNotFound as exc:
            if exc.name == f"{language}/{name}.txt":
                return DEFAULT_LANGUAGE
            # An included part is missing: render() reports it with the file that needs it.
        except jinja2.TemplateError:
            pass  # render() reports it
        return language

    def is_overridden(self, file_name: str) -> bool:
        """Whether the overrides folder has this file (`issued.txt`, `de/issued.html`)."""
        return self.override_dir is not None and (self.override_dir / file_name).is_file()

    def origin(self, file_name: str) -> str:
        """Where a template file comes from, as an admin would look for it."""
        if self.override_dir is not None and self.is_overridden(file_name):
            return str(self.override_dir / file_name)
        return f"the shipped template {file_name}"

    def render(
        self, name: str, context: Mapping[str, Any], language: str = DEFAULT_LANGUAGE
    ) -> tuple[str, str, str | None]:
        """(subject, text, html or None) for template NAME in LANGUAGE (English where NAME
        has no template in it); TemplateProblem when it fails."""
        if self.language_of(name, language) != DEFAULT_LANGUAGE:
            name = f"{language}/{name}"
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

    def _render(
        self,
        env: jinja2.Environment,
        file_name: str,
        context: Mapping[str, Any],
        optional: bool = False,
    ) -> str:
        try:
            return self._template(env, file_name).render(context)
        except jinja2.TemplateNotFound as exc:
            if optional and exc.name == file_name:
                raise _Absent from None
            missing = exc.name or file_name
            where = (
                f" (searched {self.override_dir} and the shipped templates)"
                if self.override_dir is not None
                else ""
            )
            raise TemplateProblem(
                f"template {missing} does not exist{where}; it is needed for {file_name}"
            ) from None
        except jinja2.TemplateSyntaxError as exc:
            where = exc.filename or self.origin(exc.name or file_name)
            raise TemplateProblem(
                f"template {where} does not parse (line {exc.lineno}: "
                f"{exc.message}); fix it, or delete the override to use the "
                "shipped one"
            ) from None
        except jinja2.TemplateError as exc:
            raise TemplateProblem(
                f"template {self.origin(file_name)} does not render "
                f"({type(exc).__name__}: {exc}); fix it, or delete the "
                "override to use the shipped one"
            ) from None


class _Absent(Exception):
    """An optional template part (the HTML alternative) that does not exist."""
