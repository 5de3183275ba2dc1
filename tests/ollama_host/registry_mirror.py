"""A local stand-in for the Ollama registry (OCI distribution: manifests and blobs by digest),
for fetching tests that never touch the network. It can cut a download short once, or serve
other bytes than the manifest promises."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

MODEL_MEDIA_TYPE = "application/vnd.ollama.image.model"


@dataclass
class Mirror:
    repository: str
    tag: str
    blob: Path
    digest: str
    size: int
    url: str = ""
    cut_after: int | None = None  # stop the next blob response after this many bytes
    corrupt: bool = False  # flip a byte of every blob response
    requests: list[tuple[str, str]] = field(default_factory=list)  # (path, Range header)

    @property
    def pin(self) -> str:
        """The OFFLINE_OLLAMA_PIN value for what this mirror serves."""
        return f"gemma3:1b={self.digest}:{self.size}"


def _handler(mirror: Mirror) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            mirror.requests.append((self.path, self.headers.get("Range", "")))
            if self.path == f"/v2/{mirror.repository}/manifests/{mirror.tag}":
                body = json.dumps(
                    {
                        "schemaVersion": 2,
                        "layers": [
                            {
                                "mediaType": MODEL_MEDIA_TYPE,
                                "digest": mirror.digest,
                                "size": mirror.size,
                            },
                            {
                                "mediaType": "application/vnd.ollama.image.license",
                                "digest": "sha256:" + "0" * 64,
                                "size": 1,
                            },
                        ],
                    }
                ).encode()
                self._send(200, body, {"Content-Type": "application/json"})
            elif self.path == f"/v2/{mirror.repository}/blobs/{mirror.digest}":
                self._blob()
            else:
                self._send(404, b"not found", {})

        def _blob(self) -> None:
            start = 0
            if match := re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", "")):
                start = int(match.group(1))
            data = mirror.blob.read_bytes()[start:]
            if mirror.corrupt and data:
                data = bytes([data[0] ^ 0xFF]) + data[1:]
            headers = {"Content-Type": "application/octet-stream"}
            status = 200
            if start:
                status = 206
                headers["Content-Range"] = f"bytes {start}-{mirror.size - 1}/{mirror.size}"
            cut, mirror.cut_after = mirror.cut_after, None
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data if cut is None else data[:cut])
            if cut is not None:
                self.close_connection = True

        def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@contextmanager
def serving(blob: Path, repository: str = "library/gemma3", tag: str = "1b") -> Iterator[Mirror]:
    digest = "sha256:" + hashlib.sha256(blob.read_bytes()).hexdigest()
    mirror = Mirror(repository, tag, blob, digest, blob.stat().st_size)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(mirror))
    server.daemon_threads = True
    mirror.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield mirror
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
