"""The offline host cannot be exhausted by one client: a body over the cap is refused unread,
an idle connection is closed, and connections beyond the cap get a 503 at once.

The server runs in-process with no model loaded: these limits sit in front of every route."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from offline_ollama.scheduler import Scheduler
from offline_ollama.server import OllamaHTTPServer


@pytest.fixture
def server() -> Iterator[OllamaHTTPServer]:
    srv = OllamaHTTPServer(
        ("127.0.0.1", 0),
        Scheduler({}, max_queue=4),
        log=lambda _line: None,
        max_body_bytes=1024,
        idle_timeout=0.5,
        max_connections=2,
    )
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(5)


def url(server: OllamaHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_port}"


def connect(server: OllamaHTTPServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.server_port), timeout=5)


def read_response(sock: socket.socket) -> str:
    """The whole response: these answers close the connection after them."""
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    return data.decode()


def test_a_body_over_the_cap_is_refused_without_being_read(server: OllamaHTTPServer) -> None:
    with connect(server) as sock:
        # Announce 10 MB, send none of it: the answer must come anyway, and at once.
        sock.sendall(b"POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n")
        started = time.monotonic()
        head = read_response(sock)
        assert head.startswith("HTTP/1.1 413")
        assert time.monotonic() - started < 0.4  # well before the idle timeout
        assert "request body too large" in head
    small = httpx.post(f"{url(server)}/api/chat", content=b"{}", timeout=5)
    assert small.status_code == 400  # within the cap: read and answered by the route


def test_a_bad_content_length_is_a_400(server: OllamaHTTPServer) -> None:
    with connect(server) as sock:
        sock.sendall(b"POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n")
        assert read_response(sock).startswith("HTTP/1.1 400")


def test_an_idle_connection_is_closed(server: OllamaHTTPServer) -> None:
    with connect(server) as sock:
        started = time.monotonic()
        assert sock.recv(1) == b""  # the server hung up: nothing was ever sent
        assert 0.3 < time.monotonic() - started < 4


def test_a_slow_body_does_not_hold_the_thread(server: OllamaHTTPServer) -> None:
    with connect(server) as sock:
        sock.sendall(b"POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        started = time.monotonic()
        assert sock.recv(4096) == b""
        assert time.monotonic() - started < 4


def test_connections_beyond_the_cap_get_a_503_at_once(server: OllamaHTTPServer) -> None:
    held = [connect(server), connect(server)]
    try:
        time.sleep(0.1)  # both accepted and each holding a thread
        with connect(server) as third:
            third.sendall(b"GET /api/version HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = read_response(third)
        assert answer.startswith("HTTP/1.1 503")
        assert json.loads(answer.split("\r\n\r\n", 1)[1]) == {
            "error": "server busy: too many connections"
        }
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.2)  # the held threads notice the close and free their places
    assert httpx.get(f"{url(server)}/api/version", timeout=5).status_code == 200
