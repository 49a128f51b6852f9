"""A console over a test site, driven in-process through Starlette's TestClient."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from mailbot.services import staff_accounts
from mailbot.web.console import create_app
from tests.staff_env import Env, make_env

PASSWORD = "correct horse battery"
_HIDDEN = re.compile(r'name="(csrf|login_token)" value="([^"]+)"')


@dataclass
class Console:
    env: Env
    client: TestClient

    def login(self, name: str, password: str = PASSWORD, next_: str = "/") -> Any:
        page = self.client.get("/login", params={"next": next_})
        token = dict(_HIDDEN.findall(page.text))["login_token"]
        return self.client.post(
            "/login",
            data={"name": name, "password": password, "login_token": token, "next": next_},
            follow_redirects=False,
        )

    def csrf(self, path: str = "/queue") -> str:
        """The CSRF token of the logged-in session, as a page of the console carries it."""
        return dict(_HIDDEN.findall(self.client.get(path).text))["csrf"]

    def post(self, path: str, data: dict[str, str] | None = None, **kw: Any) -> Any:
        form = {"csrf": self.csrf(), **(data or {})}
        return self.client.post(path, data=form, follow_redirects=False, **kw)


def make_console(tmp_path: Path, orders: list[str] | None = None, **sections: Any) -> Console:
    env = make_env(tmp_path, orders or [], **sections)
    now = env.clock.now()
    for name, role in (("sam", "support"), ("fin", "finance"), ("ada", "admin")):
        staff_accounts.add(env.store, name, role, PASSWORD, now, email=f"{name}@amphis.example")
    client = TestClient(create_app(env.app), base_url="http://testserver")
    return Console(env, client)
