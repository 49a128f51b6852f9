"""A webhook receiver that keeps what it is sent (pytest plugin, loaded from tests/conftest.py).

`http.server` on a free 127.0.0.1 port, in its own thread; each test gets a fresh one. It
records every POST (path, headers, body) and answers 200, or what the test asks:
`answer(500)` for every request until told otherwise; `on_post` is called with each post
before it is answered; `stop()` / `start()` take it away (connection refused) and bring it
back on the same port.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Posted:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int  # the status it was given


class WebhookReceiver:
    def __init__(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((HOST, 0))
            self.port = int(sock.getsockname()[1])
        self.posts: list[Posted] = []
        self.status = 200
        self.on_post: Callable[[Posted], None] | None = None
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/hooks/mailbot"

    def answer(self, status: int) -> None:
        self.status = status

    def received(self) -> list[Posted]:
        """The posts it accepted (2xx)."""
        with self._lock:
            return [p for p in self.posts if 200 <= p.answered < 300]

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status = receiver.status
                post = Posted(self.path, dict(self.headers), body, status)
                if receiver.on_post is not None:
                    receiver.on_post(post)
                with receiver._lock:
                    receiver.posts.append(post)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer((HOST, self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    receiver.start()
    yield receiver
    receiver.stop()
