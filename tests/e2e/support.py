"""Running ``python -m infra.stack`` (and its external dependencies) from tests."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx

from infra.stack import is_listening

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 300.0  # the LLM host loads a model; other engineers share the two cores
# The poller's long poll (20 s) must end before it stops, then in-flight invocations finish.
STOP_TIMEOUT = 120.0
DOC_TIMEOUT = 240.0  # one small-model summary, on a busy machine
LLM_CALL_LINE = re.compile(r"\|\s*POST /api/chat$", re.MULTILINE)
# Small answers keep each summary to seconds on two cores (a real setting: LLM_NUM_PREDICT).
FAST_LLM = {"LLM_NUM_PREDICT": "96"}
# Failed attempts come back after 1, 2, 4, 8 s instead of 10, 20, 40, 80 s.
FAST_RETRIES = ["--retry-base-seconds", "1"]


def wait_for[T](what: str, probe: Callable[[], T | None], timeout: float, every: float = 0.3) -> T:
    """Poll ``probe`` until it returns something other than None/False; fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def count_llm_calls(*logs: Path) -> int:
    """Chat requests an offline host has answered, from its request log (one line each)."""
    return sum(
        len(LLM_CALL_LINE.findall(log.read_text(errors="replace"))) for log in logs if log.exists()
    )


@dataclass
class RunningStack:
    proc: subprocess.Popen[bytes]
    state_dir: Path
    output: Path
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def api_url(self) -> str:
        return str(self.info["api_url"])

    def api(self) -> httpx.Client:
        token = self.info["api_token"]
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.api_url, headers=headers, timeout=30)

    def sqs(self) -> Any:
        return boto3.client(
            "sqs",
            endpoint_url=self.info["aws_endpoint_url"],
            region_name=self.info["region"],
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )

    def console(self) -> str:
        return self.output.read_text(errors="replace")

    def metric(self, name: str) -> float:
        """A sample's value on the stack's /metrics page (0 if it has not appeared yet)."""
        text = httpx.get(self.info["metrics_url"], timeout=10).text
        match = re.search(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", text, re.MULTILINE)
        return float(match.group(1)) if match else 0.0


def start_stack(
    state_dir: Path, env: Mapping[str, str | None], args: list[str] | None = None
) -> RunningStack:
    """Start the supervisor; return once it has written stack.json (the API answers)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    child_env = dict(os.environ)
    for key in ("AWS_ENDPOINT_URL", "OLLAMA_HOST", "OLLAMA_MODEL", "API_TOKEN", "PORT"):
        child_env.pop(key, None)  # only what a test passes decides these
    child_env.update({k: v for k, v in env.items() if v is not None})
    output = state_dir / "console.txt"
    cmd = [sys.executable, "-m", "infra.stack", "--port", "0", "--metrics-port", "0"]
    cmd += ["--state-dir", str(state_dir), *(args or [])]
    with output.open("wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=REPO_ROOT, env=child_env, stdout=out, stderr=subprocess.STDOUT
        )
    stack = RunningStack(proc, state_dir, output)

    def ready() -> dict[str, Any] | None:
        if proc.poll() is not None:
            raise AssertionError(f"stack exited with {proc.returncode}:\n{stack.console()}")
        path = state_dir / "stack.json"
        if not path.exists():
            return None
        info: dict[str, Any] = json.loads(path.read_text())
        return info if info["pid"] == proc.pid else None

    try:
        stack.info = wait_for("stack.json", ready, START_TIMEOUT)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return stack


def stop_stack(stack: RunningStack) -> None:
    """Ctrl-C, as a person would; then nothing of the stack may be running or listening."""
    processes = stack.info.get("processes", {})
    ports = [p["port"] for p in processes.values() if p["port"]]
    ports += [
        int(u.rsplit(":", 1)[1].split("/")[0]) for u in (stack.api_url, stack.info["metrics_url"])
    ]
    stack.proc.send_signal(signal.SIGINT)
    try:
        code = stack.proc.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        stack.proc.kill()
        stack.proc.wait()
        raise AssertionError(
            f"stack did not stop in {STOP_TIMEOUT:.0f}s:\n{stack.console()}"
        ) from None
    assert code == 0, f"stack exited with {code}:\n{stack.console()[-5000:]}"
    assert [p for p in ports if is_listening(p)] == []
    # Each part ran in its own process group (the poller's execution environments in its).
    assert [name for name, p in processes.items() if group_alive(p["pid"])] == []
    assert not (stack.state_dir / "stack.json").exists()
