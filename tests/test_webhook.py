"""The webhook endpoint faces strangers: slow or stalled clients cost a bounded number of
threads and are cut off, and a real delivery still gets through."""

from __future__ import annotations

import socket
import threading
import time
import urllib.request
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler

from mailbot import webhook
from mailbot.webhook import BoundedHTTPServer


class _Echo(BaseHTTPRequestHandler):
    timeout = 1.0

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


def test_slow_clients_cost_bounded_threads_and_a_real_request_gets_through() -> None:
    server = BoundedHTTPServer(("127.0.0.1", 0), _Echo, workers=4, backlog=8, lifetime=3.0)
    serve = threading.Thread(target=server.serve_forever, daemon=True)
    serve.start()
    port = server.server_address[1]
    before = threading.active_count()
    stalled = []
    try:
        for _ in range(300):  # each sends half a request line and then nothing
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(b"GET / HT")
            stalled.append(sock)
        time.sleep(0.5)
        assert threading.active_count() - before <= 4 + 1, threading.active_count() - before
        refused = 0
        for sock in stalled[-50:]:
            sock.settimeout(2)
            try:
                refused += b"503" in sock.recv(100)
            except OSError:
                pass
        assert refused >= 40  # beyond the workers and the backlog: 503 at once
        # The stalled ones time out (each read may take 1 s); then a real request is served.
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as answer:
                    assert answer.read() == b"ok"
                break
            except OSError:
                assert time.monotonic() < deadline, "a real request never got through"
                time.sleep(0.2)
    finally:
        for sock in stalled:
            sock.close()
        server.shutdown()
        server.server_close()


def test_a_trickling_client_is_cut_off_after_its_lifetime() -> None:
    class Slow(_Echo):
        timeout = 5.0  # each byte arrives well within a read timeout...

    server = BoundedHTTPServer(("127.0.0.1", 0), Slow, workers=2, backlog=2, lifetime=1.5)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sock = socket.create_connection(("127.0.0.1", server.server_address[1]))
    started = time.monotonic()
    try:
        closed = False
        for byte in b"GET / HTTP/1.1\r\nX-Slow: " + b"a" * 100:
            try:
                sock.sendall(bytes([byte]))
                if sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b"":
                    closed = True
                    break
            except BlockingIOError:
                pass
            except OSError:
                closed = True
                break
            time.sleep(0.1)
        assert closed, "the connection was never closed"
        lasted = time.monotonic() - started
        assert 1.0 < lasted < 5, lasted  # ...but the whole connection may not last
    finally:
        sock.close()
        server.shutdown()
        server.server_close()


def test_the_webhook_server_uses_the_bounded_server() -> None:
    assert webhook.WORKERS <= 16 and webhook.READ_TIMEOUT <= 30
    assert issubclass(BoundedHTTPServer, webhook.HTTPServer)
