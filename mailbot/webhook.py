"""The Stripe webhook endpoint: `POST /stripe/webhook`, behind a reverse proxy.

Webhooks only make the sync faster; the scheduled sync reads the Events API anyway, so a
missed or refused delivery costs minutes, never an order. The endpoint therefore trusts
nothing it is sent: it verifies the signature with the stripe library, keeps only the event
id, queues it in the store and answers 200 at once. A background thread (and the scheduled
sync of `mailbot run`, should this process stop first) fetches each queued event again from
Stripe with the restricted read-only key, stores the current state of its orders, and runs the
same follow-ups as any sync (pay-link fulfilment, refund and dispute flags).

stdlib http.server: one small endpoint needs no framework. It binds to 127.0.0.1 by default;
TLS and the public name are the proxy's job. Strangers can reach it, so it holds no more than
WORKERS connections at a time (plus BACKLOG waiting; beyond that a connection gets 503 at
once), each read times out after READ_TIMEOUT seconds, and a connection is closed after
CONNECTION_SECONDS whatever it does: slow clients cost neither threads nor memory.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

from mailbot.adapters.orders.stripe import StripeOrders, StripeUnavailable, WebhookRejected
from mailbot.app import App
from mailbot.services.order_sync import process_webhook_events, queue_webhook_event
from mailbot.store import Store

log = logging.getLogger("mailbot.webhook")
PATH = "/stripe/webhook"
MAX_BODY = 1024 * 1024  # Stripe's events are a few kB; anything this big is not one
IDLE_POLL_SECONDS = 5.0  # the processor also looks at the queue this often (missed wake-ups)
RETRY_SECONDS = 30.0  # after Stripe failed a fetch
WORKERS = 8  # connections served at once
BACKLOG = 32  # accepted and waiting for a worker; more get 503
READ_TIMEOUT = 10.0  # seconds one read from a client may take
CONNECTION_SECONDS = 30.0  # a connection's whole life, however slowly it trickles
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 10\r\nContent-Length: 0\r\n"
    b"Connection: close\r\n\r\n"
)


class BoundedHTTPServer(HTTPServer):
    """An HTTPServer with a fixed pool of worker threads, a bounded queue in front of it, and a
    reaper that closes connections older than CONNECTION_SECONDS."""

    # Accepted at once (and answered 503 when full) rather than left to the kernel's queue,
    # where a flood would make real deliveries wait for SYN retries.
    request_queue_size = 256

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        workers: int = WORKERS,
        backlog: int = BACKLOG,
        lifetime: float = CONNECTION_SECONDS,
    ) -> None:
        super().__init__(address, handler)
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="webhook-worker")
        self._slots = threading.BoundedSemaphore(workers + backlog)
        self._lifetime = lifetime
        self._open: dict[socket.socket, float] = {}
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._reaper = threading.Thread(target=self._reap, name="webhook-reaper", daemon=True)
        self._reaper.start()

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            try:
                request.sendall(_BUSY)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        with self._lock:
            self._open[request] = time.monotonic()
        self._pool.submit(self._serve, request, client_address)

    def _serve(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:  # noqa: BLE001 - one client's trouble stays with that client
            log.debug("webhook connection failed", exc_info=True)
        finally:
            with self._lock:
                self._open.pop(request, None)
            self.shutdown_request(request)
            self._slots.release()

    def _reap(self) -> None:
        while not self._closing.wait(1.0):
            now = time.monotonic()
            with self._lock:
                old = [s for s, started in self._open.items() if now - started > self._lifetime]
            for sock in old:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def server_close(self) -> None:
        self._closing.set()
        super().server_close()
        self._pool.shutdown(wait=False, cancel_futures=True)


class WebhookServer:
    """The HTTP endpoint plus the thread that processes what it queued.

    `app` is used by the processor thread only; request handlers write through their own
    store connection under a lock, so the two never share a SQLite connection."""

    def __init__(
        self,
        app: App,
        secret: str,
        host: str = "127.0.0.1",
        port: int = 8787,
        *,
        process: bool = True,
    ) -> None:
        self.app = app
        self._secret = secret
        self._process = process
        self._queue_store = Store.open(app.settings.store_path)
        self._queue_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self.httpd = BoundedHTTPServer((host, port), _handler_for(self))

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        if isinstance(host, bytes):
            host = host.decode()
        return f"http://{host}:{port}{PATH}"

    def start(self) -> WebhookServer:
        """Serve and process in background threads; returns at once."""
        serve = threading.Thread(target=self.httpd.serve_forever, name="webhook-http", daemon=True)
        self._threads.append(serve)
        if self._process:
            self._threads.append(
                threading.Thread(target=self._processor, name="webhook-processor", daemon=True)
            )
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        self.httpd.shutdown()
        for thread in self._threads:
            thread.join(30)
        self._threads.clear()
        self.httpd.server_close()
        self._queue_store.close()

    def __enter__(self) -> WebhookServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- receiving ------------------------------------------------------------------------

    def receive(self, body: bytes, signature: str) -> tuple[int, dict[str, Any]]:
        """Verify and queue one delivery; (HTTP status, JSON answer)."""
        try:
            event_id = StripeOrders.verify_webhook(body, signature, self._secret)
        except WebhookRejected as exc:
            log.warning("webhook refused", extra={"error": str(exc)})
            return HTTPStatus.BAD_REQUEST, {"error": str(exc)}
        with self._queue_lock:
            new = queue_webhook_event(self._queue_store, event_id, self.app.clock.now())
        log.info("webhook queued", extra={"event": event_id, "new": new})
        self._wake.set()
        return HTTPStatus.OK, {"received": True, "id": event_id}

    # -- processing -----------------------------------------------------------------------

    def _processor(self) -> None:
        wait = 0.0
        while not self._stopping.is_set():
            self._wake.wait(wait)
            self._wake.clear()
            if self._stopping.is_set():
                return
            wait = IDLE_POLL_SECONDS
            try:
                while process_webhook_events(self.app):
                    pass
            except StripeUnavailable as exc:
                log.warning(
                    "Stripe unavailable; queued webhook events wait", extra={"error": str(exc)}
                )
                wait = RETRY_SECONDS
            except Exception as exc:  # noqa: BLE001 - keep serving; the sync job catches up
                log.error("processing webhook events failed", extra={"error": str(exc)})
                wait = RETRY_SECONDS


def _handler_for(server: WebhookServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "mailbot-webhook"
        sys_version = ""
        timeout = READ_TIMEOUT  # every read from the client

        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            if self.path.split("?", 1)[0] != PATH:
                self._answer(HTTPStatus.NOT_FOUND, {"error": "not found"})
                return
            try:
                length = int(self.headers.get("Content-Length") or "")
            except ValueError:
                self._answer(HTTPStatus.LENGTH_REQUIRED, {"error": "Content-Length required"})
                return
            if length < 0 or length > MAX_BODY:
                self._answer(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "too large"})
                return
            body = self.rfile.read(length)
            try:
                status, answer = server.receive(body, self.headers.get("Stripe-Signature", ""))
            except Exception as exc:  # noqa: BLE001 - Stripe retries a 500 later
                log.error("webhook could not be queued", extra={"error": str(exc)})
                status, answer = HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "try again"}
            self._answer(status, answer)

        def do_GET(self) -> None:  # noqa: N802
            self._answer(HTTPStatus.METHOD_NOT_ALLOWED, {"error": "POST only"})

        def _answer(self, status: int, answer: dict[str, Any]) -> None:
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            log.debug("webhook http: " + format, *args)

    return Handler
