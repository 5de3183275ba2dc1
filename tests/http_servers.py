"""Servers the tests run on loopback: the ingest app under uvicorn, and a small site of pages
(what `make up` lets documents be fetched from)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import uvicorn

from infra.local.processes import LOOPBACK, free_port

# path → (status, Content-Type, body); a 301/302 body is its Location.
Served = MutableMapping[str, tuple[int, str, bytes]]


@contextmanager
def serving_app(app: Any) -> Iterator[str]:
    """`app` under uvicorn on a free port: its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host=LOOPBACK, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://{LOOPBACK}:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def serving_pages(served: Served) -> Iterator[str]:
    """A site serving `served` (changes show at the next request; other paths are 404): its
    base URL."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            status, media_type, body = served.get(self.path, (404, "text/html", b"not here"))
            self.send_response(status)
            if status in (301, 302):
                self.send_header("Location", body.decode())
                body = b""
            self.send_header("Content-Type", media_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://{LOOPBACK}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
