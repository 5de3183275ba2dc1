"""A webhook receiver for the tests: a loopback HTTP server that verifies each request with the
Standard Webhooks library (as a client's receiver would), answers from a script and records
what it accepted."""

from __future__ import annotations

import contextlib
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError

# Each step: a status code, ("hang", seconds), ("redirect", location) or ("big", bytes).
Step = int | tuple[str, Any]


@dataclass
class Receiver:
    secret: str
    script: list[Step] = field(default_factory=list)
    attempts: list[dict[str, str]] = field(default_factory=list)  # headers of every request
    accepted: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (webhook-id, body)
    rejected: list[str] = field(default_factory=list)  # verification errors
    # The HEAD probe at submission: its own script (default 405, as a POST-only receiver
    # answers) and the headers of every probe; probes are never deliveries.
    probe_script: list[Step] = field(default_factory=list)
    probes: list[dict[str, str]] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def accepted_ids(self) -> list[str]:
        with self.lock:
            return [webhook_id for webhook_id, _ in self.accepted]

    def accept(self, webhook_id: str, payload: dict[str, Any]) -> None:
        """Receivers dedupe on webhook-id: a repeat is answered but not accepted twice."""
        with self.lock:
            if all(webhook_id != seen for seen, _ in self.accepted):
                self.accepted.append((webhook_id, payload))

    def wait_for(self, accepted: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.accepted) >= accepted:
                    return True
            time.sleep(0.05)
        return False


@contextlib.contextmanager
def running_receiver(
    secret: str,
    script: list[Step] | None = None,
    tls: ssl.SSLContext | None = None,
    probe_script: list[Step] | None = None,
) -> Iterator[Receiver]:
    """`tls`: serve https with this server context (the URL then says https)."""
    receiver = Receiver(secret, list(script or []), probe_script=list(probe_script or []))
    verifier = Webhook(secret)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            with receiver.lock:
                receiver.attempts.append(headers)
                step = receiver.script.pop(0) if receiver.script else 204
            if isinstance(step, tuple):
                self._scripted(*step)
                return
            if step >= 300:
                self._answer(step)
                return
            try:
                payload = verifier.verify(body, headers)
            except WebhookVerificationError as exc:
                with receiver.lock:
                    receiver.rejected.append(str(exc))
                self._answer(400)
                return
            receiver.accept(headers["webhook-id"], payload)
            self._answer(step)

        def do_HEAD(self) -> None:
            with receiver.lock:
                receiver.probes.append({k.lower(): v for k, v in self.headers.items()})
                step = receiver.probe_script.pop(0) if receiver.probe_script else 405
            if isinstance(step, tuple):
                self._scripted(*step)
                return
            self._answer(step)

        def _scripted(self, kind: str, arg: Any) -> None:
            """A script step other than a status: hang, redirect or an oversized answer."""
            if kind == "hang":
                time.sleep(arg)
                self._answer(204)
            elif kind == "redirect":
                self._answer(302, {"Location": arg})
            elif kind == "big":
                self._answer(200, body=b"x" * arg)

        def _answer(
            self, status: int, headers: dict[str, str] | None = None, body: bytes = b""
        ) -> None:
            with contextlib.suppress(OSError):
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    scheme = "http"
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    receiver.url = f"{scheme}://127.0.0.1:{server.server_address[1]}/hooks/docsum"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
