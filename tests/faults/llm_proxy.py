"""A fault-injecting HTTP proxy in front of an Ollama-API host (loopback only).

Everything is forwarded unchanged, except `POST /api/chat` calls whose user message carries
a fault marker, e.g. ``[faults:503,stall]``: the first call for that message gets the first
fault, the second call the second, and so on; later calls are forwarded. Faults:

* ``503`` - answered ``503 {"error": "server busy"}`` at once, as Ollama does when its queue
  is full;
* ``stall`` - held for `stall_seconds` without an answer (longer than the worker's time to
  first token), then the connection is closed;
* ``midstall`` - a streamed answer that starts (two tokens) and then stops producing for
  `stall_seconds`, then the connection is closed: a host that hangs mid-answer.

Streamed answers (``"stream": true``, the worker's kind) are relayed line by line as the host
writes them, each token after `token_seconds` more (a host made slow on purpose); a caller that
goes away mid-answer closes the upstream connection, as a real client's disconnect would.

Markers make the injected share exact and repeatable: the test decides which documents get
which faults, and no document gets more failures than the worker's retries can absorb.

When the upstream host is down (killed), the proxy closes the client's connection without an
answer, which the `ollama` client sees as a transport error, like a refused connection. Every
chat call is recorded (its user message and what happened), so tests can count LLM calls per
document.

Within `answering(text)`, a chat call without a fault is answered at once with `text`, in
Ollama's reply shape, instead of being forwarded: for tests about queues and accounting rather
than the model, where CPU-bound generation would only make them slow.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import re
import select
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

# What a made-up answer says, given the call's options (e.g. the output guard's retry differs).
Answer = Callable[[dict[str, Any]], str]

MARKER = re.compile(r"\[faults:([a-z0-9,]+)\]")
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}
FAULTS = ("503", "stall", "midstall")


@dataclass(frozen=True)
class ChatCall:
    user: str  # the user message: the document text (with its title line)
    # "ok", "503", "stall", "upstream-down", "upstream-error:<status>", "caller-gone"
    outcome: str
    seconds: float
    # The request's options, as sent: the output guard's retry of a call changes them.
    options: str = ""


@dataclass
class ProxyState:
    calls: list[ChatCall] = field(default_factory=list)
    attempts: Counter[str] = field(default_factory=Counter)  # per user-message digest
    in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Set: chat calls are answered with it (given the call's options), nothing is forwarded.
    instant_answer: Answer | None = None
    answer_seconds: float = 0.0  # how long the made-up answer takes (a model's time)
    # Added before each token of a streamed answer (made up or relayed): a slow host.
    token_seconds: float = 0.0
    # Made-up answers served at most this many at once (None: no limit): a host's slots.
    slots: threading.Semaphore | None = None

    def outcomes(self) -> Counter[str]:
        with self.lock:
            return Counter(call.outcome for call in self.calls)

    def calls_for(self, tag: str) -> list[ChatCall]:
        """Chat calls whose user message contains `tag` (a document's unique tag)."""
        with self.lock:
            return [call for call in self.calls if tag in call.user]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    upstream: tuple[str, int]
    stall_seconds: float
    state: ProxyState
    closing: threading.Event


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._forward(self._read_body())

    def do_HEAD(self) -> None:
        self._forward(b"")

    def do_DELETE(self) -> None:
        self._forward(self._read_body())

    def do_POST(self) -> None:
        body = self._read_body()
        if self.path.split("?", 1)[0] != "/api/chat":
            self._forward(body)
            return
        user = _user_message(body)
        options = _options(body)
        digest = hashlib.sha256(user.encode()).hexdigest()
        state = self.server.state
        with state.lock:
            attempt = state.attempts[digest]
            state.attempts[digest] += 1
        marker = MARKER.search(user)
        planned = marker.group(1).split(",") if marker else []
        fault = planned[attempt] if attempt < len(planned) else None
        if fault is not None:
            # Recorded when decided: a stall outlives the caller's timeout, and the retry it
            # causes may settle the document before the stall ends.
            with state.lock:
                state.calls.append(ChatCall(user, fault, 0.0, options))
            if fault == "503":
                self._reply(503, b'{"error":"server busy, please try again"}')
            elif fault == "midstall":
                self._midstall(body)
            else:
                self.server.closing.wait(self.server.stall_seconds)
                self.close_connection = True
            return
        started = time.perf_counter()
        answer = state.instant_answer
        if answer is None:
            outcome = self._forward(body)
        else:
            outcome = self._answer(body, answer(json.loads(options or "null") or {}))
        with state.lock:
            state.calls.append(ChatCall(user, outcome, time.perf_counter() - started, options))

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _reply(self, status: int, body: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            self.close_connection = True

    def _answer(self, body: bytes, text: str) -> str:
        """Ollama's chat reply with `text`, made up here: its first token after
        `answer_seconds`; streamed a word per token (each after `token_seconds`) when the
        request streams, else in one piece."""
        state = self.server.state
        slots = state.slots
        if slots is not None:  # a host with that many slots: the others wait their turn
            while not slots.acquire(timeout=0.1):
                if _caller_closed(self.connection):  # dropped from the queue, as Ollama does
                    self.close_connection = True
                    return "caller-gone"
        try:
            return self._made_up(body, text)
        finally:
            if slots is not None:
                slots.release()

    def _made_up(self, body: bytes, text: str) -> str:
        state = self.server.state
        request = _request(body)
        if state.answer_seconds:
            self.server.closing.wait(state.answer_seconds)
        prompt = _prompt(request)
        reply = {
            **_part(request, text, done=True),
            "done_reason": "stop",
            "total_duration": 1_000_000,
            # A plausible count (about four characters a token), inside the call's num_ctx.
            "prompt_eval_count": len(prompt) // 4,
            "eval_count": len(text) // 4,
        }
        if request.get("stream") is False:
            self._reply(200, json.dumps(reply).encode())
            return "ok"
        try:
            self._start_stream()
            for i, word in enumerate(re.findall(r"\S+\s*", text)):
                if i and state.token_seconds:
                    self.server.closing.wait(state.token_seconds)
                self._chunk(_part(request, word, done=False))
            self._chunk({**reply, "message": {"role": "assistant", "content": ""}})
            self._chunk(None)
        except OSError:
            self.close_connection = True
            return "caller-gone"
        return "ok"

    def _midstall(self, body: bytes) -> None:
        request = _request(body)
        try:
            self._start_stream()
            for word in ("Two ", "tokens"):
                self._chunk(_part(request, word, done=False))
        except OSError:
            pass
        self.server.closing.wait(self.server.stall_seconds)
        self.close_connection = True

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _chunk(self, part: dict[str, Any] | bytes | None) -> None:
        """One chunk of a chunked body (a dict: one ndjson line; None: the last, empty one)."""
        data = json.dumps(part).encode() + b"\n" if isinstance(part, dict) else part or b""
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _forward(self, body: bytes) -> str:
        host, port = self.server.upstream
        state = self.server.state
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        connection = http.client.HTTPConnection(host, port, timeout=600)
        with state.lock:
            state.in_flight += 1
        # While the host works on it (no token yet), a caller that gives up must reach the
        # host as a real client's disconnect would: the upstream connection is closed.
        waiting = threading.Event()
        gone = threading.Event()
        watcher = threading.Thread(
            target=_watch_caller, args=(self.connection, connection, waiting, gone), daemon=True
        )
        try:
            connection.request(self.command, self.path, body=body or None, headers=headers)
            waiting.set()
            watcher.start()
            response = connection.getresponse()
            waiting.clear()
            if response.status == 200 and response.chunked:
                return self._relay(response)
            payload = response.read()
        except (OSError, http.client.HTTPException):  # refused, reset or cut mid-answer:
            self.close_connection = True  # the host is down or was killed
            return "caller-gone" if gone.is_set() else "upstream-down"
        finally:
            waiting.clear()
            connection.close()  # a caller gone mid-stream: the host sees its client go
            with state.lock:
                state.in_flight -= 1
        outcome = "ok" if response.status == 200 else f"upstream-error:{response.status}"
        try:
            self.send_response(response.status)
            for key, value in response.getheaders():
                if key.lower() not in _HOP_BY_HOP and key.lower() != "content-length":
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
        except OSError:  # the caller is gone (its consumer was killed): nobody to answer
            self.close_connection = True
            return "caller-gone"
        return outcome

    def _relay(self, response: http.client.HTTPResponse) -> str:
        """A streamed answer, line by line as the host writes it (each token `token_seconds`
        later: a slow host). Raises OSError when the host goes down mid-answer."""
        delay = self.server.state.token_seconds
        try:
            self._start_stream()
        except OSError:
            self.close_connection = True
            return "caller-gone"
        while line := response.readline():
            if delay:
                self.server.closing.wait(delay)
            try:
                self._chunk(line)
            except OSError:
                self.close_connection = True
                return "caller-gone"
        try:
            self._chunk(None)
        except OSError:
            self.close_connection = True
            return "caller-gone"
        return "ok"


def _watch_caller(
    caller: socket.socket,
    upstream: http.client.HTTPConnection,
    waiting: threading.Event,
    gone: threading.Event,
) -> None:
    """While `waiting`: once the caller has closed its connection (readable, nothing to
    read), shut the upstream connection down, which ends the pending read of the answer."""
    while waiting.is_set():
        if _caller_closed(caller, wait=0.1) and waiting.is_set():
            gone.set()
            with contextlib.suppress(OSError, AttributeError):
                upstream.sock.shutdown(socket.SHUT_RDWR)  # type: ignore[union-attr]
            return


def _caller_closed(caller: socket.socket, wait: float = 0.0) -> bool:
    """The caller closed its connection: readable within `wait`, and nothing to read. (Bytes
    to read are a next request: not gone.)"""
    readable, _, _ = select.select([caller], [], [], wait)
    if not readable:
        return False
    try:
        return caller.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def _request(body: bytes) -> dict[str, Any]:
    try:
        request = json.loads(body)
    except ValueError:
        return {}
    return request if isinstance(request, dict) else {}


def _prompt(request: dict[str, Any]) -> str:
    messages = request.get("messages")
    return "".join(str(m.get("content", "")) for m in messages or [] if isinstance(m, dict))


def _part(request: dict[str, Any], text: str, *, done: bool) -> dict[str, Any]:
    """One part of Ollama's chat answer."""
    return {
        "model": str(request.get("model", "")),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "message": {"role": "assistant", "content": text},
        "done": done,
    }


def _options(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    options = data.get("options") if isinstance(data, dict) else None
    return json.dumps(options, sort_keys=True)


def _user_message(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    messages = data.get("messages") if isinstance(data, dict) else None
    if not isinstance(messages, list):
        return ""
    return "\n".join(
        str(m.get("content", ""))
        for m in messages
        if isinstance(m, dict) and m.get("role") == "user"
    )


class FaultProxy:
    """The proxy on a free loopback port, served by a daemon thread. Use as a context manager."""

    def __init__(self, upstream_url: str, stall_seconds: float) -> None:
        parts = urlsplit(upstream_url)
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.upstream = (parts.hostname or "127.0.0.1", parts.port or 11434)
        self.server.stall_seconds = stall_seconds
        self.server.state = ProxyState()
        self.server.closing = threading.Event()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )

    @property
    def state(self) -> ProxyState:
        return self.server.state

    @contextlib.contextmanager
    def answering(
        self,
        answer: str | Answer,
        seconds: float = 0.0,
        token_seconds: float = 0.0,
        slots: int | None = None,
    ) -> Iterator[None]:
        """Chat calls answered with `answer` (a text, or a text chosen by the call's options)
        after `seconds` (faults still apply), a word per token every `token_seconds` when
        streamed, at most `slots` at once (the others queue, and leave the queue when their
        caller goes), then forwarded again. A fixed time per call makes deadline tests exact."""
        chosen = answer if callable(answer) else (lambda _options, text=answer: text)
        state = self.state
        state.instant_answer, state.answer_seconds = chosen, seconds
        state.token_seconds = token_seconds
        state.slots = threading.Semaphore(slots) if slots else None
        try:
            yield
        finally:
            state.instant_answer, state.answer_seconds, state.token_seconds = None, 0.0, 0.0
            state.slots = None

    @contextlib.contextmanager
    def slowed(self, token_seconds: float) -> Iterator[None]:
        """Every relayed streamed answer gets `token_seconds` more per token: a slow host."""
        self.state.token_seconds = token_seconds
        try:
            yield
        finally:
            self.state.token_seconds = 0.0

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.closing.set()  # ends stalls at once
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(10)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
