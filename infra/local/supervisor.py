"""The stack's parts as supervised children: prefixed console, restart on crash, ordered stop.

A :class:`Part` is a command, its environment and a readiness check. The supervisor starts
parts in the order given and stops them in the reverse order. A part that dies while the stack
runs is restarted as a platform restarts a crashed task: after a backoff (1, 2, 4, ... s), on
the same port and with the same environment, the rest kept running; only a part that keeps
crashing (``max_crashes`` within ``crash_window`` seconds) makes the whole stack stop.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO

from infra.local.metrics import EmfCollector, split_emf
from infra.local.processes import (
    Child,
    StartupError,
    is_listening,
    kill_group,
    spawn,
    wait_until,
)

# moto's werkzeug access lines for answered requests ("POST / HTTP/1.1" 200 -).
_ROUTINE_MOTO_LINE = re.compile(r'HTTP/1\.1" [23]\d\d -$')
_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # moto's werkzeug colours its lines even into a pipe


class Console:
    """Prefixed, line-atomic output of every part; EMF lines go to the metrics instead."""

    def __init__(self, metrics: EmfCollector, out: IO[str] = sys.stdout) -> None:
        self._metrics = metrics
        self._out = out
        self._lock = threading.Lock()

    def say(self, message: str, part: str = "stack") -> None:
        with self._lock:
            for line in message.splitlines() or [""]:
                self._out.write(f"{part:<7} | {line}\n")
            self._out.flush()

    def raw(self, text: str) -> None:
        with self._lock:
            self._out.write(text if text.endswith("\n") else text + "\n")
            self._out.flush()

    def reader(self, part: str, parse_emf: bool) -> Callable[[bytes], None]:
        """What to do with each output line of ``part``."""

        def on_line(raw: bytes) -> None:
            line = _ANSI.sub("", raw.decode("utf-8", errors="replace").rstrip("\r\n"))
            if part == "moto" and _ROUTINE_MOTO_LINE.search(line):
                return  # every poll and put would flood the console; kept in the log
            if parse_emf:
                blobs, line = split_emf(line)
                for blob in blobs:
                    self._metrics.add(blob)
                if blobs and not line:
                    return
            self.say(line, part)

        return on_line


@dataclass
class Part:
    """One process of the stack: how to run it and how to know it is ready."""

    name: str
    command: Sequence[str]
    env: Mapping[str, str]
    ready: Callable[[], object] = lambda: True
    ready_timeout: float = 60.0
    stop_grace: float = 10.0  # seconds between SIGTERM and SIGKILL
    port: int | None = None
    parse_emf: bool = False  # the part prints EMF lines (a function)
    # After a restart, before the part counts as back (e.g. re-create what moto forgot).
    after_restart: Callable[[], None] | None = None
    # Before a stop (not a crash), while the part still answers (e.g. save what moto holds).
    before_stop: Callable[[], object] | None = None


@dataclass
class _Running:
    part: Part
    child: Child
    crashes: list[float] = field(default_factory=list)  # monotonic times within the window
    restart_at: float | None = None  # a restart is pending from then on


class GaveUp(RuntimeError):
    """A part kept crashing."""


class Supervisor:
    def __init__(
        self,
        state_dir: Path,
        console: Console,
        *,
        max_crashes: int = 5,
        crash_window: float = 300.0,
        backoff_base: float = 1.0,
        backoff_cap: float = 30.0,
        on_restart: Callable[[], None] | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.console = console
        self.max_crashes = max_crashes
        self.crash_window = crash_window
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.on_restart = on_restart  # e.g. rewrite stack.json with the new process ids
        self.stopping = threading.Event()
        self._killing = False
        self._parts: list[_Running] = []
        self._periodic: list[tuple[float, Callable[[], object]]] = []

    def every(self, seconds: float, task: Callable[[], object]) -> None:
        """Run ``task`` every ``seconds`` while watching (on the watching thread)."""
        self._periodic.append((seconds, task))

    # -- starting ------------------------------------------------------------------------------

    def start(self, part: Part, wait: bool = True) -> Child:
        """Start ``part`` (its log file started afresh) and, with ``wait``, wait until ready."""
        child = self._spawn(part, append=False)
        self._parts.append(_Running(part, child))
        if wait:
            self.wait_ready(part.name)
        return child

    def _spawn(self, part: Part, append: bool) -> Child:
        return spawn(
            part.name,
            part.command,
            part.env,
            self.state_dir / f"{part.name}.log",
            port=part.port,
            on_line=self.console.reader(part.name, part.parse_emf),
            append=append,
        )

    def wait_ready(self, name: str) -> None:
        """Until the part's readiness check holds; StartupError if any part exits, on a stop
        signal, or at its ``ready_timeout``."""
        running = self._running(name)
        self._wait(f"{name} ready", running.part.ready, running.part.ready_timeout)

    def _wait(
        self,
        what: str,
        ready: Callable[[], object],
        timeout: float,
        watched: list[_Running] | None = None,
    ) -> None:
        """Until ``ready`` holds; StartupError on a stop signal, at ``timeout``, or when one of
        the ``watched`` parts (default: all) exits."""

        def probe() -> object:
            if self.stopping.is_set():
                raise StartupError(f"stopped while waiting for {what}")
            for running in self._parts if watched is None else watched:
                if not running.child.alive():
                    code = running.child.proc.returncode
                    raise StartupError(f"{running.part.name} exited ({code}) before {what}")
            return ready()

        try:
            wait_until(what, probe, timeout, interval=0.2)
        except TimeoutError as exc:
            raise StartupError(str(exc)) from None

    def children(self) -> dict[str, Child]:
        return {r.part.name: r.child for r in self._parts}

    def _running(self, name: str) -> _Running:
        return next(r for r in self._parts if r.part.name == name)

    # -- running -------------------------------------------------------------------------------

    def watch(self, interval: float = 0.5) -> None:
        """Restart crashed parts until a stop signal; GaveUp when one keeps crashing.

        Runs on the thread that started the parts: Linux's parent-death signal follows the
        thread that forked a child, so restarts must come from the same long-lived thread."""
        due = [time.monotonic() + seconds for seconds, _ in self._periodic]
        while not self.stopping.wait(interval):
            now = time.monotonic()
            for i, (seconds, task) in enumerate(self._periodic):
                if now >= due[i]:
                    task()
                    due[i] = time.monotonic() + seconds
            for running in self._parts:
                if running.restart_at is None and not running.child.alive():
                    self._crashed(running, now)
                if running.restart_at is not None and now >= running.restart_at:
                    self._restart(running)
                    if self.stopping.is_set():
                        return

    def _crashed(self, running: _Running, now: float) -> None:
        name, code = running.part.name, running.child.proc.returncode
        kill_group(running.child.pid)  # what it forked goes with it
        running.crashes = [t for t in running.crashes if now - t < self.crash_window] + [now]
        n = len(running.crashes)
        if n > self.max_crashes:
            raise GaveUp(
                f"{name} crashed {n} times within {self.crash_window:.0f}s (last exit code "
                f"{code}); giving up - see {running.child.log_path}"
            )
        delay = min(self.backoff_cap, self.backoff_base * 2.0 ** (n - 1))
        self.console.say(
            f"{name} exited unexpectedly (code {code}); restarting it in {delay:g}s "
            f"(crash {n} of at most {self.max_crashes} within {self.crash_window:.0f}s); "
            "the other parts keep running"
        )
        running.restart_at = now + delay

    def _restart(self, running: _Running) -> None:
        part = running.part
        running.restart_at = None
        running.child = self._spawn(part, append=True)
        try:
            # Only this part: another one that crashed meanwhile gets its own restart.
            self._wait(f"{part.name} ready again", part.ready, part.ready_timeout, [running])
            if part.after_restart is not None:
                part.after_restart()
        except StartupError as exc:
            if self.stopping.is_set():
                return
            self.console.say(f"{part.name}: restart failed: {exc}")
            running.child.stop(0)  # counted as the next crash at the next look
            return
        except Exception as exc:  # after_restart could not talk to the part: a crash too
            self.console.say(f"{part.name}: restarted, but {type(exc).__name__}: {exc}")
            running.child.stop(0)
            return
        self.console.say(f"{part.name} is back (pid {running.child.pid})")
        if self.on_restart is not None:
            self.on_restart()

    # -- stopping ------------------------------------------------------------------------------

    def on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self.stopping.is_set():
            self._killing = True
            for running in self._parts:
                kill_group(running.child.pid)
            return
        self.stopping.set()

    def stop_all(self) -> bool:
        """Stop the parts in the reverse order of their start, each SIGTERM -> its grace ->
        SIGKILL. True if every part exited in time and no port of ours is still listening."""
        clean = True
        for running in reversed(self._parts):
            part, child = running.part, running.child
            if child.alive():
                if part.before_stop is not None and not self._killing:
                    part.before_stop()
                self.console.say(f"stopping {part.name} (pid {child.pid})")
            grace = 0 if self._killing else part.stop_grace
            if not child.stop(grace):
                self.console.say(f"{part.name} did not stop in {grace:.0f}s: killed")
                clean = False
            if part.port is not None and is_listening(part.port):
                self.console.say(f"{part.name}: port {part.port} is still listening")
                clean = False
        return clean
