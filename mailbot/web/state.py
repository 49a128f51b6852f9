"""What the console's requests share: the App, the page renderer and the login brake."""

from __future__ import annotations

from dataclasses import dataclass, field

from mailbot.app import App
from mailbot.web.pages import Pages
from mailbot.web.security import LoginLimiter


@dataclass
class Console:
    app: App
    pages: Pages = field(default_factory=Pages)
    limiter: LoginLimiter = field(default_factory=LoginLimiter)
