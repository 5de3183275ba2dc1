"""Child processes on loopback, written once for the stack, the bench and the tests.

* :func:`spawn` starts a command in its own process group (a terminal's Ctrl-C reaches only
  its owner, and helpers it forks can be killed with it) that dies with its parent
  (``PR_SET_PDEATHSIG``); its output goes to a log file, and, when asked, to a callback one
  line at a time (the stack's prefixed console);
* :meth:`Child.stop` sends SIGTERM, waits, then SIGKILLs the whole group;
* :func:`wait_until` is the one poll-with-a-deadline; :func:`free_port`, :func:`is_listening`
  and :func:`http_status` are the probes it is usually given.

``ollama-host/offline_ollama/launcher.py`` keeps its own minimal launcher: that package ships
alone, without this repository's ``infra``.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Self

LOOPBACK = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parents[2]


class StartupError(RuntimeError):
    """A part did not start: it exited, or was not ready in time."""


# ------------------------------------------------------------------------------------- probes


def free_port() -> int:
    """A loopback port nothing listens on now (the caller binds it soon after)."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def is_listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((LOOPBACK, port)) == 0


def http_get(url: str, timeout: float = 2.0) -> bytes | None:
    """Body of a 200 answer to ``GET url``, or None if nothing (healthy) answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - our URLs
            return bytes(response.read()) if response.status == 200 else None
    except (urllib.error.URLError, OSError, ValueError):
        return None


def http_status(url: str, headers: Mapping[str, str] | None = None, timeout: float = 2.0) -> int:
    """The status ``GET url`` answers with; 0 when nothing answers."""
    request = urllib.request.Request(url, headers=dict(headers or {}))  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError, ValueError):
        return 0


def wait_until[T](
    what: str, probe: Callable[[], T | None], timeout: float, interval: float = 0.1
) -> T:
    """Poll ``probe`` until it returns something other than None/False and return that;
    TimeoutError naming ``what`` at the deadline. A probe may raise to give up early."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None and value is not False:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"no {what} within {timeout:.0f}s")
        time.sleep(interval)


# ------------------------------------------------------------------------------ parent death


def _load_prctl() -> Callable[..., int] | None:
    if sys.platform != "linux":
        return None
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return prctl


# Resolved once at import, so calling it between fork and exec (subprocess's preexec_fn) loads
# nothing and takes no lock.
_PRCTL = _load_prctl()
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask Linux to SIGTERM this process when the thread that started it ends, so a killed
    owner leaves no orphans (no-op elsewhere). Start children from a long-lived thread."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGTERM))


# ------------------------------------------------------------------------------------ children


def kill_group(pid: int) -> None:
    """SIGKILL every process of the group ``pid`` leads (a child and the helpers it forked)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class StopOnExit:
    """``with`` support: ``stop()`` on the way out, whatever happened."""

    def stop(self) -> object:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@dataclass
class Child(StopOnExit):
    """A started command: its process (leader of its own group) and its log file."""

    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    port: int | None = None
    url: str = ""
    _reader: threading.Thread | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self, tail: int = 4000) -> str:
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-tail:]

    def stop(self, grace: float = 10.0) -> bool:
        """SIGTERM, up to ``grace`` seconds to exit, then SIGKILL for the whole group. True if
        it exited within the grace and its group is gone."""
        clean = True
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                clean = False
        # Helpers (the poller's execution environments, multiprocessing's resource tracker)
        # share the group and may outlive the leader by a moment.
        kill_group(self.proc.pid)
        self.proc.wait()
        with contextlib.suppress(TimeoutError):
            wait_until("group gone", lambda: not group_alive(self.proc.pid), 5, interval=0.05)
        if group_alive(self.proc.pid):
            clean = False
        if self._reader is not None:
            self._reader.join(5)
        return clean

    def kill(self) -> None:
        """SIGKILL the group: the crash case (no cleanup in the child)."""
        kill_group(self.proc.pid)
        self.proc.wait(10)
        if self._reader is not None:
            self._reader.join(5)


def spawn(
    name: str,
    cmd: Sequence[str],
    env: Mapping[str, str],
    log_path: Path,
    *,
    port: int | None = None,
    url: str = "",
    on_line: Callable[[bytes], None] | None = None,
    append: bool = False,
) -> Child:
    """Start ``cmd`` with exactly ``env``, output (stdout and stderr) into ``log_path``; with
    ``on_line`` every output line is also handed to it, as it comes."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log: IO[bytes] = log_path.open("ab" if append else "wb")
    proc = subprocess.Popen(
        list(cmd),
        env=dict(env),
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE if on_line else log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=die_with_parent,
    )
    child = Child(name, proc, log_path, port, url)
    if on_line is None:
        log.close()
        return child

    def pump() -> None:
        assert proc.stdout is not None
        with log:
            for raw in iter(proc.stdout.readline, b""):
                log.write(raw)
                log.flush()
                on_line(raw)

    child._reader = threading.Thread(target=pump, name=f"log-{name}", daemon=True)
    child._reader.start()
    return child


def start(
    name: str,
    cmd: Sequence[str],
    env: Mapping[str, str],
    log_path: Path,
    ready: Callable[[], object],
    *,
    ready_timeout: float = 60.0,
    port: int | None = None,
    url: str = "",
) -> Child:
    """:func:`spawn`, then wait until ``ready()`` holds; StartupError (the log's tail
    included) if the child exits or is not ready in time, and then it is stopped."""
    child = spawn(name, cmd, env, log_path, port=port, url=url)
    try:
        wait_until_ready(child, ready, ready_timeout)
    except BaseException:
        child.stop()
        raise
    return child


def wait_until_ready(child: Child, ready: Callable[[], object], timeout: float) -> None:
    def probe() -> object:
        if not child.alive():
            raise StartupError(f"{child.name} exited with {child.proc.returncode}:\n{child.log()}")
        return ready()

    try:
        wait_until(f"{child.name} ready", probe, timeout)
    except TimeoutError as exc:
        raise StartupError(f"{exc}:\n{child.log()}") from None


def base_environment(
    env: Mapping[str, str] | None = None, unset: Sequence[str] = ()
) -> dict[str, str]:
    """Our environment, updated with ``env``, without ``unset``: what a child usually gets."""
    merged = {**os.environ, **(env or {})}
    return {k: v for k, v in merged.items() if k not in unset}
