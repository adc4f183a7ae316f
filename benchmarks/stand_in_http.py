"""What both stand-ins (snapshot and restore) serve over HTTP besides their calls: ``GET /_stats`` (the app's
counters as JSON), quiet logs, and a threading server that holds its app."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class StatsHandler(BaseHTTPRequestHandler):
    """A handler whose server has an ``app`` with ``stats()``; subclasses add ``do_POST`` (and more)."""

    protocol_version = "HTTP/1.1"
    server: AppServer

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path.rstrip("/") == "/_stats":
            self._send(200, {"Content-Type": "application/json"}, json.dumps(self.server.app.stats()).encode())
        else:
            self._send(404, {"Content-Type": "text/plain"}, b"not found")

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass


class AppServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], handler: type[StatsHandler], app: Any, queue_size: int):
        self.request_queue_size = queue_size  # read by server_activate, during __init__
        super().__init__(address, handler)
        self.app = app
