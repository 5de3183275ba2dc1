"""Single parts of the pipeline, and the whole stack, as children of a bench or a test run: a
moto server, the ingest API (uvicorn serving the real ``docsum_api.handler.app`` with the
environment the stack gives it) and ``python -m infra.local`` itself. Each runs in its own
process, so none competes with the measuring or testing process for its GIL."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from infra.bootstrap import LocalResources, create_resources
from infra.local.environment import (
    DUMMY_AWS_ENV,
    INGEST_FUNCTION,
    REGION,
    SUMMARIZE_FUNCTION,
    aws_client,
    inherited_environment,
    local_function_env,
)
from infra.local.llm import STAND_IN
from infra.local.processes import (
    LOOPBACK,
    Child,
    StopOnExit,
    base_environment,
    free_port,
    http_status,
    spawn,
    start,
    wait_until_ready,
)
from infra.local.stack import ASGI_APP, STACK_MODULE
from infra.template import load_template

STACK_READY_TIMEOUT = 300.0  # the LLM host loads a model; the cores are shared
# The poller's long poll (20 s) must end before it stops, then in-flight invocations finish.
STACK_STOP_TIMEOUT = 120.0


def start_moto(log_dir: Path, port: int = 0, env: Mapping[str, str] | None = None) -> Child:
    """``python -m moto.server`` on a free loopback port (``env``: moto settings)."""
    port = port or free_port()
    url = f"http://{LOOPBACK}:{port}"
    return start(
        "moto",
        [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(port)],
        base_environment({**DUMMY_AWS_ENV, **(env or {})}),
        log_dir / "moto.log",
        lambda: http_status(url + "/moto-api/") == 200,
        port=port,
        url=url,
    )


def function_env(
    function_id: str,
    endpoint: str,
    resources: LocalResources,
    token: str,
    ollama_host: str,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """A function's environment as the stack builds it, tracing off (no daemon to send to)."""
    return local_function_env(
        load_template(),
        function_id,
        resources=resources,
        endpoint_url=endpoint,
        ollama_host=ollama_host,
        token=token,
        # The harnesses measure and fuzz the pipeline, not the per-client rate limit (its own
        # tests run it on the local stack), so it is off unless a caller asks for it.
        extra={"POWERTOOLS_TRACE_DISABLED": "true", "RATE_LIMIT_REQUESTS": "0", **(extra or {})},
    )


def maximum_concurrency() -> int:
    """The summarize function's SQS MaximumConcurrency (template.yaml), as the poller runs it."""
    return load_template().sqs_event(SUMMARIZE_FUNCTION).maximum_concurrency or 1


def start_api(environment: Mapping[str, str], log_dir: Path, port: int = 0) -> Child:
    """uvicorn serving the real ``docsum_api.handler.app``, as the stack starts it (``environment``
    from :func:`function_env`: complete, and set before the module is imported, as in Lambda)."""
    port = port or free_port()
    url = f"http://{LOOPBACK}:{port}"
    module = load_template().function(INGEST_FUNCTION).handler_module
    cmd = [sys.executable, "-m", "uvicorn", f"{module}:{ASGI_APP}"]
    cmd += ["--host", LOOPBACK, "--port", str(port), "--no-access-log"]
    return start(
        "api",
        cmd,
        environment,
        log_dir / "api.log",
        lambda: http_status(url + "/health") == 200,
        port=port,
        url=url,
    )


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
class Stack(StopOnExit):
    """A running ``python -m infra.local`` and its stack.json (URLs, token, resources, logs)."""

    child: Child
    state_dir: Path
    info: dict[str, Any]

    @property
    def api_url(self) -> str:
        return str(self.info["api_url"])

    @property
    def token(self) -> str:
        return str(self.info.get("api_token") or "")

    def refresh(self) -> dict[str, Any]:
        """stack.json as it is now (the stack rewrites it when it restarts a part)."""
        self.info = json.loads((self.state_dir / "stack.json").read_text())
        return self.info

    def log_of(self, part: str) -> Path:
        return Path(self.info["processes"][part]["log"])

    def console(self) -> str:
        return self.child.log_path.read_text(errors="replace")

    def api(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return httpx.Client(base_url=self.api_url, headers=headers, timeout=30)

    def sqs(self) -> Any:
        return aws_client("sqs", self.info["aws_endpoint_url"])

    def metric(self, name: str) -> float:
        """A sample's value on the stack's /metrics page (0 if it has not appeared yet)."""
        text = httpx.get(self.info["metrics_url"], timeout=10).text
        match = re.search(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", text, re.MULTILINE)
        return float(match.group(1)) if match else 0.0

    def stop(self, grace: float = STACK_STOP_TIMEOUT) -> int | None:
        """Ctrl-C, as a person would: the stack stops its parts in order. The exit code, or
        None if it was still running after ``grace`` seconds (then it is killed)."""
        proc = self.child.proc
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.child.kill()
                return None
        return int(proc.returncode)


def start_stack(
    state_dir: Path,
    env: Mapping[str, str],
    args: list[str] | None = None,
    ready_timeout: float = STACK_READY_TIMEOUT,
) -> Stack:
    """``python -m infra.local --port 0 --metrics-port 0 --state-dir DIR ARGS``; returns once
    it has written stack.json (the API answers). AWS_ENDPOINT_URL, OLLAMA_HOST, OLLAMA_MODEL,
    API_TOKEN come only from ``env``, never from our own environment."""
    state_dir.mkdir(parents=True, exist_ok=True)
    info_path = state_dir / "stack.json"
    cmd = [sys.executable, "-m", STACK_MODULE, "--port", "0", "--metrics-port", "0"]
    cmd += ["--state-dir", str(state_dir), *(args or [])]
    # Tests and benchmarks run the stand-in unless they ask otherwise: never a download.
    environment = {**inherited_environment(), "OFFLINE_OLLAMA_MODEL": STAND_IN, **env}
    child = spawn("stack", cmd, environment, state_dir / "console.log")

    def ready() -> dict[str, Any] | None:
        if not info_path.exists():
            return None
        info: dict[str, Any] = json.loads(info_path.read_text())  # written atomically
        return info if info.get("pid") == child.pid else None  # not a previous run's file

    try:
        wait_until_ready(child, ready, ready_timeout)
    except BaseException:
        child.kill()
        raise
    return Stack(child, state_dir, json.loads(info_path.read_text()))
