"""An HTTP server that speaks the part of Ollama's REST API the ``ollama`` client uses.

Standard library only (``ThreadingHTTPServer``): one thread per connection; generation runs in
that thread once the scheduler (``scheduler.py``) has given it a slot. It is a development host,
but `make up` serves it, so a client cannot exhaust it: connections are capped (beyond the cap
a 503 at once), an idle or slow connection times out, and a body over the cap is refused with
413 before it is read.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import select
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

from . import __version__
from .engine import Options, PromptTooLong, Stats
from .scheduler import (
    SHUTTING_DOWN_MESSAGE,
    ClientGone,
    HTTPError,
    Runner,
    Scheduler,
    now_iso,
    parse_keep_alive,
)

MAX_BODY_BYTES = 8 * 1024 * 1024  # a 128K-token prompt is ~0.5 MB of text
IDLE_TIMEOUT_SECONDS = 30.0
MAX_CONNECTIONS = 64
_BUSY = json.dumps({"error": "server busy: too many connections"}).encode()


class ClientWatch:
    """Has the client closed its connection? Ollama cancels a request whose connection closes
    (its request context ends); so does this host: a queued request leaves the queue, a
    generation stops at its next token, and the slot is free at once.

    While it waits for its answer an HTTP/1.1 client sends nothing (no pipelining), so a
    readable socket whose peek returns no bytes is a closed one; bytes (a pipelined request)
    mean the client is still there. One poll() per check: cheap enough for every token."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._poll = select.poll()
        self._poll.register(sock, select.POLLIN | select.POLLRDHUP)
        self.gone = False

    def __call__(self) -> bool:
        if not self.gone:
            self.gone = self._closed()
        return self.gone

    def _closed(self) -> bool:
        try:
            events = self._poll.poll(0)
            if not events:
                return False
            if any(
                mask & (select.POLLRDHUP | select.POLLHUP | select.POLLERR) for _, mask in events
            ):
                return True
            return self._sock.recv(1, socket.MSG_PEEK) == b""
        except OSError:  # reset by the peer, or closed under us
            return True


class OllamaHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        scheduler: Scheduler,
        default_num_ctx: int = 4096,
        log: Callable[[str], None] | None = None,
        *,
        max_body_bytes: int = MAX_BODY_BYTES,
        idle_timeout: float = IDLE_TIMEOUT_SECONDS,
        max_connections: int = MAX_CONNECTIONS,
        token_delay: float = 0.0,
    ) -> None:
        self.scheduler = scheduler
        self.default_num_ctx = default_num_ctx
        self.log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        self.max_body_bytes = max_body_bytes
        self.idle_timeout = idle_timeout
        self.token_delay = token_delay
        self._connections = threading.BoundedSemaphore(max_connections)
        super().__init__(address, Handler)
        self._reaper = threading.Thread(target=self._reap_loop, name="reaper", daemon=True)
        self._reaper.start()

    def process_request(self, request: Any, client_address: Any) -> None:
        # One thread per connection, but never more than the cap: beyond it, 503 at once.
        if not self._connections.acquire(blocking=False):
            with contextlib.suppress(OSError):
                request.sendall(
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(_BUSY)}\r\nConnection: close\r\n\r\n".encode()
                    + _BUSY
                )
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._connections.release()

    def finish_request(self, request: Any, client_address: Any) -> None:
        # Every read and write on the socket times out: an idle keep-alive connection or a
        # client that sends its body slowly cannot hold a thread forever.
        if isinstance(request, socket.socket):
            request.settimeout(self.idle_timeout)
        super().finish_request(request, client_address)

    def _reap_loop(self) -> None:
        while not self.scheduler.closing:
            time.sleep(0.5)
            self.scheduler.reap()

    def drain(self, grace: float) -> bool:
        """Stop admitting work, let in-flight requests finish for ``grace`` seconds, then abort
        the rest. Returns True if everything finished on its own."""
        sched = self.scheduler
        deadline = time.monotonic() + grace
        with sched.cond:
            sched.closing = True
            sched.cond.notify_all()
            while sched.inflight and time.monotonic() < deadline:
                sched.cond.wait(0.1)
            clean = sched.inflight == 0
            if not clean:
                sched.aborting = True
                for runner in sched.runners.values():
                    if runner.engine:
                        runner.engine.cancel_all()
            while sched.inflight and time.monotonic() < deadline + 10:
                sched.cond.wait(0.1)
            for runner in sched.runners.values():
                if runner.engine and runner.refs == 0:
                    runner.engine.close()
                    runner.engine = None
        return clean


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "offline-ollama/" + __version__

    def version_string(self) -> str:
        return self.server_version

    @property
    def app(self) -> OllamaHTTPServer:
        return cast(OllamaHTTPServer, self.server)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request is written by _dispatch

    # -- plumbing ------------------------------------------------------------------------------

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj: object) -> None:
        body = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()
        self._send(status, body, "application/json; charset=utf-8")

    def _start_stream(self) -> None:
        self._started_stream = True
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _chunk(self, obj: object) -> None:
        data = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _body(self) -> dict[str, Any]:
        raw = self._raw_body
        if not raw.strip():
            raise HTTPError(400, "missing request body")
        try:
            body = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise HTTPError(400, f"invalid character in request body: {exc.msg}") from None
        if not isinstance(body, dict):
            raise HTTPError(400, "request body must be a JSON object")
        return body

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        started = time.perf_counter()
        path = self.path.split("?", 1)[0]
        # Always consume the body, so a keep-alive connection stays in sync after an error;
        # but never one over the cap (refused unread, and the connection closed).
        raw_length = self.headers.get("Content-Length") or "0"
        length = int(raw_length) if raw_length.isdigit() else -1
        if length < 0 or length > self.app.max_body_bytes:
            self.close_connection = True
            status, message = (
                (413, "request body too large") if length > 0 else (400, "bad Content-Length")
            )
            self._json(status, {"error": message})
            self.app.log(f"[offline-ollama] {status} | {self.command} {path}")
            return
        try:
            self._raw_body = self.rfile.read(length) if length > 0 else b""
        except TimeoutError:
            self.close_connection = True
            self.app.log(
                f"[offline-ollama] 408 | body not received in time | {self.command} {path}"
            )
            return
        routes: dict[str, dict[str, Callable[[], None]]] = {
            "/": {"GET": self._root, "HEAD": self._root},
            "/api/version": {"GET": self._version, "HEAD": self._version},
            "/api/tags": {"GET": self._tags, "HEAD": self._tags},
            "/api/ps": {"GET": self._ps},
            "/api/show": {"POST": self._show},
            "/api/chat": {"POST": self._chat},
            "/api/generate": {"POST": self._generate},
            "/api/pull": {"POST": self._pull},
            "/offline-ollama/status": {"GET": self._status},
        }
        status = 200
        detail = ""
        self._started_stream = False
        self._slot_seconds: float | None = None
        self._stats: Stats | None = None
        try:
            if path not in routes:
                status = 404
                self._send(404, b"404 page not found", "text/plain")
            elif self.command not in routes[path]:
                status = 405
                self._send(405, b"405 method not allowed", "text/plain")
            else:
                routes[path][self.command]()
        except HTTPError as exc:
            status = exc.status
            self._json(exc.status, {"error": exc.message})
        except (BrokenPipeError, ConnectionResetError):
            status = 499
            self.close_connection = True
        except ClientGone as exc:
            status = 499
            self.close_connection = True
            detail = f" | {exc}"
        except Exception as exc:  # an engine failure must not kill the connection thread
            status = 500
            self.app.log(f"[offline-ollama] error: {exc!r}")
            if not self._started_stream:
                self._json(500, {"error": str(exc)})
            self.close_connection = True
        finally:
            # An inference request also says how long it held a slot (the model time it used,
            # which a 499 threw away) and its body's digest (a request made twice shows).
            held, slot = self._slot_seconds, ""
            if held is not None:
                tokens = self._stats.eval_count if self._stats else 0
                digest = hashlib.sha256(self._raw_body).hexdigest()[:12]
                slot = f" | slot {held:.3f}s | tokens {tokens} | req {digest}"
            self.app.log(
                f"[offline-ollama] {status} | {time.perf_counter() - started:8.3f}s | "
                f"{self.client_address[0]} | {self.command} {path}{slot}{detail}"
            )

    # -- simple endpoints ----------------------------------------------------------------------

    def _root(self) -> None:
        self._send(200, b"Ollama is running", "text/plain; charset=utf-8")

    def _version(self) -> None:
        self._json(200, {"version": __version__})

    def _tags(self) -> None:
        sched = self.app.scheduler
        models = []
        for runner in sched.runners.values():
            models.append(
                {
                    "name": runner.spec.name,
                    "model": runner.spec.name,
                    "modified_at": now_iso(runner.modified_at),
                    "size": runner.file_size,
                    "digest": runner.digest,
                    "details": runner.details(),
                }
            )
        self._json(200, {"models": models})

    def _status(self) -> None:
        """Not part of Ollama's API: slot and queue occupancy, for tests and operators."""
        sched = self.app.scheduler
        with sched.cond:
            models = {
                name: {
                    "loaded": r.engine is not None,
                    "slots": r.slots,
                    "busy": r.slots - len(r.free),
                    "waiting": len(r.waiters),
                }
                for name, r in sched.runners.items()
            }
            body = {"models": models, "waiting": sched.waiting, "max_queue": sched.max_queue}
        self._json(200, body)

    def _ps(self) -> None:
        self._json(200, {"models": self.app.scheduler.ps()})

    def _show(self) -> None:
        body = self._body()
        sched = self.app.scheduler
        runner = sched.lookup(body.get("model") or body.get("name"))
        engine = sched.enter(runner)
        try:
            params = "\n".join(
                f"{key:<30} {json.dumps(v)}"
                for key, value in runner.spec.defaults.items()
                for v in (value if isinstance(value, list) else [value])
            )
            modelfile = (
                '# Modelfile generated by "ollama show"\n'
                f"# offline-ollama stand-in: {runner.spec.description}\n"
                f"FROM {runner.spec.path}\n"
                f'TEMPLATE """{engine.template_text}"""\n'
                + "".join(f"PARAMETER {line}\n" for line in params.splitlines())
            )
            self._json(
                200,
                {
                    "license": runner.spec.license,
                    "modelfile": modelfile,
                    "parameters": params,
                    "template": engine.template_text,
                    "details": runner.details(),
                    "model_info": engine.model_info,
                    "capabilities": ["completion"],
                    "modified_at": now_iso(runner.modified_at),
                },
            )
        finally:
            sched.leave(runner, runner.default_keep_alive)

    def _pull(self) -> None:
        body = self._body()
        name = body.get("model") or body.get("name")
        try:
            self.app.scheduler.lookup(name)
        except HTTPError as exc:
            if exc.status != 404:
                raise
            raise HTTPError(
                500, f"offline host cannot pull {name!r}: it serves only the configured models"
            ) from None
        if body.get("stream", True):
            self._start_stream()
            self._chunk({"status": "success"})
            self._end_stream()
        else:
            self._json(200, {"status": "success"})

    # -- inference -----------------------------------------------------------------------------

    def _chat(self) -> None:
        body = self._body()
        runner = self.app.scheduler.lookup(body.get("model"))
        messages = body.get("messages") or []
        if not isinstance(messages, list) or not all(
            isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages
        ):
            raise HTTPError(400, "messages must be a list of objects with a role")
        if body.get("tools"):
            raise HTTPError(400, f"{runner.spec.name} does not support tools")
        if any(m.get("images") for m in messages):
            raise HTTPError(400, f"{runner.spec.name} does not support images")
        self._infer(body, runner, "chat", messages=messages)

    def _generate(self) -> None:
        body = self._body()
        runner = self.app.scheduler.lookup(body.get("model"))
        raw = bool(body.get("raw"))
        if raw and (body.get("template") or body.get("system") or body.get("context")):
            raise HTTPError(400, "raw mode does not support template, system, or context")
        if body.get("suffix"):
            raise HTTPError(400, f"{runner.spec.name} does not support insert")
        if body.get("template"):
            raise HTTPError(400, "the offline host does not support custom templates")
        if body.get("images"):
            raise HTTPError(400, f"{runner.spec.name} does not support images")
        self._infer(body, runner, "generate", messages=None)

    def _infer(
        self, body: dict[str, Any], runner: Runner, kind: str, messages: list[Any] | None
    ) -> None:
        started = time.perf_counter_ns()
        name = str(body.get("model"))
        stream = body.get("stream", True) is not False
        if body.get("think"):
            raise HTTPError(400, f'"{name}" does not support thinking')
        if body.get("format"):
            raise HTTPError(400, "the offline host does not implement structured output (format)")
        options = body.get("options") or {}
        if not isinstance(options, dict):
            raise HTTPError(400, "options must be an object")
        keep_alive = parse_keep_alive(body.get("keep_alive"), runner.default_keep_alive)
        sched = self.app.scheduler
        prompt_text = body.get("prompt") or ""
        empty = not messages if kind == "chat" else not prompt_text

        engine = sched.enter(runner)
        slot: int | None = None
        gone = ClientWatch(self.connection)
        slot_started = 0.0
        try:
            try:
                opts = Options.build(
                    {"num_ctx": self.app.default_num_ctx}, runner.spec.defaults, options
                )
            except ValueError as exc:
                raise HTTPError(400, str(exc)) from None
            if empty:  # Ollama: load (or, with keep_alive 0, unload) the model and say so
                reason = "unload" if keep_alive == 0 else "load"
                done = self._base(name, kind, "", True)
                done["done_reason"] = reason
                self._json(200, done)
                return
            if kind == "chat":
                assert messages is not None
                try:
                    tokens = engine.tokenize(engine.render_chat(messages))
                except ValueError as exc:
                    raise HTTPError(400, str(exc)) from None
            elif body.get("raw"):
                tokens = engine.tokenize(str(prompt_text))
            else:
                msgs = [{"role": "user", "content": str(prompt_text)}]
                if body.get("system"):
                    msgs.insert(0, {"role": "system", "content": str(body["system"])})
                rendered = engine.render_chat(msgs)
                context = [int(t) for t in body.get("context") or []]
                tokens = context + engine.tokenize(rendered, bos=not context)
            try:
                engine.check_fits(len(tokens), opts)
            except PromptTooLong as exc:
                raise HTTPError(400, str(exc)) from None
            slot = sched.acquire(runner, gone)
            slot_started = time.perf_counter()
            engine.prepare(slot, opts)
            runner.num_ctx_seen = engine.window(opts)
            load_ns = time.perf_counter_ns() - started
            stats = self._stats = Stats()
            cancel = threading.Event()

            delay = self.app.token_delay

            def cancelled() -> bool:  # asked before every token
                if delay:
                    time.sleep(delay)  # a slow host on purpose (--token-delay)
                return cancel.is_set() or sched.aborting or gone()

            pieces = engine.generate(slot, tokens, opts, stats, cancelled)
            if stream:
                self._stream(name, kind, pieces, cancel, gone, stats, started, load_ns, tokens)
            else:
                try:
                    text = "".join(pieces)
                except InterruptedError:
                    if gone.gone:
                        raise ClientGone("client gone while generating") from None
                    raise HTTPError(503, SHUTTING_DOWN_MESSAGE) from None
                self._json(200, self._final(name, kind, text, stats, started, load_ns, tokens))
        finally:
            if slot is not None:
                sched.release(runner, slot)
                self._slot_seconds = time.perf_counter() - slot_started
            sched.leave(runner, keep_alive)

    def _stream(
        self,
        name: str,
        kind: str,
        pieces: Iterator[str],
        cancel: threading.Event,
        gone: ClientWatch,
        stats: Stats,
        started: int,
        load_ns: int,
        tokens: list[int],
    ) -> None:
        # As Ollama (gin's c.Stream): the 200 header goes out with the first token, so a client
        # waits for its headers while the prompt is evaluated, and an error before any token
        # is still a plain HTTP error.
        try:
            try:
                for piece in pieces:
                    if not self._started_stream:
                        self._start_stream()
                    self._chunk(self._base(name, kind, piece, False))
            except InterruptedError:
                if gone.gone:
                    raise ClientGone("client gone while generating") from None
                if not self._started_stream:
                    raise HTTPError(503, SHUTTING_DOWN_MESSAGE) from None
                self._chunk({"error": SHUTTING_DOWN_MESSAGE})
            except (BrokenPipeError, ConnectionResetError):
                raise
            except Exception as exc:  # after the 200 header, errors travel in the stream
                if not self._started_stream:
                    raise
                self._chunk({"error": str(exc)})
            else:
                if not self._started_stream:
                    self._start_stream()
                self._chunk(self._final(name, kind, "", stats, started, load_ns, tokens))
            self._end_stream()
        except (BrokenPipeError, ConnectionResetError):
            cancel.set()  # the client went away: stop generating, free the slot
            raise
        finally:
            close = getattr(pieces, "close", None)
            if close is not None:
                close()

    @staticmethod
    def _base(name: str, kind: str, text: str, done: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"model": name, "created_at": now_iso()}
        if kind == "chat":
            out["message"] = {"role": "assistant", "content": text}
        else:
            out["response"] = text
        out["done"] = done
        return out

    def _final(
        self,
        name: str,
        kind: str,
        text: str,
        stats: Stats,
        started: int,
        load_ns: int,
        tokens: list[int],
    ) -> dict[str, Any]:
        out = self._base(name, kind, text, True)
        out.update(
            {
                "done_reason": stats.done_reason,
                "total_duration": time.perf_counter_ns() - started,
                "load_duration": load_ns,
                "prompt_eval_count": stats.prompt_eval_count,
                "prompt_eval_duration": stats.prompt_eval_duration,
                "eval_count": stats.eval_count,
                "eval_duration": stats.eval_duration,
            }
        )
        if kind == "generate":
            out["context"] = tokens + stats.output_tokens
        return out
