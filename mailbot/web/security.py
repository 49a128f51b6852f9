"""What every response carries, and the brake on guessing passwords."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# No inline script or style anywhere: a customer's text that slipped into a page unescaped
# still could not run. Frames only from ourselves (the sandboxed mail view); nobody frames us.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


class SecurityHeaders:
    """ASGI middleware: the headers above on every HTTP response (a page may set a stricter
    CSP of its own, as the mail frame does); pages for staff are never cached."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope.get("path", "").startswith("/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(n, v) for n, v in HEADERS if n not in present]
                if not static and b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


class LoginLimiter:
    """At most `attempts` failed logins per `window` seconds, counted per client address and
    per account name: one address cannot try many names, nor many addresses one name."""

    def __init__(
        self,
        attempts: int = 5,
        window: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.attempts = attempts
        self.window = window
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str) -> deque[float]:
        now = self._clock()
        times = self._failures.setdefault(key, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def wait_seconds(self, client: str, name: str) -> float:
        """0 when a try is allowed; else how long until the oldest failure ages out."""
        waits = []
        for key in (f"ip:{client}", f"name:{name.lower()}"):
            times = self._recent(key)
            if len(times) >= self.attempts:
                waits.append(times[0] + self.window - self._clock())
        return max(waits, default=0.0)

    def failed(self, client: str, name: str) -> None:
        for key in (f"ip:{client}", f"name:{name.lower()}"):
            self._recent(key).append(self._clock())
        if len(self._failures) > 10_000:  # a flood of names: forget the oldest quiet ones
            for key in [k for k, v in self._failures.items() if not v][:5_000]:
                del self._failures[key]

    def succeeded(self, client: str, name: str) -> None:
        self._failures.pop(f"name:{name.lower()}", None)
