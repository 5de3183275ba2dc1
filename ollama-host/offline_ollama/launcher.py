"""Start the offline host in a child process (for tests and the local stack)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType


def _parent_death_signal() -> None:
    """In the child, before exec: ask Linux for SIGTERM when the parent goes away."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class OfflineOllama:
    """A running ``python -m offline_ollama`` child process. Use as a context manager."""

    def __init__(self, proc: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
        self.proc = proc
        self.url = url
        self.log_path = log_path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, wait for the graceful exit; SIGKILL if it does not come. Returns the code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return int(self.proc.returncode)

    def __enter__(self) -> OfflineOllama:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_in_subprocess(
    host: str = "127.0.0.1",
    port: int = 0,
    model: str | list[str] = "smollm2:135m",
    slots: int = 1,
    max_queue: int = 16,
    extra_args: list[str] | None = None,
    log_path: Path | None = None,
    ready_timeout: float = 120.0,
    die_with_parent: bool = True,
) -> OfflineOllama:
    """Start the host on ``host:port`` (0 = a free port), wait until ``GET /`` answers.

    With ``die_with_parent`` (Linux) the child gets SIGTERM when the thread that started it
    exits, so a crashed test run leaves no server behind.
    """
    port = port or free_port(host)
    models = [model] if isinstance(model, str) else list(model)
    cmd = [sys.executable, "-m", "offline_ollama", "--host", host, "--port", str(port)]
    for m in models:
        cmd += ["--model", m]
    cmd += ["--slots", str(slots), "--max-queue", str(max_queue), *(extra_args or [])]
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    if log_path is None:
        log_path = Path(tempfile.gettempdir()) / f"offline-ollama-{port}.log"
    preexec = _parent_death_signal if die_with_parent and sys.platform == "linux" else None
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=env, preexec_fn=preexec
        )
    url = f"http://{host}:{port}"
    handle = OfflineOllama(proc, url, log_path)
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"offline-ollama exited with {proc.returncode}:\n{handle.log()}")
        try:
            with urllib.request.urlopen(url + "/", timeout=2) as resp:  # noqa: S310
                if resp.status == 200:
                    return handle
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    handle.stop()
    raise TimeoutError(f"offline-ollama did not answer within {ready_timeout}s:\n{handle.log()}")
