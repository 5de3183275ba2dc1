"""Child processes on loopback for the benchmarks and the fuzz and fault tests: a moto server,
the ingest API (uvicorn serving the real `ingest_handler.app`, its environment built as
`infra.stack` builds it) and the whole embedded stack (`python -m infra.stack`), each in its
own process so none competes with the measuring process for its GIL.

Every wait is a poll with a deadline; every process is stopped by its own handle.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from infra.bootstrap import LocalResources, create_resources
from infra.stack import LOOPBACK, REGION, aws_environment, free_port, local_function_env
from infra.template import load_template

REPO_ROOT = Path(__file__).resolve().parents[1]
INGEST_FUNCTION = "IngestFunction"
SUMMARIZE_FUNCTION = "SummarizeFunction"
# The stack's dummy AWS settings, without an endpoint (each harness picks its own).
DUMMY_AWS_ENV = {k: v for k, v in aws_environment("").items() if k != "AWS_ENDPOINT_URL"}


def wait_until(
    predicate: Callable[[], bool], timeout: float, interval: float = 0.05, what: str = "condition"
) -> None:
    """Poll `predicate` until it holds; TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} not reached within {timeout:.0f}s")
        time.sleep(interval)


def http_status(url: str, headers: Mapping[str, str] | None = None, timeout: float = 2.0) -> int:
    """The status `GET url` answers with; 0 when nothing answers."""
    request = urllib.request.Request(url, headers=dict(headers or {}))  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return 0


class _StopOnExit:
    """`with` support: `stop()` on the way out, whatever happened."""

    def stop(self) -> int:
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


def terminate(proc: subprocess.Popen[bytes], grace: float) -> int:
    """SIGTERM, then SIGKILL if it has not exited after `grace` seconds; the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    return int(proc.returncode)


@dataclass
class Child(_StopOnExit):
    """A child process with its log file. `stop()` sends SIGTERM, then SIGKILL after a grace."""

    name: str
    proc: subprocess.Popen[bytes]
    url: str
    log_path: Path
    extra: dict[str, str] = field(default_factory=dict)

    def log(self, tail: int = 4000) -> str:
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-tail:]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, grace: float = 10.0) -> int:
        return terminate(self.proc, grace)

    def kill(self) -> None:
        """SIGKILL: the crash case (no cleanup in the child)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def start_child(
    name: str,
    cmd: list[str],
    url: str,
    ready: Callable[[], bool],
    env: Mapping[str, str] | None = None,
    log_dir: Path | None = None,
    ready_timeout: float = 60.0,
    unset: tuple[str, ...] = (),
    inherit: bool = True,
) -> Child:
    """Start `cmd` (environment: ours if `inherit`, + `env` - `unset`), wait until `ready()`
    holds; the child's output goes to a log file."""
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix=f"docsum-{name}-"))
    log_path = log_dir / f"{name}.log"
    base = dict(os.environ) if inherit else {}
    child_env = {k: v for k, v in {**base, **(env or {})}.items() if k not in unset}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=child_env, cwd=REPO_ROOT
        )
    child = Child(name, proc, url, log_path)
    try:
        wait_until(
            lambda: not child.alive() or ready(), ready_timeout, what=f"{name} answering at {url}"
        )
    except TimeoutError:
        child.stop()
        raise
    if not child.alive():
        raise RuntimeError(f"{name} exited with {proc.returncode}:\n{child.log()}")
    return child


def start_moto(
    log_dir: Path | None = None, port: int = 0, env: Mapping[str, str] | None = None
) -> Child:
    """`python -m moto.server` on a free loopback port (`env`: moto settings)."""
    port = port or free_port()
    url = f"http://{LOOPBACK}:{port}"
    return start_child(
        "moto",
        [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(port)],
        url,
        lambda: http_status(url + "/moto-api/") == 200,
        env={**DUMMY_AWS_ENV, **(env or {})},
        log_dir=log_dir,
    )


def function_env(
    function_id: str,
    endpoint: str,
    resources: LocalResources,
    token: str,
    ollama_host: str,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """A function's environment as the local stack builds it (template.yaml's values, then our
    environment, then the stack's choices: resources, endpoint, LLM host, token, no stage
    prefix), with PYTHONPATH set to the function's import paths (code dir, then layers)."""
    template = load_template()
    inherited = {k: v for k, v in os.environ.items() if k not in _STACK_CHOICES}
    env = local_function_env(
        template,
        function_id,
        resources=resources,
        endpoint_url=endpoint,
        ollama_host=ollama_host,
        token=token,
        inherited=inherited,
        # The harnesses measure and fuzz the pipeline, not the per-client rate limit (its own
        # tests run it on the local stack), so it is off unless a caller asks for it.
        extra={"POWERTOOLS_TRACE_DISABLED": "true", "RATE_LIMIT_REQUESTS": "0", **(extra or {})},
    )
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in template.function(function_id).import_paths)
    return env


def maximum_concurrency() -> int:
    """The summarize function's SQS MaximumConcurrency (template.yaml), as the poller runs it."""
    return load_template().sqs_event(SUMMARIZE_FUNCTION).maximum_concurrency or 1


def start_api(environment: Mapping[str, str], log_dir: Path | None = None, port: int = 0) -> Child:
    """uvicorn serving the real `ingest_handler.app`, started as the local stack starts it
    (`environment` from `function_env`: set before the module is imported, as in Lambda)."""
    port = port or free_port()
    url = f"http://{LOOPBACK}:{port}"
    module = load_template().function(INGEST_FUNCTION).handler_module
    cmd = [sys.executable, "-m", "uvicorn", f"{module}:app"]
    cmd += ["--host", LOOPBACK, "--port", str(port), "--no-access-log"]
    child = start_child(
        "api",
        cmd,
        url,
        lambda: http_status(url + "/health") == 200,
        env=environment,
        log_dir=log_dir,
        inherit=False,  # `environment` is complete (function_env includes ours)
    )
    child.extra["token"] = environment.get("API_TOKEN", "")
    return child


@contextmanager
def api_over_moto(
    log_dir: Path,
    token: str,
    *,
    visibility_timeout: int,
    moto_env: Mapping[str, str] | None = None,
    extra: Mapping[str, str] | None = None,
) -> Iterator[tuple[Child, LocalResources, Child]]:
    """A moto server with the template's resources and the ingest API over it, no consumer
    and no LLM host (its OLLAMA_HOST is a loopback port nothing listens on): (moto, resources,
    API)."""
    with start_moto(log_dir, env=moto_env) as moto:
        resources = create_resources(
            endpoint_url=moto.url, region=REGION, visibility_timeout=visibility_timeout
        )
        nowhere = f"http://{LOOPBACK}:{free_port()}"
        environment = function_env(INGEST_FUNCTION, moto.url, resources, token, nowhere, extra)
        with start_api(environment, log_dir) as api:
            yield moto, resources, api


@dataclass
class Stack(_StopOnExit):
    """A running `python -m infra.stack` and its stack.json (URLs, token, resources, logs)."""

    child: Child
    state_dir: Path
    info: dict[str, Any]

    @property
    def api_url(self) -> str:
        return str(self.info["api_url"])

    @property
    def token(self) -> str:
        return str(self.info.get("api_token") or "")

    def log_of(self, part: str) -> Path:
        return Path(self.info["processes"][part]["log"])

    def stop(self, grace: float = 90.0) -> int:
        """SIGTERM: the stack stops its parts in order (the poller's long poll can take 20 s to
        end), or is killed after `grace` seconds."""
        return terminate(self.child.proc, grace)


def start_stack(
    state_dir: Path,
    env: Mapping[str, str],
    args: list[str] | None = None,
    ready_timeout: float = 300.0,
) -> Stack:
    """`python -m infra.stack --port 0 --metrics-port 0 --state-dir DIR ARGS`; returns once it
    has written stack.json. AWS_ENDPOINT_URL, OLLAMA_HOST, OLLAMA_MODEL, API_TOKEN come only
    from `env` (not from our own environment)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    info_path = state_dir / "stack.json"
    cmd = [sys.executable, "-m", "infra.stack", "--port", "0", "--metrics-port", "0"]
    cmd += ["--state-dir", str(state_dir), *(args or [])]
    found: dict[str, Any] = {}

    def ready() -> bool:
        if not info_path.exists():
            return False
        try:
            found.update(json.loads(info_path.read_text()))
        except ValueError:  # written atomically, but be safe
            return False
        return True

    child = start_child(
        "stack",
        cmd,
        "",
        ready,
        env=env,
        log_dir=state_dir,
        ready_timeout=ready_timeout,
        unset=tuple(k for k in _STACK_CHOICES if k not in env),
    )
    child.url = str(found["api_url"])
    return Stack(child, state_dir, found)


_STACK_CHOICES = ("AWS_ENDPOINT_URL", "OLLAMA_HOST", "OLLAMA_MODEL", "API_TOKEN", "PORT")
