"""Scheduling: which model, which slot, who waits, who gets a 503, when a model unloads.

Mirrors Ollama's scheduler in miniature: ``slots`` parallel generations per model (like
``OLLAMA_NUM_PARALLEL``), at most ``max_queue`` requests waiting in FIFO order (like
``OLLAMA_MAX_QUEUE``; beyond it the same 503 message as Ollama), and a keep-alive after which
an idle model is unloaded (``keep_alive`` per request, negative = forever).
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from .engine import Engine
from .models import ModelSpec, normalize_name

MAX_QUEUE_MESSAGE = "server busy, please try again.  maximum pending requests exceeded"
SHUTTING_DOWN_MESSAGE = "server shutting down"
FOREVER = float("inf")


class HTTPError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ClientGone(Exception):
    """The client closed its connection: its request is dropped (logged as 499, like Ollama's
    cancelled request context). The message says where it was: queued or generating."""


def now_iso(ts: float | None = None) -> str:
    """Go's RFC 3339 (nano) UTC timestamp, as Ollama's ``created_at``."""
    moment = datetime.fromtimestamp(time.time() if ts is None else ts, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_DURATION = re.compile(r"(-?\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_keep_alive(value: object, default: float) -> float:
    """Seconds to keep a model loaded: a number of seconds or a Go duration ("5m", "1h30m").
    Negative means forever."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise HTTPError(400, f"invalid keep_alive {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = str(value).strip()
        try:
            seconds = float(text)
        except ValueError:
            parts = _DURATION.findall(text)
            if not parts or "".join(n + u for n, u in parts) != text.replace("+", ""):
                raise HTTPError(400, f"time: invalid duration {text!r}") from None
            seconds = sum(float(n) * _UNIT[u] for n, u in parts)
            if text.startswith("-"):
                seconds = -abs(seconds)
    return FOREVER if seconds < 0 else seconds


def human_params(n: int) -> str:
    """Ollama's parameter_size formatting (999885952 -> "999.89M")."""
    if n >= 1_000_000_000:
        return f"{n / 1e9:.1f}B"
    if n >= 1_000_000:
        return f"{n / 1e6:.2f}M"
    return f"{n / 1e3:.2f}K"


class Runner:
    """One served model: its engine (loaded on demand), slots, waiters and keep-alive."""

    def __init__(self, spec: ModelSpec, slots: int, n_threads: int, keep_alive: float) -> None:
        self.spec = spec
        self.slots = slots
        self.n_threads = n_threads
        self.default_keep_alive = keep_alive
        self.engine: Engine | None = None
        self.free = list(range(slots - 1, -1, -1))
        self.waiters: deque[object] = deque()
        self.refs = 0  # requests that currently use the engine
        self.load_lock = threading.Lock()
        self.expires_at = FOREVER
        self.num_ctx_seen = 0
        self.file_size = spec.path.stat().st_size
        self.modified_at = spec.path.stat().st_mtime
        # Opaque, stable id (Ollama's is the manifest digest); hashing 250 MB would slow startup.
        ident = f"{spec.name}|{spec.path}|{self.file_size}|{self.modified_at}"
        self.digest = hashlib.sha256(ident.encode()).hexdigest()

    def details(self) -> dict[str, Any]:
        engine = self.engine
        family = engine.architecture if engine else ""
        return {
            "parent_model": "",
            "format": "gguf",
            "family": family,
            "families": [family] if family else None,
            "parameter_size": human_params(engine.n_params) if engine else "",
            "quantization_level": engine.file_type if engine else "",
        }


class Scheduler:
    def __init__(self, runners: Mapping[str, Runner], max_queue: int) -> None:
        self.runners = dict(runners)
        self.max_queue = max_queue
        self.cond = threading.Condition()
        self.waiting = 0
        self.inflight = 0  # requests holding a runner reference
        self.closing = False
        self.aborting = False

    def lookup(self, name: object) -> Runner:
        if not isinstance(name, str) or not name.strip():
            raise HTTPError(400, "model is required")
        runner = self.runners.get(name) or self.runners.get(normalize_name(name))
        if runner is None:
            raise HTTPError(404, f"model '{name}' not found")
        return runner

    def enter(self, runner: Runner) -> Engine:
        """Take a reference on ``runner`` and make sure its model is loaded."""
        with self.cond:
            if self.closing:
                raise HTTPError(503, SHUTTING_DOWN_MESSAGE)
            runner.refs += 1
            self.inflight += 1
        try:
            with runner.load_lock:  # the reaper never unloads while refs > 0
                if runner.engine is None:
                    runner.engine = Engine(runner.spec, runner.slots, runner.n_threads)
                return runner.engine
        except BaseException:
            with self.cond:
                runner.refs -= 1
                self.inflight -= 1
                self.cond.notify_all()
            raise

    def leave(self, runner: Runner, keep_alive: float) -> None:
        with self.cond:
            runner.refs -= 1
            self.inflight -= 1
            runner.expires_at = time.time() + keep_alive
            self.cond.notify_all()
        self.reap()

    def acquire(self, runner: Runner, gone: Callable[[], bool] = lambda: False) -> int:
        """A free slot of ``runner``, first come first served; 503 beyond ``max_queue``.
        ``gone`` is asked while waiting and once more before the slot is taken: a request whose
        client has left never starts (``ClientGone``) and leaves the queue at once."""
        with self.cond:
            if runner.free and not runner.waiters:
                if gone():
                    raise ClientGone("client gone before its generation started")
                return runner.free.pop()
            if self.waiting >= self.max_queue:
                raise HTTPError(503, MAX_QUEUE_MESSAGE)
            ticket = object()
            runner.waiters.append(ticket)
            self.waiting += 1
            try:
                while True:
                    if self.closing:
                        raise HTTPError(503, SHUTTING_DOWN_MESSAGE)
                    if gone():
                        raise ClientGone("client gone while queued")
                    if runner.free and runner.waiters[0] is ticket:
                        return runner.free.pop()
                    self.cond.wait(0.25)
            finally:
                runner.waiters.remove(ticket)
                self.waiting -= 1
                self.cond.notify_all()

    def release(self, runner: Runner, slot: int) -> None:
        with self.cond:
            runner.free.append(slot)
            self.cond.notify_all()

    def reap(self) -> None:
        """Unload models whose keep-alive has expired and that nobody is using."""
        with self.cond:
            for runner in self.runners.values():
                if runner.engine and runner.refs == 0 and time.time() >= runner.expires_at:
                    runner.engine.close()
                    runner.engine = None

    def ps(self) -> list[dict[str, Any]]:
        out = []
        with self.cond:
            for runner in self.runners.values():
                if runner.engine is None:
                    continue
                expires = runner.expires_at
                # Ollama shows "forever" as a date ~290 years ahead.
                ts = time.time() + 290 * 365 * 86400 if expires == FOREVER else expires
                out.append(
                    {
                        "name": runner.spec.name,
                        "model": runner.spec.name,
                        "size": runner.file_size,
                        "digest": runner.digest,
                        "details": runner.details(),
                        "expires_at": now_iso(ts),
                        "size_vram": 0,
                        "context_length": runner.num_ctx_seen or 4096,
                    }
                )
        return out
