"""An SMTP server that keeps what it receives (pytest plugin, loaded from tests/conftest.py).

aiosmtpd on a free 127.0.0.1 port, in its own thread. Each test gets a fresh server (starting
one takes milliseconds), so no state leaks between tests:

- `smtp_sink`: plain SMTP, no AUTH.
- `make_smtp_sink(starttls=..., implicit_tls=..., auth=...)`: a factory for the TLS and AUTH
  variants; every server it makes is stopped after the test. TLS uses the session's throwaway
  certificate (tests/servers/tls.py); the test trusts it with
  monkeypatch.setenv("SSL_CERT_FILE", str(sink.ca_file)).

Behaviour a test can steer: `fail_next(n, code=451)` answers the next n DATA commands with
`code`; `reject(address, code=550)` refuses that recipient at RCPT; `stop()` / `start()` take
the server away and bring it back on the same port.
"""

from __future__ import annotations

import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from mailbot.config import OutboxSettings
from tests.servers.tls import shared_certificate

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes  # the message bytes as the client sent them (after dot-unstuffing)
    peer: tuple[str, int]  # the client's address: one value per SMTP connection
    authenticated_as: str  # "" without AUTH


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class SmtpSink:
    """One aiosmtpd server and what it has received."""

    host = HOST

    def __init__(
        self,
        *,
        starttls: bool = False,
        implicit_tls: bool = False,
        auth: bool = False,
        secrets_dir: Path | None = None,
    ) -> None:
        self.port = _free_port()
        self.starttls = starttls
        self.implicit_tls = implicit_tls
        self.auth = auth
        self.username = "mailbot" if auth else ""
        self.password = secrets.token_urlsafe(12) if auth else ""
        self.password_file: Path | None = None
        if auth:
            if secrets_dir is None:
                raise ValueError("auth needs a folder for the password file")
            self.password_file = secrets_dir / f"smtp-{self.port}.password"
            self.password_file.write_text(self.password + "\n", encoding="utf-8")
            self.password_file.chmod(0o600)
        self.ca_file = shared_certificate().ca_file
        self._lock = threading.Condition()
        self._messages: list[Received] = []
        self._fail: list[int] = []  # codes for the next DATA commands
        self._rejected: dict[str, int] = {}
        self._controller: Controller | None = None

    # -- server life --------------------------------------------------------------------------

    def _server_context(self) -> Any:
        import ssl

        cert = shared_certificate()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert.cert_file, cert.key_file)
        return context

    def start(self) -> None:
        if self._controller is not None:
            return
        kwargs: dict[str, Any] = {"hostname": HOST, "port": self.port, "ready_timeout": 5.0}
        if self.starttls:
            kwargs["tls_context"] = self._server_context()
            kwargs["require_starttls"] = True
        if self.implicit_tls:
            kwargs["ssl_context"] = self._server_context()
        if self.auth:
            kwargs["authenticator"] = self._authenticate
            kwargs["auth_required"] = True
            # AUTH only over TLS, as real submission servers do (and aiosmtpd warns otherwise)
            kwargs["auth_require_tls"] = True
        controller = Controller(_Handler(self), **kwargs)
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    @property
    def running(self) -> bool:
        return self._controller is not None

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            ok = (
                auth_data.login.decode() == self.username
                and auth_data.password.decode() == self.password
            )
            return AuthResult(success=ok, handled=False, auth_data=auth_data)
        return AuthResult(success=False, handled=False)

    # -- behaviour ----------------------------------------------------------------------------

    def fail_next(self, n: int, code: int = 451) -> None:
        """Answer the next n DATA commands with `code` (4xx: try later, 5xx: never)."""
        with self._lock:
            self._fail.extend([code] * n)

    def reject(self, address: str, code: int = 550) -> None:
        """Refuse this recipient at RCPT TO."""
        with self._lock:
            self._rejected[address.lower()] = code

    def reset(self) -> None:
        with self._lock:
            self._messages.clear()
            self._fail.clear()
            self._rejected.clear()

    # -- what arrived -------------------------------------------------------------------------

    @property
    def messages(self) -> list[Received]:
        with self._lock:
            return list(self._messages)

    def connections(self) -> set[tuple[str, int]]:
        """Distinct client connections that delivered mail."""
        return {m.peer for m in self.messages}

    def wait_for(self, n: int, timeout: float = 5.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self._messages) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"SMTP sink got {len(self._messages)} message(s), expected {n}"
                    )
                self._lock.wait(left)
            return list(self._messages)

    def outbox_settings(self, **overrides: Any) -> OutboxSettings:
        security = "tls" if self.implicit_tls else "starttls" if self.starttls else "none"
        base = OutboxSettings(
            kind="smtp",
            host=self.host,
            port=self.port,
            security=security,
            from_address="support@amphis.example",
            username=self.username,
            password_file=self.password_file,
            timeout_seconds=5,
        )
        return base.model_copy(update=overrides)


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self._sink = sink

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        with self._sink._lock:
            code = self._sink._rejected.get(address.lower())
        if code is not None:
            return f"{code} {'5' if code >= 500 else '4'}.1.1 <{address}>: refused by the test"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        sink = self._sink
        with sink._lock:
            if sink._fail:
                code = sink._fail.pop(0)
                return f"{code} {'5' if code >= 500 else '4'}.3.0 failed by the test"
            login = session.auth_data
            peer: Any = session.peer  # (host, port) for TCP; typed loosely by aiosmtpd
            sink._messages.append(
                Received(
                    mail_from=str(envelope.mail_from),
                    rcpt_tos=tuple(envelope.rcpt_tos),
                    data=bytes(envelope.original_content or b""),
                    peer=(str(peer[0]), int(peer[1])),
                    authenticated_as=login.login.decode()
                    if isinstance(login, LoginPassword)
                    else "",
                )
            )
            sink._lock.notify_all()
        return "250 OK: queued"


@pytest.fixture
def make_smtp_sink(tmp_path: Path) -> Iterator[Callable[..., SmtpSink]]:
    """Factory: make_smtp_sink(starttls=False, implicit_tls=False, auth=False) -> running sink."""
    made: list[SmtpSink] = []

    def make(**options: Any) -> SmtpSink:
        sink = SmtpSink(secrets_dir=tmp_path, **options)
        sink.start()
        made.append(sink)
        return sink

    yield make
    for sink in made:
        sink.stop()


@pytest.fixture
def smtp_sink(make_smtp_sink: Callable[..., SmtpSink]) -> SmtpSink:
    """A running plain SMTP server for this test."""
    return make_smtp_sink()
